package web_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/workers/bundle"
)

const (
	mapIndex = "import { fail } from \"./lib.js\";\nexport default { fetch() { return fail(); } };\n"
	mapLib   = "export function fail() {\n  throw new Error(\"from lib\");\n}\n"
)

// bundlePos is where needle lands in the bundle of files, as V8 counts (1-based line and column).
func bundlePos(t *testing.T, files map[string]string, main, needle string) string {
	t.Helper()
	var fs []bundle.File
	for n, c := range files {
		fs = append(fs, bundle.File{Name: n, Content: []byte(c)})
	}
	res, err := bundle.Build(fs, main, bundle.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out := string(res.Modules[0].Content)
	i := strings.Index(out, needle)
	if i < 0 {
		t.Fatalf("%q not in the bundle", needle)
	}
	return fmt.Sprintf("%s:%d:%d", bundle.OutputModule, strings.Count(out[:i], "\n")+1, i-strings.LastIndex(out[:i], "\n"))
}

// TestLogStackPositionsMapped: positions in the bundle that a log line names are shown in the
// tenant's own files, with the source map of the version the app runs — not another app's,
// not for a line the edge already remapped, and not for an app that runs nothing.
func TestLogStackPositionsMapped(t *testing.T) {
	const ingest = "ingest-secret-for-maps"
	p := startPortal(t, withIngestToken(ingest))
	tenantApp(t, p, "ma@example.com", "Maps A", "maps-a")
	tenantApp(t, p, "mb@example.com", "Maps B", "maps-b")
	tenantApp(t, p, "mc@example.com", "Maps C", "maps-c")
	tokA, tokB, tokC := apiToken(t, p, "ma@example.com"), apiToken(t, p, "mb@example.com"), apiToken(t, p, "mc@example.com")
	deploy := func(tok, slug string, modules map[string]string, main string) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"main_module": main, "modules": modules})
		if r := p.api(t, "POST", "/api/v1/apps/"+slug+"/versions", tok, "application/json", string(body)); r.Status != http.StatusCreated {
			t.Fatalf("version of %s: %d %s", slug, r.Status, r.Body)
		}
		if r := p.api(t, "POST", "/api/v1/apps/"+slug+"/deployments", tok, "application/json", `{}`); r.Status != http.StatusAccepted {
			t.Fatalf("deploy %s: %d %s", slug, r.Status, r.Body)
		}
	}
	filesA := map[string]string{"index.js": mapIndex, "lib.js": mapLib}
	deploy(tokA, "maps-a", filesA, "index.js")
	deploy(tokB, "maps-b", map[string]string{"only.js": "export default { fetch() {\n  return new Response(\"b\");\n} };\n"}, "only.js")
	// maps-c has no version.

	throwAt := bundlePos(t, filesA, "index.js", `throw new Error("from lib")`)
	callAt := bundlePos(t, filesA, "index.js", "return fail()")
	stack := "Uncaught Error: from lib\n    at fail (" + throwAt + ")\n    at Object.fetch (" + callAt + ")"
	line := func(level, msg string, mapped bool) map[string]any {
		return map[string]any{"ts": time.Now().UnixMilli(), "level": level, "message": msg, "mapped": mapped}
	}
	rec := func(app, rid string, lines ...map[string]any) map[string]any {
		return map[string]any{"app": app, "request_id": rid, "method": "GET", "path": "/" + app + "/", "status": 500, "lines": lines}
	}
	if r := postLogs(t, p, ingest,
		rec("maps-a", "a-uncaught", line("error", stack, false)),
		rec("maps-a", "a-logged", line("info", "caught: Error: from lib\n    at fail (file:///bundle/"+throwAt+")", false)),
		rec("maps-a", "a-remapped", line("error", "Uncaught Error: x\n    at fail ("+throwAt+")", true)),
		rec("maps-b", "b", line("error", stack, false)),
		rec("maps-c", "c", line("error", stack, false)),
	); r.Status != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	for _, tc := range []struct {
		tok, slug, rid string
		want, not      []string
	}{
		{tokA, "maps-a", "a-uncaught", []string{"at fail (lib.js:2:", "at Object.fetch (index.js:2:"}, []string{"worker.js"}},
		{tokA, "maps-a", "a-logged", []string{"at fail (lib.js:2:"}, []string{"worker.js", "file://"}},
		{tokA, "maps-a", "a-remapped", []string{"at fail (" + throwAt + ")"}, []string{"lib.js"}},
		// Another app's map does not cover A's positions; an app without a version has none.
		{tokB, "maps-b", "b", nil, []string{"lib.js"}},
		{tokC, "maps-c", "c", []string{throwAt}, []string{"lib.js"}},
	} {
		r, pg := getLogs(t, p, tc.tok, tc.slug, "?request_id="+tc.rid)
		if r.Status != 200 || len(pg.Lines) != 1 {
			t.Fatalf("%s: %d %+v", tc.rid, r.Status, pg.Lines)
		}
		msg := pg.Lines[0].Message
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %q lacks %q", tc.rid, msg, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(msg, n) {
				t.Errorf("%s: %q holds %q", tc.rid, msg, n)
			}
		}
	}
}
