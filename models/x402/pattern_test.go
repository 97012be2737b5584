package x402

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
)

type routeCases struct {
	Cases []struct {
		PatternMethod string `json:"pattern_method"`
		Pattern       string `json:"pattern"`
		Method        string `json:"method"`
		Path          string `json:"path"`
		Match         bool   `json:"match"`
		Why           string `json:"why"`
	} `json:"cases"`
	InvalidPatterns []struct {
		PatternMethod string `json:"pattern_method"`
		Pattern       string `json:"pattern"`
		Why           string `json:"why"`
	} `json:"invalid_patterns"`
}

func loadRouteCases(t testing.TB) routeCases {
	t.Helper()
	b, err := os.ReadFile("testdata/route_cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var rc routeCases
	if err := json.Unmarshal(b, &rc); err != nil {
		t.Fatalf("route_cases.json: %v", err)
	}
	if len(rc.Cases) < 40 {
		t.Fatalf("route_cases.json has %d cases, want at least 40", len(rc.Cases))
	}
	return rc
}

// TestRouteCases runs the file the JavaScript dispatcher tests run too, so
// both sides agree on every case.
func TestRouteCases(t *testing.T) {
	rc := loadRouteCases(t)
	for _, c := range rc.Cases {
		p, err := ParsePattern(c.PatternMethod, c.Pattern)
		if err != nil {
			t.Errorf("ParsePattern(%q, %q): %v", c.PatternMethod, c.Pattern, err)
			continue
		}
		if got := p.Match(c.Method, c.Path); got != c.Match {
			t.Errorf("%q %q vs %s %q: match = %v, want %v (%s)", c.PatternMethod, c.Pattern, c.Method, c.Path, got, c.Match, c.Why)
		}
	}
	for _, c := range rc.InvalidPatterns {
		_, err := ParsePattern(c.PatternMethod, c.Pattern)
		if !errors.Is(err, ErrInvalidPattern) {
			t.Errorf("ParsePattern(%q, %q) = %v, want ErrInvalidPattern (%s)", c.PatternMethod, c.Pattern, err, c.Why)
		}
	}
}

func TestParsePatternCanonical(t *testing.T) {
	tests := []struct {
		method, path string
		want         string
	}{
		{"", "/api/", "/api"},
		{"", " /api//x/ ", "/api/x"},
		{"", "*", "/*"},
		{"", "/*", "/*"},
		{"", "/api/*/", "/api/*"},
		{"", "/", "/"},
		{"", "//", "/"},
		{"get", "/weather", "GET /weather"},
		{"*", "/weather", "/weather"},
		{"any", "/weather", "/weather"},
		{" Post ", "/users/[id]", "POST /users/[id]"},
		{"", "/Users/:ID", "/Users/:ID"},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.method, tt.path)
		if err != nil {
			t.Errorf("ParsePattern(%q, %q): %v", tt.method, tt.path, err)
			continue
		}
		if got := p.String(); got != tt.want {
			t.Errorf("ParsePattern(%q, %q).String() = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestParsePatternMessages(t *testing.T) {
	tests := []struct {
		method, path, want string
	}{
		{"", "/a?x=1", "query string"},
		{"", "/api/*/x", "* may only end a pattern"},
		{"", "GET /a", "method in its own field"},
		{"FETCH", "/a", "unknown method"},
		{"", "weather", "must start with /"},
		{"", "/" + strings.Repeat("a", 600), "longer than"},
	}
	for _, tt := range tests {
		_, err := ParsePattern(tt.method, tt.path)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePattern(%q, %q) = %v, want an error saying %q", tt.method, tt.path, err, tt.want)
		}
	}
}

func TestParseRoute(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET /weather", "GET /weather"},
		{"/weather", "/weather"},
		{"post   /a/:id", "POST /a/:id"},
		{"*", "/*"},
	}
	for _, tt := range tests {
		p, err := ParseRoute(tt.in)
		if err != nil || p.String() != tt.want {
			t.Errorf("ParseRoute(%q) = %q, %v; want %q", tt.in, p.String(), err, tt.want)
		}
	}
	if _, err := ParseRoute("GET /a b"); err == nil {
		t.Error(`ParseRoute("GET /a b") accepted a space in the path`)
	}
}

func TestZeroPatternMatchesNothing(t *testing.T) {
	var p Pattern
	if p.Match("GET", "/") || p.Match("GET", "") {
		t.Error("the zero Pattern matched")
	}
}

func mustPatterns(t *testing.T, routes ...string) []Pattern {
	t.Helper()
	var out []Pattern
	for _, r := range routes {
		p, err := ParseRoute(r)
		if err != nil {
			t.Fatalf("ParseRoute(%q): %v", r, err)
		}
		out = append(out, p)
	}
	return out
}

func TestUnreachable(t *testing.T) {
	type w struct{ index, by int }
	tests := []struct {
		name   string
		routes []string
		want   []w
	}{
		{"none", []string{"/a", "/b", "/api/*"}, nil},
		{"duplicate", []string{"/a", "/b", "/a"}, []w{{2, 0}}},
		{"duplicate modulo case and slash", []string{"/A/", "/a"}, []w{{1, 0}}},
		{"after catch-all", []string{"/*", "/a", "GET /b/c"}, []w{{1, 0}, {2, 0}}},
		{"under wildcard", []string{"/api/*", "/api", "/api/users", "/apix"}, []w{{1, 0}, {2, 0}}},
		{"wildcard under wildcard", []string{"/api/*", "/api/v1/*"}, []w{{1, 0}}},
		{"literal before wildcard is fine", []string{"/api/users", "/api/*"}, nil},
		{"param covers literal", []string{"/u/:id", "/u/me", "/u/[name]"}, []w{{1, 0}, {2, 0}}},
		{"literal does not cover param", []string{"/u/me", "/u/:id"}, nil},
		{"param does not cover deeper", []string{"/u/:id", "/u/1/x", "/u/*"}, nil},
		{"any method covers GET", []string{"/a", "GET /a"}, []w{{1, 0}}},
		{"GET does not cover any", []string{"GET /a", "/a"}, nil},
		{"GET does not cover POST", []string{"GET /a", "POST /a"}, nil},
		{"GET covers HEAD", []string{"GET /a", "HEAD /a"}, []w{{1, 0}}},
		{"HEAD does not cover GET", []string{"HEAD /a", "GET /a"}, nil},
		{"same method", []string{"POST /a/*", "POST /a/b"}, []w{{1, 0}}},
		{"first shadow reported", []string{"/a/*", "/*", "/a/b"}, []w{{2, 0}}},
		{"wildcard param", []string{"/:x/*", "/a", "/"}, []w{{1, 0}}},
		{"root", []string{"/", "/*", "/"}, []w{{2, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Unreachable(mustPatterns(t, tt.routes...))
			if len(got) != len(tt.want) {
				t.Fatalf("Unreachable(%q) = %+v, want %+v", tt.routes, got, tt.want)
			}
			for i := range got {
				if got[i].Index != tt.want[i].index || got[i].ShadowedBy != tt.want[i].by {
					t.Errorf("warning %d = %+v, want index %d shadowed by %d", i, got[i], tt.want[i].index, tt.want[i].by)
				}
				if !strings.Contains(got[i].Message, "never match") {
					t.Errorf("message %q does not say the route can never match", got[i].Message)
				}
			}
		})
	}
}

func TestUnreachableMessages(t *testing.T) {
	got := Unreachable(mustPatterns(t, "/api/*", "GET /api/users", "/api/*"))
	want := []string{
		"route 2 (GET /api/users) can never match: route 1 (/api/*) comes first and matches every request it would",
		"route 3 (/api/*) is a duplicate of route 1 and can never match",
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Message != want[i] {
			t.Errorf("message %d = %q, want %q", i, got[i].Message, want[i])
		}
	}
}

// TestUnreachableAgreesWithMatch checks the static analysis against the
// matcher: when Unreachable says route j is hidden by i, every request from
// the shared cases that j matches must be matched by i.
func TestUnreachableAgreesWithMatch(t *testing.T) {
	rc := loadRouteCases(t)
	var ps []Pattern
	for _, c := range rc.Cases {
		p, err := ParsePattern(c.PatternMethod, c.Pattern)
		if err == nil {
			ps = append(ps, p)
		}
	}
	for _, i := range ps {
		for _, j := range ps {
			if !i.covers(j) {
				continue
			}
			for _, c := range rc.Cases {
				if j.Match(c.Method, c.Path) && !i.Match(c.Method, c.Path) {
					t.Errorf("%s covers %s, but only the latter matches %s %q", i, j, c.Method, c.Path)
				}
			}
		}
	}
}

func FuzzPatternMatch(f *testing.F) {
	rc := loadRouteCases(f)
	for _, c := range rc.Cases {
		f.Add(c.PatternMethod, c.Pattern, c.Method, c.Path)
	}
	f.Fuzz(func(t *testing.T, pm, pp, method, path string) {
		p, err := ParsePattern(pm, pp)
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("error does not wrap ErrInvalidPattern: %v", err)
			}
			return
		}
		m := p.Match(method, path)
		// The canonical form must parse to a pattern that behaves the same.
		q, err := ParsePattern(p.Method, p.Path)
		if err != nil {
			t.Fatalf("canonical %q does not parse: %v", p, err)
		}
		if q.Match(method, path) != m {
			t.Fatalf("%q and its canonical form %q disagree on %s %q", pp, p, method, path)
		}
		// A trailing slash or query never changes the answer.
		if p.Match(method, strings.TrimRight(path, "/")+"/?x=1") != p.Match(method, strings.TrimRight(path, "/")) {
			t.Fatalf("%q: trailing slash or query changed the answer for %q", p, path)
		}
		if !p.covers(p) {
			t.Fatalf("%q does not cover itself", p)
		}
	})
}
