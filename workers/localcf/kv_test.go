package localcf

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKVValues(t *testing.T) {
	ts := newTestServer(t, Options{})
	ns := ts.mustKVNamespace(t, "cfg")
	values := base + "storage/kv/namespaces/" + ns + "/values/"
	binary := []byte{0, 1, 2, 0xfe, 0xff, '\n', '"', '{'}
	tests := []struct {
		name, key string
		value     []byte
	}{
		{"binary", "bin", binary},
		{"slash key", "app/shop/config", []byte("x")},
		{"space percent unicode", "a b%c ü", []byte("y")},
		{"empty value", "empty", []byte{}},
		{"json text", "app:shop", []byte(`{"script":"shop"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if r := ts.call(t, "PUT", values+url.PathEscape(tt.key), "application/octet-stream", tt.value); r.status != 200 {
				t.Fatalf("put: %d %s", r.status, r.body)
			}
			r := ts.call(t, "GET", values+url.PathEscape(tt.key), "", nil)
			if r.status != 200 || !bytes.Equal(r.body, tt.value) {
				t.Errorf("get = %d %q, want %q", r.status, r.body, tt.value)
			}
		})
	}
	if r := ts.call(t, "GET", values+"missing", "", nil); r.status != 404 || r.code() != codeKVKeyNotFound {
		t.Errorf("missing key: %d %d", r.status, r.code())
	}
	if r := ts.call(t, "GET", base+"storage/kv/namespaces/nope/values/x", "", nil); r.status != 404 || r.code() != codeKVNamespaceNotFound {
		t.Errorf("missing namespace: %d %d", r.status, r.code())
	}
	if r := ts.call(t, "PUT", values+"ttl?expiration_ttl=30", "", []byte("v")); r.status != 400 {
		t.Errorf("ttl under 60 s accepted: %d", r.status)
	}
	if r := ts.call(t, "PUT", values+strings.Repeat("k", 513), "", []byte("v")); r.status != 414 {
		t.Errorf("513-byte key: %d", r.status)
	}
	// The metadata variant.
	ct, body := form(part{"value", "", "with-meta"}, part{"metadata", "", `{"v": 1}`})
	if r := ts.call(t, "PUT", values+"m", ct, body); r.status != 200 {
		t.Fatalf("multipart put: %d %s", r.status, r.body)
	}
	if r := ts.call(t, "GET", values+"m", "", nil); string(r.body) != "with-meta" {
		t.Errorf("multipart value = %q", r.body)
	}
	if r := ts.call(t, "GET", base+"storage/kv/namespaces/"+ns+"/metadata/m", "", nil); string(r.env.Result) != `{"v":1}` {
		t.Errorf("metadata = %s", r.env.Result)
	}
	if r := ts.call(t, "DELETE", values+"m", "", nil); r.status != 200 {
		t.Errorf("delete: %d", r.status)
	}
	if r := ts.call(t, "DELETE", values+"m", "", nil); r.status != 200 {
		t.Errorf("deleting a missing key must succeed like Cloudflare: %d", r.status)
	}
	if r := ts.json(t, "POST", base+"storage/kv/namespaces", map[string]string{"title": "cfg"}); r.status != 400 || r.code() != codeKVNamespaceExists {
		t.Errorf("duplicate title: %d %d", r.status, r.code())
	}
}

func TestKVExpiration(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := &now
	ts := newTestServer(t, Options{Now: func() time.Time { return *clock }})
	ns := ts.mustKVNamespace(t, "cfg")
	ts.call(t, "PUT", base+"storage/kv/namespaces/"+ns+"/values/soon?expiration_ttl=60", "", []byte("v"))
	if r := ts.call(t, "GET", base+"storage/kv/namespaces/"+ns+"/values/soon", "", nil); r.status != 200 {
		t.Fatalf("before expiry: %d", r.status)
	}
	later := now.Add(61 * time.Second)
	clock = &later
	if r := ts.call(t, "GET", base+"storage/kv/namespaces/"+ns+"/values/soon", "", nil); r.status != 404 {
		t.Errorf("after expiry: %d", r.status)
	}
}

func TestKVBulkAndKeys(t *testing.T) {
	ts := newTestServer(t, Options{})
	ns := ts.mustKVNamespace(t, "cfg")
	kvBase := base + "storage/kv/namespaces/" + ns
	type pair struct {
		Key      string `json:"key"`
		Value    string `json:"value"`
		Base64   bool   `json:"base64,omitempty"`
		Metadata any    `json:"metadata,omitempty"`
	}
	var pairs []pair
	for i := range 2500 {
		pairs = append(pairs, pair{Key: fmt.Sprintf("app:%04d", i), Value: fmt.Sprint(i)})
	}
	pairs = append(pairs, pair{Key: "host:x.example", Value: base64.StdEncoding.EncodeToString([]byte{0, 0xff}), Base64: true, Metadata: map[string]int{"v": 3}})
	if r := ts.json(t, "PUT", kvBase+"/bulk", pairs); r.status != 200 || !strings.Contains(string(r.body), `"successful_key_count":2501`) {
		t.Fatalf("bulk: %d %s", r.status, r.body)
	}
	if r := ts.call(t, "GET", kvBase+"/values/host:x.example", "", nil); !bytes.Equal(r.body, []byte{0, 0xff}) {
		t.Errorf("base64 value = %q", r.body)
	}
	// A batch with one bad pair stores nothing.
	bad := []pair{{Key: "new-1", Value: "a"}, {Key: "", Value: "b"}}
	if r := ts.json(t, "PUT", kvBase+"/bulk", bad); r.status != 400 {
		t.Errorf("bulk with an empty key: %d", r.status)
	}
	if r := ts.call(t, "GET", kvBase+"/values/new-1", "", nil); r.status != 404 {
		t.Errorf("a refused batch stored part of itself")
	}
	tooMany := make([]pair, 10001)
	for i := range tooMany {
		tooMany[i] = pair{Key: fmt.Sprint("t", i), Value: "v"}
	}
	if r := ts.json(t, "PUT", kvBase+"/bulk", tooMany); r.status != 400 {
		t.Errorf("10,001 pairs: %d", r.status)
	}

	listAll := func(prefix string, limit int) []string {
		var names []string
		cursor := ""
		for {
			q := url.Values{"prefix": {prefix}, "limit": {fmt.Sprint(limit)}}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			r := ts.call(t, "GET", kvBase+"/keys?"+q.Encode(), "", nil)
			var page []struct{ Name string }
			r.result(t, &page)
			if len(page) > limit {
				t.Fatalf("page of %d over limit %d", len(page), limit)
			}
			for _, p := range page {
				names = append(names, p.Name)
			}
			if cursor = r.env.ResultInfo.Cursor; cursor == "" {
				return names
			}
		}
	}
	if got := listAll("", 1000); len(got) != 2501 || !slices.IsSorted(got) {
		t.Errorf("all keys: %d, sorted %v", len(got), slices.IsSorted(got))
	}
	if got := listAll("app:00", 10); len(got) != 100 || got[0] != "app:0000" || got[99] != "app:0099" {
		t.Errorf("prefix app:00: %d keys", len(got))
	}
	if got := listAll("host:", 1000); !slices.Equal(got, []string{"host:x.example"}) {
		t.Errorf("prefix host: %v", got)
	}
	var del []string
	for i := range 2000 {
		del = append(del, fmt.Sprintf("app:%04d", i))
	}
	if r := ts.json(t, "POST", kvBase+"/bulk/delete", del); r.status != 200 {
		t.Fatalf("bulk delete: %d %s", r.status, r.body)
	}
	if got := listAll("app:", 1000); len(got) != 500 || got[0] != "app:2000" {
		t.Errorf("after bulk delete: %d keys", len(got))
	}
}

func TestRuntimeEndpoints(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.mustNamespace(t, "prod")
	ts.upload(t, "prod", "shop", []string{"tenant:1"},
		map[string]any{"type": "plain_text", "name": "P", "text": "v"},
		map[string]any{"type": "secret_text", "name": "S", "text": "hush"},
		map[string]any{"type": "kv_namespace", "name": "KV", "namespace_id": "abc"})
	r := ts.call(t, "GET", "/runtime/namespaces/prod/scripts/shop", "", nil)
	if r.status != 200 {
		t.Fatalf("runtime script: %d %s", r.status, r.body)
	}
	var bundle struct {
		Etag    string `json:"etag"`
		Main    string `json:"main_module"`
		Date    string `json:"compatibility_date"`
		Modules []struct {
			Name        string `json:"name"`
			ContentType string `json:"content_type"`
			ContentB64  string `json:"content_b64"`
		} `json:"modules"`
	}
	json.Unmarshal(r.body, &bundle)
	code, _ := base64.StdEncoding.DecodeString(bundle.Modules[0].ContentB64)
	if bundle.Main != "index.js" || bundle.Date != "2026-11-01" || len(bundle.Etag) != 64 || string(code) != helloModule || bundle.Modules[0].ContentType != "application/javascript+module" {
		t.Errorf("bundle = %s", r.body)
	}
	if !strings.Contains(string(r.body), `{"name":"S","text":"hush","type":"secret_text"}`) || !strings.Contains(string(r.body), `"namespace_id":"abc"`) {
		t.Errorf("bindings must include the secret text and the others as uploaded: %s", r.body)
	}
	if r := ts.call(t, "GET", "/runtime/namespaces/prod/scripts/nope", "", nil); r.status != 404 || strings.TrimSpace(string(r.body)) != `{"error":"Worker not found."}` {
		t.Errorf("missing: %d %s", r.status, r.body)
	}
	ct, body := form(metadata(map[string]any{"main_module": "d.js"}), part{"d.js", "application/javascript+module", "export default {}"})
	ts.call(t, "PUT", base+"workers/scripts/claw-dispatcher", ct, body)
	if r := ts.call(t, "GET", "/runtime/workers/claw-dispatcher", "", nil); r.status != 200 || !strings.Contains(string(r.body), `"main_module":"d.js"`) {
		t.Errorf("runtime worker: %d %s", r.status, r.body)
	}
}

func TestRuntimeKVProtocol(t *testing.T) {
	ts := newTestServer(t, Options{})
	ns := ts.mustKVNamespace(t, "cfg")
	rt := "/runtime/kv/" + ns + "/"
	perNS := httptest.NewServer(ts.KVHandler(ns))
	defer perNS.Close()

	// REST write, runtime read.
	ct, body := form(part{"value", "", "from-rest"}, part{"metadata", "", `{"v":1}`})
	ts.call(t, "PUT", base+"storage/kv/namespaces/"+ns+"/values/"+url.PathEscape("a/b"), ct, body)
	r := ts.call(t, "GET", rt+url.PathEscape("a/b")+"?urlencoded=true", "", nil)
	if r.status != 200 || string(r.body) != "from-rest" || r.header.Get("CF-KV-Metadata") != `{"v":1}` {
		t.Errorf("runtime get: %d %q meta %q", r.status, r.body, r.header.Get("CF-KV-Metadata"))
	}
	// Runtime writes, REST reads; keys the mux would clean are kept verbatim.
	for _, key := range []string{"..", "a//b", "ü ?#%", "x"} {
		r := ts.call(t, "PUT", rt+url.PathEscape(key)+"?urlencoded=true&expiration_ttl=3600", "", []byte("rt:"+key), "CF-KV-Metadata", `{"k":"`+key+`"}`)
		if key == ".." {
			if r.status != 400 {
				t.Errorf("key '..' accepted: %d", r.status)
			}
			continue
		}
		if r.status != 200 {
			t.Fatalf("runtime put %q: %d %s", key, r.status, r.body)
		}
		if got := ts.call(t, "GET", base+"storage/kv/namespaces/"+ns+"/values/"+url.PathEscape(key), "", nil); string(got.body) != "rt:"+key {
			t.Errorf("REST get %q = %q", key, got.body)
		}
	}
	if r := ts.call(t, "GET", rt+"missing?urlencoded=true", "", nil); r.status != 404 {
		t.Errorf("missing: %d", r.status)
	}
	// Listing with a limit and a cursor.
	var list struct {
		Keys []struct {
			Name       string
			Expiration int64
			Metadata   map[string]string
		}
		ListComplete bool `json:"list_complete"`
		Cursor       string
	}
	json.Unmarshal(ts.call(t, "GET", rt+"?prefix=&key_count_limit=2", "", nil).body, &list)
	if len(list.Keys) != 2 || list.ListComplete || list.Cursor == "" || list.Keys[0].Name != "a//b" {
		t.Fatalf("first page: %+v", list)
	}
	first := list.Keys[0]
	second := list
	second.Keys = nil
	json.Unmarshal(ts.call(t, "GET", rt+"?key_count_limit=2&cursor="+list.Cursor, "", nil).body, &second)
	if len(second.Keys) != 2 || !second.ListComplete || second.Keys[1].Name != "ü ?#%" {
		t.Errorf("second page: %+v", second)
	}
	if first.Expiration == 0 || first.Metadata["k"] != "a//b" {
		t.Errorf("list entry lacks expiration or metadata: %+v", first)
	}
	// Bulk get in the three shapes.
	ts.call(t, "PUT", rt+"j?urlencoded=true", "", []byte(`{"n":1}`))
	tests := []struct {
		req, want string
	}{
		{`{"keys":["x","nope"],"type":"text"}`, `{"nope":null,"x":"rt:x"}`},
		{`{"keys":["j"],"type":"json"}`, `{"j":{"n":1}}`},
		{`{"keys":["x","j"],"type":"text","withMetadata":true}`, `{"j":{"metadata":null,"value":"{\"n\":1}"},"x":{"metadata":{"k":"x"},"value":"rt:x"}}`},
	}
	for _, tt := range tests {
		r := ts.call(t, "POST", rt+"bulk/get", "application/json", []byte(tt.req))
		if strings.TrimSpace(string(r.body)) != tt.want {
			t.Errorf("bulk get %s = %s, want %s", tt.req, r.body, tt.want)
		}
	}
	// The per-namespace handler serves the same store at "/".
	res, err := http.Get(perNS.URL + "/" + url.PathEscape("a/b") + "?urlencoded=true")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	res.Body.Close()
	if buf.String() != "from-rest" {
		t.Errorf("KVHandler get = %q", buf.String())
	}
	req, _ := http.NewRequest("DELETE", perNS.URL+"/x?urlencoded=true", nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("KVHandler delete: %v", err)
	}
	if r := ts.call(t, "GET", base+"storage/kv/namespaces/"+ns+"/values/x", "", nil); r.status != 404 {
		t.Errorf("deleted through the runtime but REST still sees it")
	}
	// A namespace id only the runtime knows is created on first write.
	if r := ts.call(t, "PUT", "/runtime/kv/fresh-id/k?urlencoded=true", "", []byte("v")); r.status != 200 {
		t.Errorf("runtime put into an unknown namespace: %d", r.status)
	}
}

func TestStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ts := openTestServer(t, dir, Options{})
	ts.mustNamespace(t, "prod")
	etag := scriptETag(t, ts.upload(t, "prod", "shop_u", []string{"tenant:1"}, map[string]any{"type": "secret_text", "name": "S", "text": "hush"}))
	ts.upload(t, "prod", "gone", nil)
	ts.call(t, "DELETE", base+"workers/dispatch/namespaces/prod/scripts/gone", "", nil)
	// A worker's Durable Object migration tag is state Cloudflare keeps: a restart must not
	// forget it, or the next bootstrap would be refused (10079) after a restart of serve.
	ct, body := form(metadata(map[string]any{"main_module": "d.js", "compatibility_date": "2026-11-01",
		"migrations": map[string]any{"new_tag": "v1", "new_sqlite_classes": []string{"Lock"}},
		"bindings":   []map[string]string{{"type": "durable_object_namespace", "name": "LOCK", "class_name": "Lock"}}}),
		part{"d.js", "application/javascript+module", "export class Lock {}; export default {}"})
	if r := ts.call(t, "PUT", base+"workers/scripts/with-lock", ct, body); r.status != 200 {
		t.Fatalf("worker with a migration: %d %s", r.status, r.body)
	}
	kv := ts.mustKVNamespace(t, "cfg")
	ts.call(t, "PUT", base+"storage/kv/namespaces/"+kv+"/values/"+url.PathEscape("a/b"), "", []byte{0, 1, 2})
	ts.call(t, "PUT", "/runtime/kv/"+kv+"/m?urlencoded=true", "", []byte("meta"), "CF-KV-Metadata", `{"v":2}`)
	ts.call(t, "PUT", base+"storage/kv/namespaces/"+kv+"/values/deleted", "", []byte("x"))
	ts.call(t, "DELETE", base+"storage/kv/namespaces/"+kv+"/values/deleted", "", nil)
	ts.Close()

	again := openTestServer(t, dir, Options{})
	var details struct {
		Script struct {
			ETag string
			Tags []string
		}
	}
	again.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts/"+url.PathEscape("shop_u"), "", nil).result(t, &details)
	if details.Script.ETag != etag || !slices.Equal(details.Script.Tags, []string{"tenant:1"}) {
		t.Errorf("script after restart: %+v", details)
	}
	if r := again.call(t, "GET", "/runtime/namespaces/prod/scripts/"+url.PathEscape("shop_u"), "", nil); !strings.Contains(string(r.body), `"text":"hush"`) {
		t.Errorf("secret lost: %s", r.body)
	}
	if r := again.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts/gone", "", nil); r.status != 404 {
		t.Errorf("deleted script came back")
	}
	if r := again.call(t, "GET", base+"workers/scripts", "", nil); !strings.Contains(string(r.body), `"migration_tag":"v1"`) {
		t.Errorf("migration tag lost in a restart: %s", r.body)
	}
	if r := again.call(t, "GET", base+"storage/kv/namespaces/"+kv+"/values/"+url.PathEscape("a/b"), "", nil); !bytes.Equal(r.body, []byte{0, 1, 2}) {
		t.Errorf("kv value after restart: %q", r.body)
	}
	if r := again.call(t, "GET", "/runtime/kv/"+kv+"/m?urlencoded=true", "", nil); r.header.Get("CF-KV-Metadata") != `{"v":2}` {
		t.Errorf("kv metadata after restart: %q", r.header.Get("CF-KV-Metadata"))
	}
	if r := again.call(t, "GET", base+"storage/kv/namespaces/"+kv+"/values/deleted", "", nil); r.status != 404 {
		t.Errorf("deleted key came back")
	}
}

func TestTornKVRecordIsDropped(t *testing.T) {
	dir := t.TempDir()
	ts := openTestServer(t, dir, Options{})
	kv := ts.mustKVNamespace(t, "cfg")
	ts.call(t, "PUT", base+"storage/kv/namespaces/"+kv+"/values/good", "", []byte("kept"))
	ts.Close()
	// A crash in the middle of a bulk write: the header promises more bytes than follow.
	f, err := os.OpenFile(ts.kvLogPath(kv), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"put":[{"key":"half","len":100},{"key":"good","len":3}]}` + "\nabc")
	f.Close()
	again := openTestServer(t, dir, Options{})
	if r := again.call(t, "GET", base+"storage/kv/namespaces/"+kv+"/values/good", "", nil); string(r.body) != "kept" {
		t.Errorf("good = %q: the torn batch was half applied", r.body)
	}
	if r := again.call(t, "GET", base+"storage/kv/namespaces/"+kv+"/values/half", "", nil); r.status != 404 {
		t.Errorf("half = %d", r.status)
	}
	again.call(t, "PUT", base+"storage/kv/namespaces/"+kv+"/values/after", "", []byte("ok"))
	again.Close()
	third := openTestServer(t, dir, Options{})
	if r := third.call(t, "GET", base+"storage/kv/namespaces/"+kv+"/values/after", "", nil); string(r.body) != "ok" {
		t.Errorf("write after repair lost: %q", r.body)
	}
}

func TestKVLogCompaction(t *testing.T) {
	ts := newTestServer(t, Options{})
	kv := ts.mustKVNamespace(t, "cfg")
	big := bytes.Repeat([]byte("x"), 64<<10)
	for range 200 { // 12.5 MB written to one key
		ts.call(t, "PUT", base+"storage/kv/namespaces/"+kv+"/values/k", "", big)
	}
	info, err := os.Stat(ts.kvLogPath(kv))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > compactMinBytes+int64(len(big))*2 {
		t.Errorf("log is %d bytes for 64 KiB of live data: never compacted", info.Size())
	}
	ts.Close()
	again := openTestServer(t, ts.dir, Options{})
	if r := again.call(t, "GET", base+"storage/kv/namespaces/"+kv+"/values/k", "", nil); !bytes.Equal(r.body, big) {
		t.Errorf("value lost by compaction")
	}
}
