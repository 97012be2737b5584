package localcf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

const base = "/client/v4/accounts/acc/"

type testServer struct {
	*Server
	url string
	dir string
}

func newTestServer(t testing.TB, opts Options) *testServer {
	t.Helper()
	dir := t.TempDir()
	return openTestServer(t, dir, opts)
}

// Tokens and key of test servers (unless a test sets its own).
const (
	testToken        = "test"
	testRuntimeToken = "runtime-test"
)

var testKey = bytes.Repeat([]byte{7}, 32)

func openTestServer(t testing.TB, dir string, opts Options) *testServer {
	t.Helper()
	if opts.Token == "" {
		opts.Token = testToken
	}
	if opts.RuntimeToken == "" {
		opts.RuntimeToken = testRuntimeToken
	}
	if opts.SecretKey == nil {
		opts.SecretKey = testKey
	}
	s, err := New(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(func() { srv.Close(); s.Close() })
	return &testServer{Server: s, url: srv.URL, dir: dir}
}

type response struct {
	status int
	header http.Header
	body   []byte
	env    struct {
		Success    bool            `json:"success"`
		Errors     []apiError      `json:"errors"`
		Result     json.RawMessage `json:"result"`
		ResultInfo struct {
			Cursor string `json:"cursor"`
			Count  int    `json:"count"`
		} `json:"result_info"`
	}
}

func (r *response) code() int {
	if len(r.env.Errors) == 0 {
		return 0
	}
	return r.env.Errors[0].Code
}

func (r *response) result(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.env.Result, v); err != nil {
		t.Fatalf("decode result %s: %v", r.env.Result, err)
	}
}

// call sends one request with a bearer token unless headers say otherwise.
func (ts *testServer) call(t testing.TB, method, path, contentType string, body []byte, headers ...string) *response {
	t.Helper()
	req, err := http.NewRequest(method, ts.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(path, "/runtime/") {
		req.Header.Set("Authorization", "Bearer "+testRuntimeToken)
	} else {
		req.Header.Set("Authorization", "Bearer "+testToken)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := &response{status: res.StatusCode, header: res.Header}
	out.body, _ = io.ReadAll(res.Body)
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		json.Unmarshal(out.body, &out.env)
	}
	return out
}

func (ts *testServer) json(t testing.TB, method, path string, v any) *response {
	t.Helper()
	b, _ := json.Marshal(v)
	return ts.call(t, method, path, "application/json", b)
}

type part struct {
	name, contentType, content string
}

func form(parts ...part) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.name, p.name))
		if p.contentType != "" {
			h.Set("Content-Type", p.contentType)
		}
		w, _ := mw.CreatePart(h)
		io.WriteString(w, p.content)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func metadata(v map[string]any) part {
	b, _ := json.Marshal(v)
	return part{"metadata", "application/json", string(b)}
}

const helloModule = "export default {fetch(){return new Response('hello')}}"

// upload stores a one-module user script with the given tags and bindings.
func (ts *testServer) upload(t testing.TB, ns, name string, tags []string, bindings ...map[string]any) *response {
	t.Helper()
	meta := map[string]any{"main_module": "index.js", "compatibility_date": "2026-11-01"}
	if tags != nil {
		meta["tags"] = tags
	}
	if bindings != nil {
		meta["bindings"] = bindings
	}
	ct, body := form(metadata(meta), part{"index.js", "application/javascript+module", helloModule})
	return ts.call(t, "PUT", base+"workers/dispatch/namespaces/"+ns+"/scripts/"+url.PathEscape(name), ct, body)
}

func (ts *testServer) mustNamespace(t testing.TB, name string) {
	t.Helper()
	if r := ts.json(t, "POST", base+"workers/dispatch/namespaces", map[string]string{"name": name}); r.status != 200 {
		t.Fatalf("create namespace: %d %s", r.status, r.body)
	}
}

func (ts *testServer) mustKVNamespace(t testing.TB, title string) string {
	t.Helper()
	r := ts.json(t, "POST", base+"storage/kv/namespaces", map[string]string{"title": title})
	if r.status != 200 {
		t.Fatalf("create kv namespace: %d %s", r.status, r.body)
	}
	var ns struct{ ID string }
	r.result(t, &ns)
	return ns.ID
}
