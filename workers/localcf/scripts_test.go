package localcf

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestScriptAPIScenarios(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.mustNamespace(t, "prod")
	sc := base + "workers/dispatch/namespaces/prod/scripts/"
	meta := func(m map[string]any) map[string]any {
		out := map[string]any{"main_module": "index.js", "compatibility_date": "2026-11-01"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	mod := part{"index.js", "application/javascript+module", helloModule}
	settingsForm := func(v string) (string, []byte) { return form(part{"settings", "application/json", v}) }

	tests := []struct {
		name       string
		method     string
		path       string
		body       func() (string, []byte)
		headers    []string
		wantStatus int
		wantCode   int
		wantBody   string
	}{
		{"no token", "GET", base + "workers/dispatch/namespaces", nil, []string{"Authorization", ""}, 403, 10000, "Authentication error"},
		{"basic auth is not bearer", "GET", base + "workers/dispatch/namespaces", nil, []string{"Authorization", "Basic eDp5"}, 403, 10000, ""},
		{"unknown namespace", "PUT", base + "workers/dispatch/namespaces/nope/scripts/a", func() (string, []byte) { return form(metadata(meta(nil)), mod) }, nil, 404, codeNamespaceNotFound, "dispatch_namespace_not_found"},
		{"not multipart", "PUT", sc + "a", func() (string, []byte) { return "application/json", []byte(`{}`) }, nil, 400, 10021, "multipart"},
		{"metadata part missing", "PUT", sc + "a", func() (string, []byte) { return form(mod) }, nil, 400, 10021, "metadata"},
		{"metadata not JSON", "PUT", sc + "a", func() (string, []byte) { return form(part{"metadata", "application/json", "{"}, mod) }, nil, 400, 10021, ""},
		{"main module names no part", "PUT", sc + "a", func() (string, []byte) { return form(metadata(meta(map[string]any{"main_module": "main.js"})), mod) }, nil, 400, 10021, `No such module \"main.js\"`},
		{"no main module", "PUT", sc + "a", func() (string, []byte) { return form(metadata(map[string]any{"bindings": []any{}}), mod) }, nil, 400, 10021, "main_module"},
		{"unsupported module type", "PUT", sc + "a", func() (string, []byte) {
			return form(metadata(meta(nil)), mod, part{"x.json", "application/json", "{}"})
		}, nil, 400, 10021, "application/json"},
		{"main module is text", "PUT", sc + "a", func() (string, []byte) {
			return form(metadata(meta(map[string]any{"main_module": "d.txt"})), part{"d.txt", "text/plain", "{}"})
		}, nil, 400, 10021, "must be JavaScript"},
		{"nine tags", "PUT", sc + "a", func() (string, []byte) {
			return form(metadata(meta(map[string]any{"tags": []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}})), mod)
		}, nil, 400, codeTooManyTags, "at most 8 tags"},
		{"comma tag", "PUT", sc + "a", func() (string, []byte) { return form(metadata(meta(map[string]any{"tags": []string{"a,b"}})), mod) }, nil, 400, codeTagInvalidChars, ""},
		{"binding without name", "PUT", sc + "a", func() (string, []byte) {
			return form(metadata(meta(map[string]any{"bindings": []any{map[string]string{"type": "plain_text"}}})), mod)
		}, nil, 400, 10021, ""},
		{"bad compatibility date", "PUT", sc + "a", func() (string, []byte) {
			return form(metadata(meta(map[string]any{"compatibility_date": "soon"})), mod)
		}, nil, 400, 10021, ""},
		{"nothing stored by refusals", "GET", sc + "a", nil, nil, 404, 10007, "script_not_found"},
		{"upload", "PUT", sc + "a", func() (string, []byte) {
			return form(metadata(meta(map[string]any{
				"tags":     []string{"tenant:1", "app:a"},
				"bindings": []any{map[string]string{"type": "plain_text", "name": "P", "text": "v"}, map[string]string{"type": "secret_text", "name": "S", "text": "hush"}},
			})), mod, part{"data.json", "text/plain", `{"x":1}`}, part{"w.wasm", "application/wasm", "\x00asm"},
				part{"t.txt", "text/plain", "t"}, part{"b.bin", "application/octet-stream", "b"}, part{"old.js", "text/javascript", "1"})
		}, nil, 200, 0, `"etag":"`},
		{"details", "GET", sc + "a", nil, nil, 200, 0, `"tags":["tenant:1","app:a"]`},
		{"delete missing", "DELETE", sc + "zzz?force=true", nil, nil, 404, 10007, ""},
		{"settings hide secret text", "GET", sc + "a/settings", nil, nil, 200, 0, `{"name":"S","type":"secret_text"}`},
		{"settings as flattened fields", "PATCH", sc + "a/settings", func() (string, []byte) { return form(part{"compatibility_date", "", "2026-01-01"}) }, nil, 400, 10201, ""},
		{"settings part", "PATCH", sc + "a/settings", func() (string, []byte) {
			return settingsForm(`{"compatibility_flags":["nodejs_als"],"logpush":true,"bindings":[{"type":"inherit","name":"P"},{"type":"inherit","name":"S"},{"type":"plain_text","name":"Q","text":"w"}]}`)
		}, nil, 200, 0, `"compatibility_flags":["nodejs_als"]`},
		{"settings kept", "GET", sc + "a/settings", nil, nil, 200, 0, `"logpush":true`},
		{"inherit unknown binding", "PATCH", sc + "a/settings", func() (string, []byte) { return settingsForm(`{"bindings":[{"type":"inherit","name":"NOPE"}]}`) }, nil, 400, 10021, ""},
		{"tags replace", "PUT", sc + "a/tags", func() (string, []byte) { return "application/json", []byte(`["x","y"]`) }, nil, 200, 0, `["x","y"]`},
		{"tags replace too many", "PUT", sc + "a/tags", func() (string, []byte) { return "application/json", []byte(`["1","2","3","4","5","6","7","8","9"]`) }, nil, 400, codeTooManyTags, ""},
		{"tag add", "PUT", sc + "a/tags/z", nil, nil, 200, 0, ""},
		{"tag remove", "DELETE", sc + "a/tags/x", nil, nil, 200, 0, ""},
		{"tags now", "GET", sc + "a/tags", nil, nil, 200, 0, `["y","z"]`},
		{"secret put", "PUT", sc + "a/secrets", func() (string, []byte) {
			return "application/json", []byte(`{"name":"K","text":"v2","type":"secret_text"}`)
		}, nil, 200, 0, `"name":"K"`},
		{"secret clashes with binding", "PUT", sc + "a/secrets", func() (string, []byte) {
			return "application/json", []byte(`{"name":"Q","text":"v2","type":"secret_text"}`)
		}, nil, 400, 10021, ""},
		{"secret list", "GET", sc + "a/secrets", nil, nil, 200, 0, `[{"name":"K","type":"secret_text"},{"name":"S","type":"secret_text"}]`},
		{"secret get", "GET", sc + "a/secrets/K", nil, nil, 200, 0, `{"name":"K","type":"secret_text"}`},
		{"secret delete", "DELETE", sc + "a/secrets/K", nil, nil, 200, 0, ""},
		{"secret gone", "GET", sc + "a/secrets/K", nil, nil, 404, codeSecretNotFound, ""},
		{"content", "GET", sc + "a/content", nil, nil, 200, 0, helloModule},
		{"delete", "DELETE", sc + "a?force=true", nil, nil, 200, 0, ""},
		{"gone", "GET", sc + "a", nil, nil, 404, 10007, ""},
		{"unknown route", "GET", base + "nothing/here", nil, nil, 404, codeRouteNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ct string
			var body []byte
			if tt.body != nil {
				ct, body = tt.body()
			}
			r := ts.call(t, tt.method, tt.path, ct, body, tt.headers...)
			if r.status != tt.wantStatus || r.code() != tt.wantCode {
				t.Fatalf("%s %s = %d code %d, want %d code %d: %s", tt.method, tt.path, r.status, r.code(), tt.wantStatus, tt.wantCode, r.body)
			}
			if !strings.Contains(string(r.body), tt.wantBody) {
				t.Errorf("body %s does not contain %s", r.body, tt.wantBody)
			}
			if tt.wantStatus >= 400 && (r.env.Success || r.header.Get("Content-Type") != "application/json") {
				t.Errorf("error answer is not a failed envelope: %s", r.body)
			}
		})
	}
}

