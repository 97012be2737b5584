package views

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/a-h/templ"
)

func renderString(t *testing.T, c templ.Component) string {
	t.Helper()
	var b bytes.Buffer
	if err := c.Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestCSRFField(t *testing.T) {
	for _, tc := range []struct{ token, want string }{
		{"abc123", `<input type="hidden" name="_csrf" value="abc123">`},
		{`"><script>`, `<input type="hidden" name="_csrf" value="&#34;&gt;&lt;script&gt;">`},
	} {
		if got := renderString(t, CSRFField(tc.token)); got != tc.want {
			t.Errorf("CSRFField(%q) = %s, want %s", tc.token, got, tc.want)
		}
	}
}

func TestPostButton(t *testing.T) {
	for _, tc := range []struct {
		name                                  string
		action, label, formClass, buttonClass string
		want, wantNot                         []string
	}{
		{"plain", "/admin/rescan", "Re-scan", "", "",
			[]string{`<form method="post" action="/admin/rescan">`, `name="_csrf" value="tok"`, `<button type="submit" class="btn">Re-scan</button>`},
			[]string{`class=""`}},
		{"classes", "/apps/x/resume", "Resume now", "inline", "small danger",
			[]string{`<form method="post" action="/apps/x/resume" class="inline">`, `class="btn small danger"`, `>Resume now</button>`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := renderString(t, PostButton("tok", tc.action, tc.label, tc.formClass, tc.buttonClass))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %s in %s", w, got)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("unexpected %s in %s", w, got)
				}
			}
		})
	}
}

// The route editors offer the networks a facilitator settles, and an unsettled one only to the
// form whose route is already priced on it; the default network is preselected.
func TestRoutesTabOffered(t *testing.T) {
	tab := RoutesTab{Networks: []NetworkChoice{
		{Network: Network{Name: "Base Sepolia", CAIP2: "eip155:84532", Testnet: true, Default: true}, Settled: true},
		{Network: Network{Name: "Base", CAIP2: "eip155:8453"}, Settled: false},
	}}
	names := func(cs []NetworkChoice) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Network.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct{ cur, want string }{
		{"", "Base Sepolia"},
		{"eip155:84532", "Base Sepolia"},
		{"eip155:8453", "Base Sepolia,Base"},
	} {
		if got := names(tab.offered(tc.cur)); got != tc.want {
			t.Errorf("offered(%q) = %s, want %s", tc.cur, got, tc.want)
		}
	}
	if !tab.settled("eip155:84532") || tab.settled("eip155:8453") || tab.settled("eip155:1") {
		t.Error("settled() disagrees with the choices")
	}
	html := renderString(t, routeForm(Page{CSRF: "tok"}, tab, "/apps/a/routes", RouteForm{}, "Add route", ""))
	if !strings.Contains(html, `<option value="eip155:84532" selected>`) {
		t.Errorf("default network not preselected in %s", html)
	}
	if strings.Contains(html, `value="eip155:8453"`) {
		t.Error("a network no facilitator settles is offered to a new route")
	}
}

func TestEditorLinesMarksProblems(t *testing.T) {
	code := "a\nb\nc\n"
	got := editorLines(code, []Problem{{File: "main.js", Line: 2}, {File: "other.js", Line: 3}, {File: "main.js", Line: 99}}, "main.js")
	want := []bool{false, true, false, false}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d marked %v, want %v", i+1, got[i], want[i])
		}
	}
}

func TestDiffViewShowsChangedFilesOnly(t *testing.T) {
	same := renderString(t, DiffView([]FileDiff{{Name: "a.js", Status: "unchanged"}}))
	if !strings.Contains(same, "same files") {
		t.Errorf("no 'same files' note: %s", same)
	}
	changed := renderString(t, DiffView([]FileDiff{
		{Name: "a.js", Status: "unchanged"},
		{Name: "b.js", Status: "modified", Hunks: []DiffHunk{{OldStart: 1, OldLines: 1, NewStart: 1, NewLines: 1,
			Lines: []DiffLine{{Kind: '-', Text: "old", OldNo: 1}, {Kind: '+', Text: "new", NewNo: 1}}}}},
	}))
	for _, w := range []string{"<code>b.js</code>", "@@ -1,1 +1,1 @@", `<tr class="del">`, `<tr class="add">`, "-old", "+new"} {
		if !strings.Contains(changed, w) {
			t.Errorf("missing %s in %s", w, changed)
		}
	}
	if strings.Contains(changed, "a.js") || strings.Contains(changed, "same files") {
		t.Errorf("unchanged file shown: %s", changed)
	}
}
