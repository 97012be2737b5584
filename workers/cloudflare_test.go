package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/402claw/402claw/workers/localcf"
)

type recordedRequest struct {
	Method      string
	URI         string // as sent, still escaped
	ContentType string
	Auth        string
	Body        []byte
}

// wireRecorder is a fake Cloudflare API that records every request and answers with respond.
type wireRecorder struct {
	mu       sync.Mutex
	requests []recordedRequest
	respond  func(n int, r recordedRequest, w http.ResponseWriter)
}

func (rec *wireRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := recordedRequest{Method: r.Method, URI: r.RequestURI, ContentType: r.Header.Get("Content-Type"), Auth: r.Header.Get("Authorization"), Body: body}
	rec.mu.Lock()
	rec.requests = append(rec.requests, req)
	n := len(rec.requests) - 1
	rec.mu.Unlock()
	if rec.respond != nil {
		rec.respond(n, req, w)
		return
	}
	okJSON(w, nil, nil)
}

func (rec *wireRecorder) all() []recordedRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.requests)
}

func okJSON(w http.ResponseWriter, result any, info any) {
	w.Header().Set("Content-Type", "application/json")
	env := map[string]any{"success": true, "errors": []any{}, "messages": []any{}, "result": result}
	if info != nil {
		env["result_info"] = info
	}
	json.NewEncoder(w).Encode(env)
}

func newRecorded(t *testing.T, respond func(int, recordedRequest, http.ResponseWriter)) (*Cloudflare, *wireRecorder) {
	t.Helper()
	rec := &wireRecorder{respond: respond}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	cf := NewCloudflare(CloudflareConfig{APIToken: "tok", AccountID: "acc", BaseURL: srv.URL + "/client/v4", MaxRetries: -1})
	return cf, rec
}

