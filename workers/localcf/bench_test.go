package localcf

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func BenchmarkUpload(b *testing.B) {
	ts := newTestServer(b, Options{})
	ts.mustNamespace(b, "prod")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if r := ts.upload(b, "prod", fmt.Sprint("app-", i), []string{"tenant:1", "plan:free"}); r.status != 200 {
			b.Fatal(r.status)
		}
	}
}

// seedScripts fills the index directly: listing never reads script files, and writing 10,000
// of them through HTTP would make the benchmark's setup dominate its run.
func seedScripts(ts *testServer, n int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ns := ts.namespaces["prod"]
	now := time.Now()
	for i := range n {
		name := fmt.Sprintf("app-%05d", i)
		ns.scripts[name] = &script{Namespace: "prod", Name: name, ETag: strings.Repeat("e", 64), MainModule: "index.js",
			Tags: []string{fmt.Sprintf("tenant:%d", i%100), "app:" + name, "plan:free"}, CreatedOn: now, ModifiedOn: now}
	}
	ns.sorted = nil
}

// BenchmarkListByTag10000 lists 10,000 scripts filtered by a tag every one of them has, in
// pages of 1000, the way the reconciler reads the namespace.
func BenchmarkListByTag10000(b *testing.B) {
	ts := newTestServer(b, Options{})
	ts.mustNamespace(b, "prod")
	seedScripts(ts, 10000)
	b.ResetTimer()
	for b.Loop() {
		total, cursor := 0, ""
		for {
			path := base + "workers/dispatch/namespaces/prod/scripts?tags=plan:free:yes&limit=1000"
			if cursor != "" {
				path += "&cursor=" + cursor
			}
			r := ts.call(b, "GET", path, "", nil)
			total += r.env.ResultInfo.Count
			if cursor = r.env.ResultInfo.Cursor; cursor == "" {
				break
			}
		}
		if total != 10000 {
			b.Fatalf("listed %d", total)
		}
	}
}

// BenchmarkKVBulkPut10000 writes 10,000 app config documents of about 1 KB in one call.
func BenchmarkKVBulkPut10000(b *testing.B) {
	ts := newTestServer(b, Options{})
	ns := ts.mustKVNamespace(b, "cfg")
	doc := `{"script":"app","tenant":1,"status":"active","limits":{"cpuMs":50,"subRequests":10},"routes":[` + strings.Repeat(`{"method":"GET","path":"/x","price":"$0.001"},`, 18) + `{}]}`
	pairs := make([]map[string]string, 10000)
	for i := range pairs {
		pairs[i] = map[string]string{"key": fmt.Sprintf("app:app-%05d", i), "value": doc}
	}
	body, _ := json.Marshal(pairs)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for b.Loop() {
		if r := ts.call(b, "PUT", base+"storage/kv/namespaces/"+ns+"/bulk", "application/json", body); r.status != 200 {
			b.Fatal(r.status, string(r.body))
		}
	}
}

func BenchmarkRuntimeKVGet(b *testing.B) {
	ts := newTestServer(b, Options{})
	ns := ts.mustKVNamespace(b, "cfg")
	ts.call(b, "PUT", "/runtime/kv/"+ns+"/app:shop?urlencoded=true", "", []byte(`{"script":"shop"}`))
	b.ResetTimer()
	for b.Loop() {
		if r := ts.call(b, "GET", "/runtime/kv/"+ns+"/app:shop?urlencoded=true", "", nil); r.status != 200 {
			b.Fatal(r.status)
		}
	}
}