func scriptETag(t *testing.T, r *response) string {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var out struct{ ETag string }
	r.result(t, &out)
	if len(out.ETag) != 64 {
		t.Fatalf("etag %q is not sha256 hex", out.ETag)
	}
	return out.ETag
}

func TestETag(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.mustNamespace(t, "prod")
	plain := map[string]any{"type": "plain_text", "name": "A", "text": "1"}
	first := scriptETag(t, ts.upload(t, "prod", "s", []string{"a"}, plain))
	if again := scriptETag(t, ts.upload(t, "prod", "s", []string{"a"}, plain)); again != first {
		t.Errorf("same upload twice: %s then %s", first, again)
	}
	if other := scriptETag(t, ts.upload(t, "prod", "other", []string{"a"}, plain)); other != first {
		t.Errorf("same content under another name has another etag")
	}
	if retag := scriptETag(t, ts.upload(t, "prod", "s", []string{"b"}, plain)); retag != first {
		t.Errorf("tags changed the etag; the runtime would reload for nothing")
	}
	changed := scriptETag(t, ts.upload(t, "prod", "s", []string{"a"}, map[string]any{"type": "plain_text", "name": "A", "text": "2"}))
	if changed == first {
		t.Errorf("a binding change kept the etag")
	}
	r := ts.call(t, "PUT", base+"workers/dispatch/namespaces/prod/scripts/s/secrets", "application/json", []byte(`{"name":"K","text":"x","type":"secret_text"}`))
	if r.status != 200 {
		t.Fatal(string(r.body))
	}
	var details struct{ Script struct{ ETag string } }
	ts.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts/s", "", nil).result(t, &details)
	if details.Script.ETag == changed {
		t.Errorf("adding a secret kept the etag; a running isolate would miss it")
	}
}