func TestUploadUserScriptWire(t *testing.T) {
	cf, rec := newRecorded(t, func(_ int, _ recordedRequest, w http.ResponseWriter) {
		okJSON(w, map[string]any{"id": "shop", "etag": "e7a9", "tags": []string{"tenant:42"}, "modified_on": "2026-11-20T10:00:00Z"}, nil)
	})
	info, err := cf.UploadUserScript(context.Background(), "production", "shop", ScriptUpload{
		MainModule: "index.js",
		Modules: []ScriptModule{
			{Name: "index.js", Content: []byte("import d from './data.json';\nexport default {fetch(){return new Response('hi')}}")},
			{Name: "data.json", ContentType: "text/plain", Content: []byte(`{"a":1}`)},
		},
		CompatibilityDate:  "2026-11-01",
		CompatibilityFlags: []string{"nodejs_compat"},
		Bindings:           []Binding{{"type": "plain_text", "name": "GREETING", "text": "hi"}},
		Tags:               []string{"tenant:42", "app:shop"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != "e7a9" || info.Name != "shop" || info.ModifiedOn.IsZero() || !slices.Equal(info.Tags, []string{"tenant:42"}) {
		t.Errorf("info = %+v", info)
	}
	reqs := rec.all()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "PUT" || r.URI != "/client/v4/accounts/acc/workers/dispatch/namespaces/production/scripts/shop" {
		t.Errorf("request line = %s %s", r.Method, r.URI)
	}
	if r.Auth != "Bearer tok" {
		t.Errorf("Authorization = %q", r.Auth)
	}
	mt, params, err := mime.ParseMediaType(r.ContentType)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("Content-Type = %q", r.ContentType)
	}
	b := params["boundary"]
	want := "--" + b + "\r\n" +
		"Content-Disposition: form-data; name=\"metadata\"\r\n" +
		"Content-Type: application/json\r\n\r\n" +
		`{"bindings":[{"name":"GREETING","text":"hi","type":"plain_text"}],"compatibility_date":"2026-11-01","compatibility_flags":["nodejs_compat"],"main_module":"index.js","tags":["tenant:42","app:shop"]}` +
		"\r\n--" + b + "\r\n" +
		"Content-Disposition: form-data; name=\"index.js\"; filename=\"index.js\"\r\n" +
		"Content-Type: application/javascript+module\r\n\r\n" +
		"import d from './data.json';\nexport default {fetch(){return new Response('hi')}}" +
		"\r\n--" + b + "\r\n" +
		"Content-Disposition: form-data; name=\"data.json\"; filename=\"data.json\"\r\n" +
		"Content-Type: text/plain\r\n\r\n" +
		`{"a":1}` +
		"\r\n--" + b + "--\r\n"
	if string(r.Body) != want {
		t.Errorf("body:\n%q\nwant:\n%q", r.Body, want)
	}
}

func TestUploadWorkerWireOmitsUnsetFields(t *testing.T) {
	cf, rec := newRecorded(t, func(_ int, _ recordedRequest, w http.ResponseWriter) {
		okJSON(w, map[string]any{"id": "claw-dispatcher", "etag": "abc"}, nil)
	})
	info, err := cf.UploadWorker(context.Background(), "claw-dispatcher", ScriptUpload{
		MainModule: "dispatcher.js",
		Modules:    []ScriptModule{{Name: "dispatcher.js", Content: []byte("export default {}")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.ETag != "abc" {
		t.Errorf("etag = %q", info.ETag)
	}
	r := rec.all()[0]
	if r.Method != "PUT" || r.URI != "/client/v4/accounts/acc/workers/scripts/claw-dispatcher" {
		t.Errorf("request line = %s %s", r.Method, r.URI)
	}
	// Nil tags leave the script's tags alone, so "tags" must be absent; bindings are always
	// sent so that removing the last binding works.
	if !bytes.Contains(r.Body, []byte(`{"bindings":[],"main_module":"dispatcher.js"}`)) {
		t.Errorf("metadata not as expected in %q", r.Body)
	}
}

func TestScriptUploadRefusedBeforeAnyRequest(t *testing.T) {
	mod := []ScriptModule{{Name: "index.js", Content: []byte("export default {}")}}
	tests := []struct {
		name   string
		upload ScriptUpload
	}{
		{"nine tags", ScriptUpload{MainModule: "index.js", Modules: mod, Tags: []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}}},
		{"comma in tag", ScriptUpload{MainModule: "index.js", Modules: mod, Tags: []string{"a,b"}}},
		{"ampersand in tag", ScriptUpload{MainModule: "index.js", Modules: mod, Tags: []string{"a&b"}}},
		{"empty tag", ScriptUpload{MainModule: "index.js", Modules: mod, Tags: []string{""}}},
		{"main module missing", ScriptUpload{MainModule: "main.js", Modules: mod}},
		{"no main module", ScriptUpload{Modules: mod}},
	}
	cf, rec := newRecorded(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cf.UploadUserScript(context.Background(), "ns", "s", tt.upload); err == nil {
				t.Error("upload succeeded, want an error")
			}
		})
	}
	eight := ScriptUpload{MainModule: "index.js", Modules: mod, Tags: []string{"1", "2", "3", "4", "5", "6", "7", "8"}}
	if _, err := cf.UploadUserScript(context.Background(), "ns", "s", eight); err != nil {
		t.Errorf("eight tags refused: %v", err)
	}
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d requests reached the API, want only the valid one", n)
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	tests := []struct {
		name, key, wantSegment string
	}{
		{"slash", "a/b", "a%2Fb"},
		{"space", "with space", "with%20space"},
		{"percent", "100%", "100%25"},
		{"unicode", "ünï/ç", "%C3%BCn%C3%AF%2F%C3%A7"},
		{"question mark and hash", "a?b#c", "a%3Fb%23c"},
		{"colon", "app:shop", "app:shop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, rec := newRecorded(t, nil)
			ctx := context.Background()
			if err := cf.PutKV(ctx, "ns1", tt.key, []byte("v")); err != nil {
				t.Fatal(err)
			}
			cf.DeleteKV(ctx, "ns1", tt.key)
			cf.DeleteUserScript(ctx, "prod", tt.key)
			reqs := rec.all()
			want := []string{
				"/client/v4/accounts/acc/storage/kv/namespaces/ns1/values/" + tt.wantSegment,
				"/client/v4/accounts/acc/storage/kv/namespaces/ns1/values/" + tt.wantSegment,
				"/client/v4/accounts/acc/workers/dispatch/namespaces/prod/scripts/" + tt.wantSegment + "?force=true",
			}
			for i, w := range want {
				if reqs[i].URI != w {
					t.Errorf("request %d: %s, want %s", i, reqs[i].URI, w)
				}
			}
		})
	}
}

func TestKVValuesAreRaw(t *testing.T) {
	binary := make([]byte, 256)
	for i := range binary {
		binary[i] = byte(i)
	}
	cf, rec := newRecorded(t, func(_ int, r recordedRequest, w http.ResponseWriter) {
		if r.Method == "GET" {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(binary)
			return
		}
		okJSON(w, nil, nil)
	})
	ctx := context.Background()
	if err := cf.PutKV(ctx, "ns", "k", binary); err != nil {
		t.Fatal(err)
	}
	put := rec.all()[0]
	if put.Method != "PUT" || put.ContentType != "application/octet-stream" || !bytes.Equal(put.Body, binary) {
		t.Errorf("put sent %s %q body %q", put.Method, put.ContentType, put.Body)
	}
	got, err := cf.GetKV(ctx, "ns", "k")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, binary) {
		t.Errorf("GetKV = %q", got)
	}
}

func TestKVBulkIsChunked(t *testing.T) {
	tests := []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{1}},
		{10000, []int{10000}},
		{10001, []int{10000, 1}},
		{25000, []int{10000, 10000, 5000}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) {
			cf, rec := newRecorded(t, nil)
			pairs := make([]KVPair, tt.n)
			keys := make([]string, tt.n)
			for i := range pairs {
				pairs[i] = KVPair{Key: fmt.Sprintf("k%05d", i), Value: "v"}
				keys[i] = pairs[i].Key
			}
			ctx := context.Background()
			if err := cf.PutKVBulk(ctx, "ns", pairs); err != nil {
				t.Fatal(err)
			}
			if err := cf.DeleteKVBulk(ctx, "ns", keys); err != nil {
				t.Fatal(err)
			}
			var puts, dels []int
			next := 0
			for _, r := range rec.all() {
				switch {
				case r.Method == "PUT" && r.URI == "/client/v4/accounts/acc/storage/kv/namespaces/ns/bulk":
					var got []KVPair
					if err := json.Unmarshal(r.Body, &got); err != nil {
						t.Fatal(err)
					}
					if len(got) > 0 && got[0].Key != fmt.Sprintf("k%05d", next) {
						t.Errorf("chunk starts at %q, want k%05d", got[0].Key, next)
					}
					next += len(got)
					puts = append(puts, len(got))
				case r.Method == "POST" && r.URI == "/client/v4/accounts/acc/storage/kv/namespaces/ns/bulk/delete":
					var got []string
					if err := json.Unmarshal(r.Body, &got); err != nil {
						t.Fatal(err)
					}
					dels = append(dels, len(got))
				default:
					t.Errorf("unexpected request %s %s", r.Method, r.URI)
				}
			}
			if !slices.Equal(puts, tt.want) || !slices.Equal(dels, tt.want) {
				t.Errorf("put chunks %v, delete chunks %v, want %v", puts, dels, tt.want)
			}
		})
	}
	// One pair on the wire, exactly.
	cf, rec := newRecorded(t, nil)
	cf.PutKVBulk(context.Background(), "ns", []KVPair{{Key: "app:shop", Value: `{"v":1}`}, {Key: "b", Value: "AAE=", Base64: true, ExpirationTTL: 120, Metadata: map[string]int{"v": 2}}})
	want := `[{"key":"app:shop","value":"{\"v\":1}"},{"key":"b","value":"AAE=","base64":true,"expiration_ttl":120,"metadata":{"v":2}}]`
	if got := string(rec.all()[0].Body); got != want {
		t.Errorf("bulk body %s, want %s", got, want)
	}
}

