package bundle

import (
	"fmt"
	"slices"
	"strings"
)

// File statuses in a FileDiff.
const (
	StatusAdded     = "added"
	StatusRemoved   = "removed"
	StatusModified  = "modified"
	StatusUnchanged = "unchanged"
)

// DiffContext is the number of unchanged lines shown around each change, as
// in `diff -u`.
const DiffContext = 3

// maxEditDistance bounds the Myers search. Past it the two versions share
// little, a minimal diff would be no easier to read than "all of it changed",
// and the search would cost memory that grows with the square of the distance.
const maxEditDistance = 1000

// FileDiff is the difference between two versions of one file.
type FileDiff struct {
	Name   string
	Status string // StatusAdded, StatusRemoved, StatusModified or StatusUnchanged
	Hunks  []Hunk // none for an unchanged file
}

// Hunk is one "@@ -OldStart,OldLines +NewStart,NewLines @@" block. As in diff -u,
// a side with no lines gives as start the line after which the change sits
// (0 for the top of the file).
type Hunk struct {
	OldStart, OldLines int
	NewStart, NewLines int
	Lines              []Line
}

// Line is one line of a hunk.
type Line struct {
	Kind  byte // '+' added, '-' removed, ' ' context
	Text  string
	OldNo int // 1-based line number in the old file; 0 for an added line
	NewNo int // 1-based line number in the new file; 0 for a removed line
	// NoNewline marks the last line of a file that does not end in a newline,
	// so that adding or removing the final newline shows up as a change.
	NoNewline bool
}

// Diff compares the sources of two versions file by file. Every file of
// either version appears once, sorted by name.
func Diff(oldFiles, newFiles map[string]string) []FileDiff {
	names := make([]string, 0, len(oldFiles)+len(newFiles))
	for name := range oldFiles {
		names = append(names, name)
	}
	for name := range newFiles {
		if _, ok := oldFiles[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)

	diffs := make([]FileDiff, 0, len(names))
	for _, name := range names {
		oldText, inOld := oldFiles[name]
		newText, inNew := newFiles[name]
		d := FileDiff{Name: name}
		switch {
		case !inOld:
			d.Status = StatusAdded
		case !inNew:
			d.Status = StatusRemoved
		case oldText == newText:
			d.Status = StatusUnchanged
			diffs = append(diffs, d)
			continue
		default:
			d.Status = StatusModified
		}
		d.Hunks = hunks(diffLines(splitLines(oldText), splitLines(newText)), DiffContext)
		diffs = append(diffs, d)
	}
	return diffs
}

// Unified renders the diff as `diff -u` would, with a/ and b/ prefixes.
func (d FileDiff) Unified() string {
	if len(d.Hunks) == 0 {
		return ""
	}
	var b strings.Builder
	oldName, newName := "a/"+d.Name, "b/"+d.Name
	if d.Status == StatusAdded {
		oldName = "/dev/null"
	}
	if d.Status == StatusRemoved {
		newName = "/dev/null"
	}
	fmt.Fprintf(&b, "--- %s\n+++ %s\n", oldName, newName)
	for _, h := range d.Hunks {
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(h.OldStart, h.OldLines), hunkRange(h.NewStart, h.NewLines))
		for _, l := range h.Lines {
			b.WriteByte(l.Kind)
			b.WriteString(l.Text)
			b.WriteByte('\n')
			if l.NoNewline {
				b.WriteString("\\ No newline at end of file\n")
			}
		}
	}
	return b.String()
}

func hunkRange(start, lines int) string {
	if lines == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, lines)
}

type srcLine struct {
	text      string
	noNewline bool
}

func splitLines(s string) []srcLine {
	if s == "" {
		return nil
	}
	parts := strings.SplitAfter(s, "\n")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	lines := make([]srcLine, len(parts))
	for i, p := range parts {
		text, had := strings.CutSuffix(p, "\n")
		lines[i] = srcLine{text: text, noNewline: !had}
	}
	return lines
}

