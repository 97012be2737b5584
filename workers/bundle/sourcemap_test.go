package bundle

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

func TestDecodeVLQ(t *testing.T) {
	tests := []struct {
		seg     string
		want    []int
		wantErr bool
	}{
		{seg: "A", want: []int{0}},
		{seg: "C", want: []int{1}},
		{seg: "D", want: []int{-1}},
		{seg: "gB", want: []int{16}},
		{seg: "hB", want: []int{-16}},
		{seg: "2H", want: []int{123}},
		{seg: "AAAA", want: []int{0, 0, 0, 0}},
		{seg: "SAAS", want: []int{9, 0, 0, 9}},
		{seg: "ACDgBC", want: []int{0, 1, -1, 16, 1}},
		{seg: "g", wantErr: true},          // a continuation with nothing after it
		{seg: "A!", wantErr: true},         // not Base64
		{seg: "AAAAAA", wantErr: true},     // six fields
		{seg: "gggggggggB", wantErr: true}, // more bits than an int32
	}
	for _, tt := range tests {
		var out [5]int
		n, err := decodeVLQ(tt.seg, out[:])
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v, want error %v", tt.seg, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if got := out[:n]; !equalInts(got, tt.want) {
			t.Errorf("%q = %v, want %v", tt.seg, got, tt.want)
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSourceMapLookup reads a map written by hand: relative fields carry over
// segments and lines, the column resets per line, one-field segments map to
// nothing.
func TestSourceMapLookup(t *testing.T) {
	// Line 1: col 0 -> a.js 1:1; col 4 -> a.js 1:5.
	// Line 2: col 2 -> b.js 3:1; col 10 -> unmapped.
	// Line 3: empty.  Line 4: col 0 -> a.js 1:3 (source back by one, line back by two).
	m, err := ParseSourceMap([]byte(`{"version":3,"sources":["a.js","b.js"],"mappings":"AAAA,IAAI;ECEJ,Q;;ADFE"}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line, col int
		file      string
		l, c      int
		ok        bool
	}{
		{1, 1, "a.js", 1, 1, true},
		{1, 4, "a.js", 1, 1, true},
		{1, 5, "a.js", 1, 5, true},
		{1, 99, "a.js", 1, 5, true},
		{2, 1, "", 0, 0, false}, // before the first segment
		{2, 3, "b.js", 3, 1, true},
		{2, 11, "", 0, 0, false}, // a segment without a source
		{3, 1, "", 0, 0, false},
		{4, 1, "a.js", 1, 3, true},
		{5, 1, "", 0, 0, false},
		{0, 1, "", 0, 0, false},
	}
	for _, tt := range tests {
		f, l, c, ok := m.Lookup(tt.line, tt.col)
		if f != tt.file || l != tt.l || c != tt.c || ok != tt.ok {
			t.Errorf("Lookup(%d, %d) = %s %d %d %v, want %s %d %d %v", tt.line, tt.col, f, l, c, ok, tt.file, tt.l, tt.c, tt.ok)
		}
	}
	for _, bad := range []string{`{"version":2,"sources":[],"mappings":""}`, `{"version":3,"sources":["a.js"],"mappings":"AC"}`,
		`{"version":3,"sources":["a.js"],"mappings":"ACAA"}`, `not json`} {
		if _, err := ParseSourceMap([]byte(bad)); err == nil {
			t.Errorf("ParseSourceMap(%s) took it", bad)
		}
	}
}

// TestBuildSourceMap: the bundle of a two-file app points at its map, the map
// names the files as uploaded, and positions in the bundle map back to the
// lines the tenant wrote, TypeScript included.
func TestBuildSourceMap(t *testing.T) {
	tests := []struct {
		name  string
		files []File
		main  string
		// needle is found in the bundle; its position must map to file:line.
		needle, file string
		line         int
	}{
		{name: "js, throw in an imported file",
			files: []File{
				js("index.js", "import { fail } from \"./lib.js\";\nexport default { fetch() { return fail(); } };\n"),
				js("lib.js", "export function fail() {\n  throw new Error(\"from lib\");\n}\n"),
			},
			main: "index.js", needle: `throw new Error("from lib")`, file: "lib.js", line: 2},
		{name: "js, the entry's own line",
			files: []File{
				js("index.js", "import { fail } from \"./lib.js\";\n\n\nexport default { fetch() { return fail(); } };\n"),
				js("lib.js", "export function fail() {\n  throw new Error(\"from lib\");\n}\n"),
			},
			main: "index.js", needle: "return fail()", file: "index.js", line: 4},
		{name: "typescript, types removed above the line",
			files: []File{
				js("index.ts", "import { boom } from \"./util\";\nexport default { fetch(): Response { return boom(1); } };\n"),
				js("util.ts", "interface Opts {\n  n: number;\n}\ntype N = number;\nexport function boom(n: N): Response {\n  throw new RangeError(\"bad \" + n);\n}\n"),
			},
			main: "index.ts", needle: `throw new RangeError("bad " + n)`, file: "util.ts", line: 6},
		{name: "nested directory",
			files: []File{
				js("index.js", "import { f } from \"./lib/deep/f.js\";\nexport default { fetch() { return f(); } };\n"),
				js("lib/deep/f.js", "// a comment\nexport const f = () => {\n  throw new Error(\"deep\");\n};\n"),
			},
			main: "index.js", needle: `throw new Error("deep")`, file: "lib/deep/f.js", line: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Build(tt.files, tt.main, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.Modules[0].Content)
			if !strings.HasSuffix(strings.TrimSpace(out), "//# sourceMappingURL="+SourceMapModule) {
				t.Errorf("the bundle does not point at its map:\n%s", out)
			}
			var raw struct {
				Sources        []string `json:"sources"`
				File           string   `json:"file"`
				SourcesContent []string `json:"sourcesContent"`
			}
			if err := json.Unmarshal(res.SourceMap, &raw); err != nil {
				t.Fatal(err)
			}
			for _, s := range raw.Sources {
				if strings.Contains(s, ":") {
					t.Errorf("map source %q is not an uploaded name", s)
				}
			}
			if raw.File != OutputModule || raw.SourcesContent != nil {
				t.Errorf("map file %q, sourcesContent %v", raw.File, raw.SourcesContent)
			}
			m, err := ParseSourceMap(res.SourceMap)
			if err != nil {
				t.Fatal(err)
			}
			i := strings.Index(out, tt.needle)
			if i < 0 {
				t.Fatalf("%q not in the bundle:\n%s", tt.needle, out)
			}
			line := strings.Count(out[:i], "\n") + 1
			col := i - strings.LastIndex(out[:i], "\n") // 1-based
			file, l, _, ok := m.Lookup(line, col)
			if !ok || file != tt.file || l != tt.line {
				t.Fatalf("bundle %d:%d maps to %s:%d (%v), want %s:%d\n%s", line, col, file, l, ok, tt.file, tt.line, out)
			}
			// A stack as V8 writes it, behind a path or not.
			stack := "Error: x\n    at fail (worker.js:" + itoa(line) + ":" + itoa(col) + ")\n    at file:///bundle/worker.js:" + itoa(line) + ":" + itoa(col)
			got := m.Rewrite(stack)
			want := tt.file + ":" + itoa(tt.line) + ":"
			if strings.Count(got, want) != 2 || strings.Contains(got, OutputModule) {
				t.Errorf("Rewrite:\n%s\nwant two frames at %s", got, want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestRewriteLeavesOthersAlone(t *testing.T) {
	m, err := ParseSourceMap([]byte(`{"version":3,"sources":["a.js"],"mappings":"AAAA"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"no positions here", "no positions here"},
		{"at f (worker.js:1:1)", "at f (a.js:1:1)"},
		{"at f (worker.js:9:1)", "at f (worker.js:9:1)"}, // beyond the map: unchanged
		{"at f (lib.js:1:1)", "at f (lib.js:1:1)"},
		{"worker.js:1", "worker.js:1"}, // no column: not a position
	} {
		if got := m.Rewrite(tc.in); got != tc.want {
			t.Errorf("Rewrite(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var nilMap *SourceMap
	if got := nilMap.Rewrite("at f (worker.js:1:1)"); got != "at f (worker.js:1:1)" {
		t.Errorf("a nil map rewrote: %q", got)
	}
}