func TestListsFollowCursors(t *testing.T) {
	pages := map[string]struct {
		names []string
		next  string
	}{
		"":   {[]string{"a", "b"}, "c1"},
		"c1": {[]string{"c"}, "c2"},
		"c2": {[]string{"d"}, ""},
	}
	cf, rec := newRecorded(t, func(_ int, r recordedRequest, w http.ResponseWriter) {
		if r.Method == "DELETE" {
			okJSON(w, map[string]any{"deleted": []any{}, "deleted_count": 0, "has_more": false}, nil)
			return
		}
		req, _ := http.NewRequest(r.Method, r.URI, nil)
		p := pages[req.URL.Query().Get("cursor")]
		var result []map[string]string
		for _, n := range p.names {
			if strings.Contains(r.URI, "/keys") {
				result = append(result, map[string]string{"name": n})
			} else {
				result = append(result, map[string]string{"id": n, "etag": "e-" + n})
			}
		}
		okJSON(w, result, map[string]any{"cursor": p.next, "count": len(result)})
	})
	ctx := context.Background()
	scripts, err := cf.ListUserScripts(ctx, "prod", "tenant:42:yes", "plan:free:no")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range scripts {
		names = append(names, s.Name+"/"+s.ETag)
	}
	if !slices.Equal(names, []string{"a/e-a", "b/e-b", "c/e-c", "d/e-d"}) {
		t.Errorf("scripts = %v", names)
	}
	keys, err := cf.KVKeys(ctx, "ns", "app:")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"a", "b", "c", "d"}) {
		t.Errorf("keys = %v", keys)
	}
	var uris []string
	for _, r := range rec.all() {
		uris = append(uris, r.URI)
	}
	want := []string{
		"/client/v4/accounts/acc/workers/dispatch/namespaces/prod/scripts?limit=1000&tags=tenant%3A42%3Ayes%2Cplan%3Afree%3Ano",
		"/client/v4/accounts/acc/workers/dispatch/namespaces/prod/scripts?cursor=c1&limit=1000&tags=tenant%3A42%3Ayes%2Cplan%3Afree%3Ano",
		"/client/v4/accounts/acc/workers/dispatch/namespaces/prod/scripts?cursor=c2&limit=1000&tags=tenant%3A42%3Ayes%2Cplan%3Afree%3Ano",
		"/client/v4/accounts/acc/storage/kv/namespaces/ns/keys?limit=1000&prefix=app%3A",
		"/client/v4/accounts/acc/storage/kv/namespaces/ns/keys?cursor=c1&limit=1000&prefix=app%3A",
		"/client/v4/accounts/acc/storage/kv/namespaces/ns/keys?cursor=c2&limit=1000&prefix=app%3A",
	}
	if !slices.Equal(uris, want) {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(uris, "\n"), strings.Join(want, "\n"))
	}
	if _, err := cf.ListUserScripts(ctx, "prod", "tenant:42"); err == nil {
		t.Error("a filter without :yes/:no was accepted")
	}
	if _, err := cf.DeleteUserScriptsByTag(ctx, "prod", "tenant:42:yes"); err != nil {
		t.Fatal(err)
	}
	last := rec.all()[len(rec.all())-1]
	if last.Method != "DELETE" || last.URI != "/client/v4/accounts/acc/workers/dispatch/namespaces/prod/scripts?limit=100&tags=tenant%3A42%3Ayes" {
		t.Errorf("delete by tag sent %s %s", last.Method, last.URI)
	}
}

