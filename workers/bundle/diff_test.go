package bundle

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func numbered(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.String()
}

func replaceLine(s string, no int, with string) string {
	lines := strings.SplitAfter(s, "\n")
	lines[no-1] = with + "\n"
	return strings.Join(lines, "")
}

func TestDiffStatuses(t *testing.T) {
	oldFiles := map[string]string{"same.js": "a\nb\n", "gone.js": "x\ny\n", "mod.js": "1\n2\n3\n"}
	newFiles := map[string]string{"same.js": "a\nb\n", "new.js": "p\n", "mod.js": "1\nTWO\n3\n"}
	got := Diff(oldFiles, newFiles)
	want := []struct {
		name, status string
		hunks        int
	}{
		{"gone.js", StatusRemoved, 1},
		{"mod.js", StatusModified, 1},
		{"new.js", StatusAdded, 1},
		{"same.js", StatusUnchanged, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d file diffs, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Status != w.status || len(got[i].Hunks) != w.hunks {
			t.Errorf("diff %d = %s %s with %d hunks, want %s %s with %d", i, got[i].Name, got[i].Status, len(got[i].Hunks), w.name, w.status, w.hunks)
		}
	}
}

func TestDiffIdentical(t *testing.T) {
	files := map[string]string{"index.js": numbered(50), "lib/x.ts": "export const x = 1"}
	for _, d := range Diff(files, files) {
		if d.Status != StatusUnchanged || len(d.Hunks) != 0 || d.Unified() != "" {
			t.Errorf("%s: status %s, %d hunks; want unchanged with none", d.Name, d.Status, len(d.Hunks))
		}
	}
	if got := Diff(nil, nil); len(got) != 0 {
		t.Errorf("Diff(nil, nil) = %v", got)
	}
}

func TestDiffHunks(t *testing.T) {
	base := numbered(30)
	tests := []struct {
		name      string
		old, new  string
		wantHunks []string // "@@ -a,b +c,d @@" headers
	}{
		{"one changed line in the middle", base, replaceLine(base, 15, "changed"), []string{"@@ -12,7 +12,7 @@"}},
		{"first line changed", base, replaceLine(base, 1, "changed"), []string{"@@ -1,4 +1,4 @@"}},
		{"last line changed", base, replaceLine(base, 30, "changed"), []string{"@@ -27,4 +27,4 @@"}},
		{"two distant changes", base, replaceLine(replaceLine(base, 5, "x"), 25, "y"), []string{"@@ -2,7 +2,7 @@", "@@ -22,7 +22,7 @@"}},
		// Six equal lines between changes: the contexts touch and merge.
		{"two close changes merge", base, replaceLine(replaceLine(base, 10, "x"), 17, "y"), []string{"@@ -7,14 +7,14 @@"}},
		// Seven equal lines between changes: two hunks.
		{"changes just far enough apart", base, replaceLine(replaceLine(base, 10, "x"), 18, "y"), []string{"@@ -7,7 +7,7 @@", "@@ -15,7 +15,7 @@"}},
		{"insert at top", base, "new\n" + base, []string{"@@ -1,3 +1,4 @@"}},
		{"append at end", base, base + "new\n", []string{"@@ -28,3 +28,4 @@"}},
		{"delete a line", base, strings.Replace(base, "line 20\n", "", 1), []string{"@@ -17,7 +17,6 @@"}},
		{"new file", "", "a\nb\n", []string{"@@ -0,0 +1,2 @@"}},
		{"emptied file", "a\nb\nc\n", "", []string{"@@ -1,3 +0,0 @@"}},
		{"final newline removed", "a\nb\n", "a\nb", []string{"@@ -1,2 +1,2 @@"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Diff(map[string]string{"f.js": tt.old}, map[string]string{"f.js": tt.new})[0]
			var got []string
			for _, h := range d.Hunks {
				got = append(got, fmt.Sprintf("@@ -%s +%s @@", hunkRange(h.OldStart, h.OldLines), hunkRange(h.NewStart, h.NewLines)))
			}
			if strings.Join(got, " ") != strings.Join(tt.wantHunks, " ") {
				t.Errorf("hunks %v, want %v\n%s", got, tt.wantHunks, d.Unified())
			}
			checkDiff(t, tt.old, tt.new, d)
		})
	}
}

func TestDiffLineNumbers(t *testing.T) {
	old := "a\nb\nc\nd\n"
	new := "a\nB\nc\nd\ne\n"
	d := Diff(map[string]string{"f.js": old}, map[string]string{"f.js": new})[0]
	want := []Line{
		{Kind: ' ', Text: "a", OldNo: 1, NewNo: 1},
		{Kind: '-', Text: "b", OldNo: 2},
		{Kind: '+', Text: "B", NewNo: 2},
		{Kind: ' ', Text: "c", OldNo: 3, NewNo: 3},
		{Kind: ' ', Text: "d", OldNo: 4, NewNo: 4},
		{Kind: '+', Text: "e", NewNo: 5},
	}
	if len(d.Hunks) != 1 {
		t.Fatalf("got %d hunks, want 1", len(d.Hunks))
	}
	got := d.Hunks[0].Lines
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("lines\n%v\nwant\n%v", got, want)
	}
}