func TestListScriptsByTagWithPaging(t *testing.T) {
	ts := newTestServer(t, Options{Listing: Listing{Shape: ListFlat, Cursor: true}})
	ts.mustNamespace(t, "prod")
	for i := range 25 {
		tags := []string{fmt.Sprintf("tenant:%d", i%3)}
		if i%2 == 0 {
			tags = append(tags, "plan:pro")
		}
		ts.upload(t, "prod", fmt.Sprintf("app-%02d", i), tags)
	}
	list := func(query string) ([]string, error) {
		var names []string
		cursor := ""
		for range 100 {
			q := query + "&limit=4"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			r := ts.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts?"+q, "", nil)
			if r.status != 200 {
				return nil, fmt.Errorf("%d %s", r.status, r.body)
			}
			var page []struct{ ID string }
			r.result(t, &page)
			if len(page) > 4 {
				t.Fatalf("page of %d over limit 4", len(page))
			}
			for _, p := range page {
				names = append(names, p.ID)
			}
			if cursor = r.env.ResultInfo.Cursor; cursor == "" {
				return names, nil
			}
		}
		t.Fatal("cursor never ended")
		return nil, nil
	}
	want := func(pred func(i int) bool) []string {
		var out []string
		for i := range 25 {
			if pred(i) {
				out = append(out, fmt.Sprintf("app-%02d", i))
			}
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"tags=", want(func(int) bool { return true })},
		{"tags=tenant:1:yes", want(func(i int) bool { return i%3 == 1 })},
		{"tags=tenant:1:no", want(func(i int) bool { return i%3 != 1 })},
		{"tags=tenant:0:yes,plan:pro:yes", want(func(i int) bool { return i%3 == 0 && i%2 == 0 })},
		{"tags=tenant:0:yes,plan:pro:no", want(func(i int) bool { return i%3 == 0 && i%2 == 1 })},
		{"tags=nobody:yes", nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := list(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"tags=tenant:1", "tags=tenant:1:maybe", "limit=1001", "limit=0", "cursor=!!!"} {
		if r := ts.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts?"+bad, "", nil); r.status != 400 {
			t.Errorf("%s: status %d, want 400", bad, r.status)
		}
	}
	// Delete by tag is paged: 8 scripts of tenant 2, 3 at a time.
	var rounds []string
	for range 10 {
		r := ts.call(t, "DELETE", base+"workers/dispatch/namespaces/prod/scripts?tags=tenant:2:yes&limit=3", "", nil)
		if r.status != 200 {
			t.Fatalf("delete by tag: %d %s", r.status, r.body)
		}
		var out struct {
			Deleted      []struct{ ID string }
			DeletedCount int  `json:"deleted_count"`
			HasMore      bool `json:"has_more"`
		}
		r.result(t, &out)
		rounds = append(rounds, fmt.Sprintf("%d/%d/%v", len(out.Deleted), out.DeletedCount, out.HasMore))
		if !out.HasMore {
			break
		}
	}
	if fmt.Sprint(rounds) != "[3/3/true 3/3/true 2/2/false]" {
		t.Errorf("delete rounds (deleted/deleted_count/has_more) = %v", rounds)
	}
	if got, _ := list("tags="); !slices.Equal(got, want(func(i int) bool { return i%3 != 2 })) {
		t.Errorf("after delete by tag: %v", got)
	}
	// Without a filter Cloudflare deletes everything (up to limit): the client must never
	// send that, and the emulator does what Cloudflare does.
	if r := ts.call(t, "DELETE", base+"workers/dispatch/namespaces/prod/scripts?limit=1000", "", nil); r.status != 200 || !strings.Contains(string(r.body), `"deleted_count":17`) {
		t.Errorf("delete without a filter: %d %s", r.status, r.body)
	}
}

func TestNormalWorkersAndNamespaces(t *testing.T) {
	ts := newTestServer(t, Options{})
	ct, body := form(metadata(map[string]any{"main_module": "d.js"}), part{"d.js", "application/javascript+module", "export default {}"})
	if r := ts.call(t, "PUT", base+"workers/scripts/claw-dispatcher", ct, body); r.status != 200 {
		t.Fatalf("upload worker: %d %s", r.status, r.body)
	}
	if r := ts.call(t, "GET", base+"workers/scripts/claw-dispatcher", "", nil); r.status != 200 || !strings.Contains(string(r.body), "export default {}") {
		t.Errorf("worker content: %d %s", r.status, r.body)
	}
	if r := ts.call(t, "DELETE", base+"workers/scripts/claw-dispatcher", "", nil); r.status != 200 {
		t.Errorf("delete worker: %d", r.status)
	}
	if r := ts.call(t, "DELETE", base+"workers/scripts/claw-dispatcher", "", nil); r.status != 404 || r.code() != 10007 {
		t.Errorf("delete missing worker: %d %d", r.status, r.code())
	}
	ts.mustNamespace(t, "staging")
	if r := ts.json(t, "POST", base+"workers/dispatch/namespaces", map[string]string{"name": "staging"}); r.status != 400 {
		t.Errorf("duplicate namespace: %d", r.status)
	}
	ts.upload(t, "staging", "a", nil)
	if r := ts.call(t, "GET", base+"workers/dispatch/namespaces/staging", "", nil); !strings.Contains(string(r.body), `"script_count":1`) {
		t.Errorf("namespace: %s", r.body)
	}
	if r := ts.call(t, "DELETE", base+"workers/dispatch/namespaces/staging", "", nil); r.status != 200 {
		t.Errorf("delete namespace: %d", r.status)
	}
	if r := ts.call(t, "GET", base+"workers/dispatch/namespaces/staging/scripts/a", "", nil); r.status != 404 || r.code() != codeNamespaceNotFound {
		t.Errorf("script of a deleted namespace: %d %d", r.status, r.code())
	}
}

func TestConcurrentUploadsAndKV(t *testing.T) {
	ts := newTestServer(t, Options{Listing: Listing{Shape: ListFlat}})
	ts.mustNamespace(t, "prod")
	kv := ts.mustKVNamespace(t, "cfg")
	var events sync.Map
	defer ts.OnChange(func(e Event) { events.Store(e.Kind+"/"+e.Name, true) })()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				name := fmt.Sprintf("g%d-%d", g, i)
				if r := ts.upload(t, "prod", name, []string{fmt.Sprintf("g:%d", g)}); r.status != 200 {
					t.Errorf("upload %s: %d", name, r.status)
				}
				ts.call(t, "PUT", base+"storage/kv/namespaces/"+kv+"/values/"+name, "application/octet-stream", []byte(name))
				ts.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts?tags=g:0:yes", "", nil)
			}
		}()
	}
	wg.Wait()
	var all []json.RawMessage
	ts.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts", "", nil).result(t, &all)
	var keys []json.RawMessage
	ts.call(t, "GET", base+"storage/kv/namespaces/"+kv+"/keys", "", nil).result(t, &keys)
	if len(all) != 80 || len(keys) != 80 {
		t.Errorf("%d scripts and %d keys, want 80 each", len(all), len(keys))
	}
	n := 0
	events.Range(func(_, _ any) bool { n++; return true })
	if n != 160 {
		t.Errorf("%d distinct change events, want 160", n)
	}
}
