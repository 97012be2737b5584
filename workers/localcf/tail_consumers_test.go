package localcf

import (
	"strings"
	"testing"
)

// TestTailConsumers: a user worker's metadata.tail_consumers must name Workers that exist, as on
// Cloudflare; an upload naming a missing one is refused and stores nothing, and once the tail
// worker is uploaded the same upload is taken and keeps the setting.
func TestTailConsumers(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.mustNamespace(t, "prod")
	sc := base + "workers/dispatch/namespaces/prod/scripts/"
	mod := part{"index.js", "application/javascript+module", helloModule}
	up := func(path string, tcs any) *response {
		ct, body := form(metadata(map[string]any{"main_module": "index.js", "compatibility_date": "2026-11-01", "tail_consumers": tcs}), mod)
		return ts.call(t, "PUT", path, ct, body)
	}
	tests := []struct {
		name       string
		tcs        any
		wantStatus int
		wantBody   string
	}{
		{"not a list", map[string]string{"service": "402claw-tail"}, 400, "tail_consumers"},
		{"no service", []map[string]string{{"environment": "production"}}, 400, "service is required"},
		{"missing worker", []map[string]string{{"service": "402claw-tail"}}, 400, `tail consumer \"402claw-tail\" is not a Worker in this account`},
		{"missing namespace", []map[string]string{{"service": "x", "namespace": "nope"}}, 404, "dispatch_namespace_not_found"},
		{"a script of the namespace is not an account worker", []map[string]string{{"service": "other"}}, 400, "not a Worker"},
	}
	if r := ts.upload(t, "prod", "other", nil); r.status != 200 {
		t.Fatalf("upload other: %d %s", r.status, r.body)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := up(sc+"app-a", tt.tcs)
			if r.status != tt.wantStatus || !strings.Contains(string(r.body), tt.wantBody) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tt.wantStatus, tt.wantBody)
			}
			if g := ts.call(t, "GET", sc+"app-a", "", nil); g.status != 404 {
				t.Fatalf("a refused upload stored the script: %d", g.status)
			}
		})
	}
	// A worker cannot tail itself.
	if r := up(base+"workers/scripts/402claw-tail", []map[string]string{{"service": "402claw-tail"}}); r.status != 400 {
		t.Fatalf("self tail: %d %s", r.status, r.body)
	}
	ct, body := form(metadata(map[string]any{"main_module": "index.js", "compatibility_date": "2026-11-01"}), part{"index.js", "application/javascript+module", "export default { tail() {} }"})
	if r := ts.call(t, "PUT", base+"workers/scripts/402claw-tail", ct, body); r.status != 200 {
		t.Fatalf("tail worker: %d %s", r.status, r.body)
	}
	if r := up(sc+"app-a", []map[string]string{{"service": "402claw-tail"}}); r.status != 200 {
		t.Fatalf("with the tail worker present: %d %s", r.status, r.body)
	}
	if r := up(sc+"app-b", []map[string]string{{"service": "other", "namespace": "prod"}}); r.status != 200 {
		t.Fatalf("a namespace's script as consumer: %d %s", r.status, r.body)
	}
	if r := ts.call(t, "GET", sc+"app-a/settings", "", nil); r.status != 200 || !strings.Contains(string(r.body), `"tail_consumers":[{"service":"402claw-tail"}]`) {
		t.Fatalf("settings: %d %s", r.status, r.body)
	}
}