func TestDiffUnified(t *testing.T) {
	d := Diff(map[string]string{"index.js": "a\nb\nc"}, map[string]string{"index.js": "a\nB\nc\n"})[0]
	want := "--- a/index.js\n+++ b/index.js\n@@ -1,3 +1,3 @@\n a\n-b\n-c\n\\ No newline at end of file\n+B\n+c\n"
	if got := d.Unified(); got != want {
		t.Errorf("Unified() =\n%s\nwant\n%s", got, want)
	}
	added := Diff(nil, map[string]string{"x.js": "x\n"})[0]
	if got, want := added.Unified(), "--- /dev/null\n+++ b/x.js\n@@ -0,0 +1 @@\n+x\n"; got != want {
		t.Errorf("Unified() of an added file =\n%s\nwant\n%s", got, want)
	}
}

// Random edits: the hunks must turn the old file into the new one, and the
// number of changed lines must be minimal (compared with an LCS table).
func TestDiffRandomEdits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		old := randomLines(rng, rng.IntN(40))
		new := mutate(rng, old)
		oldText, newText := strings.Join(old, ""), strings.Join(new, "")
		d := Diff(map[string]string{"f": oldText}, map[string]string{"f": newText})[0]
		checkDiff(t, oldText, newText, d)
		changed := 0
		for _, h := range d.Hunks {
			for _, l := range h.Lines {
				if l.Kind != ' ' {
					changed++
				}
			}
		}
		if want := len(old) + len(new) - 2*lcs(old, new); changed != want {
			t.Fatalf("case %d: %d changed lines, minimal is %d\n%s", i, changed, want, d.Unified())
		}
	}
}

// Past the edit-distance guard the diff is no longer minimal but still right.
func TestDiffGuard(t *testing.T) {
	var a, b strings.Builder
	for i := range 3 * maxEditDistance {
		fmt.Fprintf(&a, "old %d\n", i)
		fmt.Fprintf(&b, "new %d\n", i)
	}
	d := Diff(map[string]string{"f": a.String()}, map[string]string{"f": b.String()})[0]
	checkDiff(t, a.String(), b.String(), d)
	if len(d.Hunks) != 1 || d.Hunks[0].OldLines != 3*maxEditDistance || d.Hunks[0].NewLines != 3*maxEditDistance {
		t.Errorf("want one hunk replacing everything, got %d hunks", len(d.Hunks))
	}
}

func randomLines(rng *rand.Rand, n int) []string {
	lines := make([]string, n)
	for i := range lines {
		// A small alphabet makes repeated lines, the hard case for a diff.
		lines[i] = fmt.Sprintf("l%d\n", rng.IntN(6))
	}
	return lines
}

func mutate(rng *rand.Rand, lines []string) []string {
	out := append([]string{}, lines...)
	for range rng.IntN(8) {
		pos := rng.IntN(len(out) + 1)
		switch rng.IntN(3) {
		case 0:
			out = append(out[:pos], append([]string{fmt.Sprintf("n%d\n", rng.IntN(6))}, out[pos:]...)...)
		case 1:
			if pos < len(out) {
				out = append(out[:pos], out[pos+1:]...)
			}
		case 2:
			if pos < len(out) {
				out[pos] = fmt.Sprintf("l%d\n", rng.IntN(6))
			}
		}
	}
	return out
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

// checkDiff applies d's hunks to old and requires new, checking every line
// number and hunk header on the way.
func checkDiff(t *testing.T, old, new string, d FileDiff) {
	t.Helper()
	oldLines, newLines := splitLines(old), splitLines(new)
	var out []srcLine
	next := 0 // index of the next old line not yet copied
	for _, h := range d.Hunks {
		firstOld := h.OldStart - 1
		if h.OldLines == 0 {
			firstOld = h.OldStart
		}
		if firstOld < next || firstOld > len(oldLines) {
			t.Fatalf("hunk %+v starts at old line %d, after %d were used", h, firstOld+1, next)
		}
		out = append(out, oldLines[next:firstOld]...)
		next = firstOld
		if wantNew := len(out); (h.NewLines > 0 && h.NewStart != wantNew+1) || (h.NewLines == 0 && h.NewStart != wantNew) {
			t.Fatalf("hunk new start %d, want %d", h.NewStart, wantNew+1)
		}
		oldCount, newCount := 0, 0
		for _, l := range h.Lines {
			switch l.Kind {
			case ' ', '-':
				if next >= len(oldLines) || oldLines[next].text != l.Text || l.OldNo != next+1 {
					t.Fatalf("line %+v does not match old line %d", l, next+1)
				}
				next++
				oldCount++
				if l.Kind == ' ' {
					out = append(out, oldLines[next-1])
					newCount++
					if l.NewNo != len(out) {
						t.Fatalf("context line %+v: new number should be %d", l, len(out))
					}
				}
			case '+':
				out = append(out, srcLine{text: l.Text, noNewline: l.NoNewline})
				newCount++
				if l.NewNo != len(out) || l.OldNo != 0 {
					t.Fatalf("added line %+v: new number should be %d", l, len(out))
				}
			default:
				t.Fatalf("line kind %q", l.Kind)
			}
		}
		if oldCount != h.OldLines || newCount != h.NewLines {
			t.Fatalf("hunk %d,%d counts %d,%d lines", h.OldLines, h.NewLines, oldCount, newCount)
		}
	}
	out = append(out, oldLines[next:]...)
	if fmt.Sprint(out) != fmt.Sprint(newLines) {
		t.Fatalf("applying the diff gives\n%v\nwant\n%v\n%s", out, newLines, d.Unified())
	}
}