func TestErrorAnswers(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		contentType  string
		body         string
		wantText     string
		wantNotFound bool
	}{
		{"missing script", 404, "application/json", `{"success":false,"errors":[{"code":10007,"message":"workers.api.error.script_not_found"}],"messages":[],"result":null}`,
			"cloudflare: 10007 workers.api.error.script_not_found (HTTP 404)", true},
		{"server error text", 500, "application/json", `{"success":false,"errors":[{"code":10013,"message":"An unknown error occurred"}],"messages":[],"result":null}`,
			"cloudflare: 10013 An unknown error occurred (HTTP 500)", false},
		{"two errors", 400, "application/json", `{"success":false,"errors":[{"code":10021,"message":"Uncaught SyntaxError"},{"code":10068,"message":"at index.js:1"}],"messages":[],"result":null}`,
			"cloudflare: 10021 Uncaught SyntaxError; 10068 at index.js:1 (HTTP 400)", false},
		{"html from a proxy", 502, "text/html", `<html>Bad gateway</html>`,
			"cloudflare: <html>Bad gateway</html> (HTTP 502)", false},
		{"success false with 200", 200, "application/json", `{"success":false,"errors":[{"code":10001,"message":"odd"}],"messages":[],"result":null}`,
			"cloudflare: 10001 odd (HTTP 200)", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, _ := newRecorded(t, func(_ int, _ recordedRequest, w http.ResponseWriter) {
				w.Header().Set("Content-Type", tt.contentType)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			err := cf.DeleteUserScript(context.Background(), "prod", "gone")
			var apiErr *APIError
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if apiErr.Error() != tt.wantText {
				t.Errorf("text = %q, want %q", apiErr.Error(), tt.wantText)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("wrapped text %q lost Cloudflare's text", err.Error())
			}
			if errors.Is(err, ErrNotFound) != tt.wantNotFound {
				t.Errorf("errors.Is(err, ErrNotFound) = %v", !tt.wantNotFound)
			}
		})
	}
}

