package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"testing"
	"time"

	"github.com/402claw/402claw/workers/localcf"
)

// TestWithLocalCF runs the edge against the real local Cloudflare API:
// resources are created through its REST API as the portal would, and the
// runtime reads them back through /runtime/.
func TestWithLocalCF(t *testing.T) {
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	cf, err := localcf.New(t.TempDir(), localcf.Options{Token: "t", RuntimeToken: testRuntimeToken, SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(cf)
	defer srv.Close()
	api := func(method, path, ctype string, body []byte) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+"/client/v4/accounts/acct/"+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set("Content-Type", ctype)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var env map[string]any
		json.Unmarshal(b, &env)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
		}
		return env
	}
	api("POST", "workers/dispatch/namespaces", "application/json", []byte(`{"name":"prod"}`))
	cfgNS := api("POST", "storage/kv/namespaces", "application/json", []byte(`{"title":"config"}`))["result"].(map[string]any)["id"].(string)
	appNS := api("POST", "storage/kv/namespaces", "application/json", []byte(`{"title":"app-kv"}`))["result"].(map[string]any)["id"].(string)

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	meta, _ := json.Marshal(map[string]any{"main_module": "index.js", "compatibility_date": "2026-11-01",
		"bindings": []map[string]any{{"type": "plain_text", "name": "GREETING", "text": "hi"}, {"type": "kv_namespace", "name": "KV", "namespace_id": appNS}}})
	mw.WriteField("metadata", string(meta))
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="index.js"; filename="index.js"`)
	h.Set("Content-Type", "application/javascript+module")
	p, _ := mw.CreatePart(h)
	io.WriteString(p, `export default { async fetch(req, env) { await env.KV.put("k", "v1"); return new Response(env.GREETING + " " + await env.KV.get("k") + " " + new URL(req.url).pathname); } };`)
	mw.Close()
	api("PUT", "workers/dispatch/namespaces/prod/scripts/app-real", mw.FormDataContentType(), buf.Bytes())
	doc, _ := json.Marshal(map[string]any{"v": 1, "config_version": 1, "slug": "real", "script": "app-real", "etag": "v1", "tenant_id": 1,
		"status": "active", "plan": map[string]any{"cpuMs": 50, "subRequests": 10}, "routes": []any{}, "api_keys": []any{}, "egress": []any{}})
	api("PUT", "storage/kv/namespaces/"+cfgNS+"/values/app:real", "application/octet-stream", doc)

	rt, err := Start(context.Background(), Options{WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, EdgeAPIToken: testRuntimeToken,
		Namespace: "prod", ConfigKVNamespaceID: cfgNS, DataDir: t.TempDir(), SubrequestEmulation: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Stop(ctx)
	}()
	e := &edgeEnv{rt: rt}
	if r := e.do(t, "GET", "real.localhost", "/x", nil); r.status != 200 || r.body != "hi v1 /x" {
		t.Fatalf("through localcf: %d %s", r.status, r.body)
	}
	if r := e.do(t, "GET", "", "/nothere/x", nil); r.status != 404 || r.errorCode() != "app_not_found" {
		t.Fatalf("unknown app through localcf: %d %s", r.status, r.body)
	}
}
