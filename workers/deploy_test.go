package workers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

func testApp() (models.App, models.Version, models.Plan) {
	app := models.App{ID: 7, TenantID: 3, Slug: "hello", ScriptName: "app-hello", Status: models.AppActive}
	v := models.Version{ID: 9, Bundle: []byte("export default {}"), BundleName: "worker.js", SHA256: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	return app, v, models.Plan{Key: "free", CPUMs: 50, SubRequests: 10}
}

func TestBuildScript(t *testing.T) {
	app, v, plan := testApp()
	app.KVEnabled, app.KVNamespaceID = true, "kv123"
	vars := []DecryptedVar{{Name: "TOKEN", Value: "s", Secret: true}, {Name: "A", Value: "plain"}}
	up := BuildScript(app, v, vars, plan)
	if up.MainModule != "worker.js" || len(up.Modules) != 1 || string(up.Modules[0].Content) != "export default {}" || up.CompatibilityDate != "2026-11-01" {
		t.Fatalf("upload = %+v", up)
	}
	wantTags := []string{"402claw", "tenant:3", "app:hello", "plan:free", ShardTag(app.ScriptName), "sha:0123456789abcdef"}
	if !slices.Equal(up.Tags, wantTags) {
		t.Errorf("tags = %q, want %q", up.Tags, wantTags)
	}
	got, _ := json.Marshal(up.Bindings)
	want := `[{"name":"A","text":"plain","type":"plain_text"},{"name":"TOKEN","text":"s","type":"secret_text"},{"name":"KV","namespace_id":"kv123","type":"kv_namespace"}]`
	if string(got) != want {
		t.Errorf("bindings = %s\nwant %s", got, want)
	}
	if _, _, err := scriptMultipart(WithFingerprint(up, Fingerprint(up, []byte("k")))); err != nil {
		t.Errorf("the upload is refused by the client: %v", err)
	}
	app.KVEnabled = false
	if b := BuildScript(app, v, nil, plan).Bindings; len(b) != 0 {
		t.Errorf("KV off still binds: %v", b)
	}
}

func TestFingerprint(t *testing.T) {
	app, v, plan := testApp()
	key := []byte("key")
	base := Fingerprint(BuildScript(app, v, nil, plan), key)
	if base != Fingerprint(BuildScript(app, v, nil, plan), key) {
		t.Fatal("fingerprint is not deterministic")
	}
	tagged := WithFingerprint(BuildScript(app, v, nil, plan), base)
	if Fingerprint(tagged, key) != base {
		t.Error("the fp: tag changes the fingerprint it carries")
	}
	if sha, fp := ScriptDigests(tagged.Tags); sha != "0123456789abcdef" || fp != base[:16] {
		t.Errorf("ScriptDigests = %q %q", sha, fp)
	}
	other := v
	other.Bundle = []byte("export default {fetch(){}}")
	kv := app
	kv.KVEnabled, kv.KVNamespaceID = true, "n"
	for name, up := range map[string]ScriptUpload{
		"secret value": BuildScript(app, v, []DecryptedVar{{Name: "S", Value: "x", Secret: true}}, plan),
		"module":       BuildScript(app, other, nil, plan),
		"kv binding":   BuildScript(kv, v, nil, plan),
		"plan tag":     BuildScript(app, v, nil, models.Plan{Key: "pro"}),
	} {
		if Fingerprint(up, key) == base {
			t.Errorf("a change of %s keeps the fingerprint", name)
		}
	}
	if Fingerprint(BuildScript(app, v, nil, plan), []byte("other key")) == base {
		t.Error("the fingerprint does not depend on the key")
	}
}

func TestBuildConfig(t *testing.T) {
	app, v, plan := testApp()
	app.KVEnabled, app.KVNamespaceID = true, "kvid"
	revoked := time.Now()
	st := models.EdgeState{
		App: app, Tenant: models.Tenant{ID: 3, Status: models.TenantActive}, Plan: plan, Version: &v,
		Routes: []models.Route{
			{Method: "GET", Path: "/weather", Access: models.AccessX402, Amount: "1000", Network: "eip155:84532",
				PayTo: "0x209693bc6afc0c5328ba36faf03c514ef312287c", Settle: models.SettleAfter, Description: "Weather", MimeType: "application/json"},
			{Method: "GET", Path: "/free", Access: models.AccessPublic},
		},
		Egress: []models.EgressRule{{Pattern: "api.example.com"}},
		Keys:   []models.APIKey{{Hash: "aa"}, {Hash: "bb", RevokedAt: &revoked}},
	}
	doc, err := BuildConfig(st, 17)
	if err != nil {
		t.Fatal(err)
	}
	got := string(doc.Encode())
	wantPrefix := `{"v":1,"config_version":17,"slug":"hello","script":"app-hello","etag":"` + v.SHA256 + `","tenant_id":3,"status":"active","reason":"","plan":{"key":"free","cpuMs":50,"subRequests":10},"routes":[{"method":"GET","path":"/weather","access":"x402","settle":"after","requirements":{"scheme":"exact","network":"eip155:84532","amount":"1000",`
	if !strings.HasPrefix(got, wantPrefix) {
		t.Fatalf("document =\n%s\nwant prefix\n%s", got, wantPrefix)
	}
	wantSuffix := `"resource":{"description":"Weather","mimeType":"application/json"}},{"method":"GET","path":"/free","access":"public","settle":"after","resource":{"description":"","mimeType":""}}],"api_keys":["aa"],"egress":["api.example.com"],"kv":{"namespace_id":"kvid"}}`
	if !strings.HasSuffix(got, wantSuffix) {
		t.Fatalf("document =\n%s\nwant suffix\n%s", got, wantSuffix)
	}
	if !strings.Contains(got, `"payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C"`) {
		t.Errorf("payTo not normalized to EIP-55: %s", got)
	}
	// A listed app says so: the edge then serves its llms.txt and links its docs page.
	st.App.Listed = true
	if d, err := BuildConfig(st, 17); err != nil || !d.Listed || !strings.HasSuffix(string(d.Encode()), `"kv":{"namespace_id":"kvid"},"listed":true}`) {
		t.Errorf("listed app: %s %v", d.Encode(), err)
	}

	cases := []struct {
		name          string
		tenant, app   string
		status, reaso string
	}{
		{"active", models.TenantActive, models.AppActive, "active", ""},
		{"paused", models.TenantActive, models.AppPaused, "paused", "app reason"},
		{"suspended wins", models.TenantSuspended, models.AppPaused, "suspended", "tenant reason"},
	}
	for _, c := range cases {
		s := models.EdgeState{App: app, Tenant: models.Tenant{Status: c.tenant, StatusReason: "tenant reason"}, Plan: plan}
		s.App.Status, s.App.StatusReason, s.App.KVEnabled = c.app, "app reason", false
		d, err := BuildConfig(s, 1)
		if err != nil || d.Status != c.status || d.Reason != c.reaso || d.ETag != "" || d.KV != nil {
			t.Errorf("%s: %+v, %v", c.name, d, err)
		}
		if enc := string(d.Encode()); !strings.Contains(enc, `"routes":[],"api_keys":[],"egress":[]`) {
			t.Errorf("%s: empty lists not encoded as []: %s", c.name, enc)
		}
	}

	st.Routes = []models.Route{{Method: "GET", Path: "/x", Access: models.AccessX402, Amount: "1", Network: "eip155:1", PayTo: "0x0"}}
	if _, err := BuildConfig(st, 1); err == nil {
		t.Error("a route with unresolvable requirements was built")
	}
}

// TestConfigDigestGolden pins the vector workers/dispatcher/config.test.js checks: the
// dispatcher refuses a document whose digest differs from what the portal computes.
func TestConfigDigestGolden(t *testing.T) {
	key := make([]byte, 32)
	if got := ConfigKeyHex(key); got != "a98cb959b5c89d4a6b022d89724f1444d9fa9d17afd3b6304b87c186d1f6d8a7" {
		t.Errorf("ConfigKeyHex = %s", got)
	}
	if got := DocDigest(key, []byte(`{"v":1,"slug":"shop"}`)); got != "62a860f7c3067f738aa41692b39dd417a15c4ea6ae59918cc861ccaadd724e6b" {
		t.Errorf("DocDigest = %s", got)
	}
}

func TestConfigPairDigest(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	p := ConfigPair(key, "app:x", []byte(`{"v":1}`))
	meta, _ := json.Marshal(p.Metadata)
	if p.Key != "app:x" || p.Value != `{"v":1}` || string(meta) != `{"sha256":"`+DocDigest(key, []byte(`{"v":1}`))+`"}` {
		t.Errorf("pair = %+v meta %s", p, meta)
	}
	// Whoever can write KV can compute a plain hash; only the key holder the digest.
	plain := sha256.Sum256([]byte(`{"v":1}`))
	if DocDigest(key, []byte(`{"v":1}`)) == hex.EncodeToString(plain[:]) {
		t.Error("the digest is a plain hash: a forged document would pass as the portal's")
	}
	if DocDigest(key, []byte(`{"v":1}`)) == DocDigest(bytes.Repeat([]byte{2}, 32), []byte(`{"v":1}`)) {
		t.Error("the digest does not depend on the key")
	}
}

// TestBuildScriptSourceMap: a version with a source map uploads it beside the bundle as
// Cloudflare's source-map part, and a change of the map changes the fingerprint (the edge
// must get the new one); a version without one uploads the bundle alone.
func TestBuildScriptSourceMap(t *testing.T) {
	app, v, plan := testApp()
	withMap := v
	withMap.SourceMap = []byte(`{"version":3,"sources":["index.js"],"mappings":"AAAA"}`)
	for _, tc := range []struct {
		name    string
		v       models.Version
		modules int
	}{{"no map", v, 1}, {"map", withMap, 2}} {
		up := BuildScript(app, tc.v, nil, plan)
		if len(up.Modules) != tc.modules || up.MainModule != "worker.js" || up.Modules[0].Name != "worker.js" {
			t.Fatalf("%s: modules %+v", tc.name, up.Modules)
		}
		ct, body, err := scriptMultipart(up)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, params, _ := mime.ParseMediaType(ct)
		mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
		parts := map[string]string{}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			parts[p.FormName()] = p.Header.Get("Content-Type") + " " + string(b)
		}
		if tc.modules == 2 && parts["worker.js.map"] != "application/source-map "+string(withMap.SourceMap) {
			t.Errorf("%s: map part = %q", tc.name, parts["worker.js.map"])
		}
		if tc.modules == 1 && len(parts) != 2 {
			t.Errorf("%s: parts %v", tc.name, parts)
		}
	}
	other := withMap
	other.SourceMap = []byte(`{"version":3,"sources":["main.js"],"mappings":"AAAA"}`)
	key := []byte("k")
	if Fingerprint(BuildScript(app, withMap, nil, plan), key) == Fingerprint(BuildScript(app, other, nil, plan), key) {
		t.Error("a new source map keeps the fingerprint")
	}
}