func TestUploadRetriesWithTheSameBody(t *testing.T) {
	rec := &wireRecorder{}
	rec.respond = func(n int, _ recordedRequest, w http.ResponseWriter) {
		if n == 0 {
			// Retry-After-Ms keeps the SDK's back-off short.
			w.Header().Set("Retry-After-Ms", "1")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(503)
			io.WriteString(w, `{"success":false,"errors":[{"code":10013,"message":"busy"}],"messages":[],"result":null}`)
			return
		}
		okJSON(w, map[string]any{"id": "s", "etag": "e1"}, nil)
	}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	cf := NewCloudflare(CloudflareConfig{APIToken: "tok", AccountID: "acc", BaseURL: srv.URL + "/client/v4", MaxRetries: 2})
	info, err := cf.UploadUserScript(context.Background(), "ns", "s", ScriptUpload{MainModule: "a.js", Modules: []ScriptModule{{Name: "a.js", Content: []byte("export default {}")}}})
	if err != nil || info.ETag != "e1" {
		t.Fatalf("info %+v, err %v", info, err)
	}
	reqs := rec.all()
	if len(reqs) != 2 || !bytes.Equal(reqs[0].Body, reqs[1].Body) || len(reqs[1].Body) == 0 {
		t.Errorf("%d requests; the retry must resend the same non-empty body", len(reqs))
	}
}