// diffLines returns the whole edit script from a to b, equal lines included,
// with line numbers filled in.
func diffLines(a, b []srcLine) []Line {
	// Compare small integers instead of strings in the inner loop.
	ids := make(map[srcLine]int, len(a)+len(b))
	id := func(l srcLine) int {
		v, ok := ids[l]
		if !ok {
			v = len(ids)
			ids[l] = v
		}
		return v
	}
	ai, bi := make([]int, len(a)), make([]int, len(b))
	for i, l := range a {
		ai[i] = id(l)
	}
	for i, l := range b {
		bi[i] = id(l)
	}

	// Common prefix and suffix are cheap and usually most of the file.
	pre := 0
	for pre < len(ai) && pre < len(bi) && ai[pre] == bi[pre] {
		pre++
	}
	suf := 0
	for suf < len(ai)-pre && suf < len(bi)-pre && ai[len(ai)-1-suf] == bi[len(bi)-1-suf] {
		suf++
	}
	ops, ok := myers(ai[pre:len(ai)-suf], bi[pre:len(bi)-suf], maxEditDistance)
	if !ok {
		ops = replaceAll(len(ai)-pre-suf, len(bi)-pre-suf)
	}

	out := make([]Line, 0, len(a)+len(b))
	x, y := 0, 0
	emit := func(kind byte) {
		switch kind {
		case ' ':
			out = append(out, Line{Kind: ' ', Text: a[x].text, NoNewline: a[x].noNewline, OldNo: x + 1, NewNo: y + 1})
			x, y = x+1, y+1
		case '-':
			out = append(out, Line{Kind: '-', Text: a[x].text, NoNewline: a[x].noNewline, OldNo: x + 1})
			x++
		case '+':
			out = append(out, Line{Kind: '+', Text: b[y].text, NoNewline: b[y].noNewline, NewNo: y + 1})
			y++
		}
	}
	for range pre {
		emit(' ')
	}
	for _, k := range ops {
		emit(k)
	}
	for range suf {
		emit(' ')
	}
	return out
}

func replaceAll(n, m int) []byte {
	ops := make([]byte, 0, n+m)
	for range n {
		ops = append(ops, '-')
	}
	for range m {
		ops = append(ops, '+')
	}
	return ops
}

// myers finds a shortest edit script from a to b (E. Myers, "An O(ND)
// Difference Algorithm", 1986) as a sequence of ' ', '-' and '+'. It gives up,
// returning false, when the edit distance exceeds maxD.
func myers(a, b []int, maxD int) ([]byte, bool) {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return replaceAll(n, m), true
	}
	limit := min(n+m, maxD)
	off := limit + 1
	v := make([]int, 2*limit+3)
	// trace[d] holds the furthest x on diagonals -d..d after round d.
	var trace [][]int
	for d := 0; d <= limit; d++ {
		for k := -d; k <= d; k += 2 {
			var x int
			if k == -d || (k != d && v[off+k-1] < v[off+k+1]) {
				x = v[off+k+1]
			} else {
				x = v[off+k-1] + 1
			}
			y := x - k
			for x < n && y < m && a[x] == b[y] {
				x, y = x+1, y+1
			}
			v[off+k] = x
			if x >= n && y >= m {
				trace = append(trace, slices.Clone(v[off-d:off+d+1]))
				return backtrack(trace, n, m), true
			}
		}
		trace = append(trace, slices.Clone(v[off-d:off+d+1]))
	}
	return nil, false
}

func backtrack(trace [][]int, n, m int) []byte {
	ops := make([]byte, 0, n+m)
	x, y := n, m
	for d := len(trace) - 1; d > 0; d-- {
		prev := trace[d-1] // diagonals -(d-1)..d-1, indexed from 0
		k := x - y
		var prevK int
		if k == -d || (k != d && prev[k-1+d-1] < prev[k+1+d-1]) {
			prevK = k + 1
		} else {
			prevK = k - 1
		}
		prevX := prev[prevK+d-1]
		prevY := prevX - prevK
		for x > prevX && y > prevY {
			ops = append(ops, ' ')
			x, y = x-1, y-1
		}
		if x == prevX {
			ops = append(ops, '+')
		} else {
			ops = append(ops, '-')
		}
		x, y = prevX, prevY
	}
	for x > 0 && y > 0 {
		ops = append(ops, ' ')
		x, y = x-1, y-1
	}
	slices.Reverse(ops)
	return ops
}

// hunks groups an edit script into hunks with ctx lines of context, merging
// changes whose contexts would touch or overlap.
func hunks(lines []Line, ctx int) []Hunk {
	var out []Hunk
	i := 0
	for i < len(lines) {
		if lines[i].Kind == ' ' {
			i++
			continue
		}
		start := max(0, i-ctx)
		// Extend while the next change is within 2*ctx equal lines.
		end := i
		for j := i; j < len(lines); j++ {
			if lines[j].Kind != ' ' {
				end = j
			} else if j-end > 2*ctx {
				break
			}
		}
		stop := min(len(lines), end+ctx+1)
		out = append(out, makeHunk(lines, start, stop))
		i = stop
	}
	return out
}

func makeHunk(lines []Line, start, stop int) Hunk {
	// Lines before the hunk on each side, to place an empty side.
	oldBefore, newBefore := 0, 0
	for _, l := range lines[:start] {
		if l.Kind != '+' {
			oldBefore++
		}
		if l.Kind != '-' {
			newBefore++
		}
	}
	h := Hunk{Lines: slices.Clone(lines[start:stop])}
	for _, l := range h.Lines {
		if l.Kind != '+' {
			h.OldLines++
		}
		if l.Kind != '-' {
			h.NewLines++
		}
	}
	h.OldStart, h.NewStart = oldBefore, newBefore
	if h.OldLines > 0 {
		h.OldStart++
	}
	if h.NewLines > 0 {
		h.NewStart++
	}
	return h
}