// TestCloudflareAgainstLocalCF runs the client against the emulator: the local install's path.
func TestCloudflareAgainstLocalCF(t *testing.T) {
	emu, err := localcf.New(t.TempDir(), localcf.Options{Token: "local", RuntimeToken: "runtime", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	defer srv.Close()
	cf := NewCloudflare(CloudflareConfig{APIToken: "local", AccountID: "acc", BaseURL: srv.URL + "/client/v4", MaxRetries: -1})
	ctx := context.Background()

	if err := cf.CreateDispatchNamespace(ctx, "production"); err != nil {
		t.Fatal(err)
	}
	if nss, err := cf.DispatchNamespaces(ctx); err != nil || !slices.Equal(nss, []string{"production"}) {
		t.Fatalf("namespaces %v, %v", nss, err)
	}
	up := func(tags ...string) ScriptUpload {
		return ScriptUpload{
			MainModule: "index.js", CompatibilityDate: "2026-11-01", Tags: tags,
			Modules:  []ScriptModule{{Name: "index.js", Content: []byte("export default {fetch(){return new Response('ok')}}")}},
			Bindings: []Binding{{"type": "plain_text", "name": "A", "text": "b"}},
		}
	}
	if _, err := cf.UploadUserScript(ctx, "production", "shop/ü 100%", up("tenant:1")); err == nil || !strings.Contains(err.Error(), "invalid script name") {
		t.Errorf("an invalid script name was not refused before the request: %v", err)
	}
	weird := "_shop-1_x"
	first, err := cf.UploadUserScript(ctx, "production", weird, up("tenant:1", "plan:free"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := cf.UploadUserScript(ctx, "production", weird, up("tenant:1", "plan:free"))
	if err != nil {
		t.Fatal(err)
	}
	if first.ETag == "" || first.ETag != again.ETag || first.Name != weird {
		t.Errorf("same upload gave %+v then %+v", first, again)
	}
	for _, name := range []string{"b-app", "c-app"} {
		if _, err := cf.UploadUserScript(ctx, "production", name, up("tenant:2", "plan:pro")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := cf.UserScript(ctx, "production", weird)
	if err != nil || got.ETag != first.ETag || !slices.Equal(got.Tags, []string{"tenant:1", "plan:free"}) {
		t.Errorf("UserScript = %+v, %v", got, err)
	}
	if list, err := cf.ListUserScripts(ctx, "production", "tenant:2:yes"); err != nil || len(list) != 2 {
		t.Errorf("tenant:2 scripts = %+v, %v", list, err)
	}
	if list, err := cf.ListUserScripts(ctx, "production", "tenant:2:no"); err != nil || len(list) != 1 || list[0].Name != weird {
		t.Errorf("not tenant:2 = %+v, %v", list, err)
	}
	if n, err := cf.DeleteUserScriptsByTag(ctx, "production", "plan:pro:yes"); err != nil || n != 2 {
		t.Fatalf("delete by tag: %d deleted, %v", n, err)
	}
	if err := cf.DeleteUserScript(ctx, "production", weird); err != nil {
		t.Fatal(err)
	}
	err = cf.DeleteUserScript(ctx, "production", weird)
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "10007") {
		t.Errorf("second delete: %v, want ErrNotFound with 10007", err)
	}
	if list, err := cf.ListUserScripts(ctx, "production"); err != nil || len(list) != 0 {
		t.Errorf("left after deletes: %+v, %v", list, err)
	}
	if _, err := cf.UploadWorker(ctx, "claw-dispatcher", up()); err != nil {
		t.Fatal(err)
	}

	kv, err := cf.CreateKVNamespace(ctx, "claw-config")
	if err != nil {
		t.Fatal(err)
	}
	if all, err := cf.KVNamespaces(ctx); err != nil || len(all) != 1 || all[0] != kv {
		t.Errorf("KVNamespaces = %v, %v", all, err)
	}
	binary := []byte{0, 1, 2, 0xff, '\n', '"'}
	for _, key := range []string{"a/b", "sp ace", "100%", "ünï", "app:shop"} {
		if err := cf.PutKV(ctx, kv.ID, key, binary); err != nil {
			t.Fatal(err)
		}
		if v, err := cf.GetKV(ctx, kv.ID, key); err != nil || !bytes.Equal(v, binary) {
			t.Errorf("GetKV(%q) = %q, %v", key, v, err)
		}
	}
	if _, err := cf.GetKV(ctx, kv.ID, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
	pairs := make([]KVPair, 2500)
	for i := range pairs {
		pairs[i] = KVPair{Key: fmt.Sprintf("app:%04d", i), Value: fmt.Sprintf(`{"n":%d}`, i)}
	}
	if err := cf.PutKVBulk(ctx, kv.ID, pairs); err != nil {
		t.Fatal(err)
	}
	keys, err := cf.KVKeys(ctx, kv.ID, "app:")
	if err != nil || len(keys) != 2501 || keys[0] != "app:0000" || keys[2500] != "app:shop" {
		t.Errorf("KVKeys: %d keys, %v", len(keys), err)
	}
	if err := cf.DeleteKVBulk(ctx, kv.ID, keys[:2500]); err != nil {
		t.Fatal(err)
	}
	if keys, _ := cf.KVKeys(ctx, kv.ID, ""); len(keys) != 5 {
		t.Errorf("after bulk delete: %v", keys)
	}
	if err := cf.DeleteKV(ctx, kv.ID, "a/b"); err != nil {
		t.Fatal(err)
	}
	if err := cf.DeleteKVNamespace(ctx, kv.ID); err != nil {
		t.Fatal(err)
	}
	if err := cf.PutKV(ctx, kv.ID, "x", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("put into a deleted namespace: %v", err)
	}
}
