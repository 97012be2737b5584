package runtime

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// fakeEdge speaks the local Cloudflare API's /runtime contract (scripts by
// name, the workerd KV protocol), enough to run the edge without
// workers/localcf.
type fakeEdge struct {
	mu            sync.Mutex
	scripts       map[string]map[string]any // ns → name → script document
	kv            map[string]map[string]kvItem
	scriptReads   map[string]int
	ingested      int // POSTs to /ingest (telemetry batches)
	ingestedBytes int64
}

type kvItem struct {
	value    []byte
	metadata string
}

func newFakeEdge() *fakeEdge {
	return &fakeEdge{scripts: map[string]map[string]any{}, kv: map[string]map[string]kvItem{}, scriptReads: map[string]int{}}
}

// putScript stores a one-module worker and returns its etag.
func (f *fakeEdge) putScript(ns, name, src string, bindings []map[string]any) string {
	sum := sha256.Sum256([]byte(src + fmtBindings(bindings)))
	etag := hex.EncodeToString(sum[:])
	if bindings == nil {
		bindings = []map[string]any{}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.scripts[ns] == nil {
		f.scripts[ns] = map[string]any{}
	}
	f.scripts[ns][name] = map[string]any{
		"name": name, "etag": etag, "main_module": "index.js",
		"compatibility_date": "2026-11-01", "compatibility_flags": []string{},
		"bindings": bindings,
		"modules": []map[string]string{{"name": "index.js", "content_type": "application/javascript+module",
			"content_b64": base64.StdEncoding.EncodeToString([]byte(src))}},
	}
	return etag
}

func fmtBindings(b []map[string]any) string {
	j, _ := json.Marshal(b)
	return string(j)
}

func (f *fakeEdge) putKV(ns, key string, value []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.kv[ns] == nil {
		f.kv[ns] = map[string]kvItem{}
	}
	f.kv[ns][key] = kvItem{value: value}
}

func (f *fakeEdge) getKV(ns, key string) ([]byte, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.kv[ns][key]
	return it.value, ok
}

func (f *fakeEdge) reads(ns, name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scriptReads[ns+"/"+name]
}

// testRuntimeToken is what the runtime under test must send to the local
// Cloudflare API (fake or real) on every /runtime/ request.
const testRuntimeToken = "runtime-secret"

func (f *fakeEdge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.EscapedPath()
	if strings.HasPrefix(p, "/runtime/") && r.Header.Get("Authorization") != "Bearer "+testRuntimeToken {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	switch {
	case strings.HasPrefix(p, "/runtime/namespaces/"):
		parts := strings.Split(strings.TrimPrefix(p, "/runtime/namespaces/"), "/")
		if len(parts) != 3 || parts[1] != "scripts" {
			http.NotFound(w, r)
			return
		}
		ns, _ := url.PathUnescape(parts[0])
		name, _ := url.PathUnescape(parts[2])
		f.mu.Lock()
		f.scriptReads[ns+"/"+name]++
		s, ok := f.scripts[ns][name]
		f.mu.Unlock()
		w.Header().Set("content-type", "application/json")
		if !ok {
			w.WriteHeader(404)
			io.WriteString(w, `{"error":"Worker not found."}`)
			return
		}
		json.NewEncoder(w).Encode(s)
	case strings.HasPrefix(p, "/runtime/kv/"):
		rest := strings.TrimPrefix(p, "/runtime/kv/")
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			http.NotFound(w, r)
			return
		}
		ns, _ := url.PathUnescape(rest[:i])
		f.serveKV(w, r, ns, rest[i+1:])
	case p == "/ingest":
		// Telemetry: counted, not kept.
		n, _ := io.Copy(io.Discard, r.Body)
		f.mu.Lock()
		f.ingested++
		f.ingestedBytes += n
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeEdge) serveKV(w http.ResponseWriter, r *http.Request, ns, escKey string) {
	if escKey == "" && r.Method == http.MethodGet {
		prefix := r.URL.Query().Get("prefix")
		limit, _ := strconv.Atoi(r.URL.Query().Get("key_count_limit"))
		if limit <= 0 {
			limit = 1000
		}
		f.mu.Lock()
		var names []string
		for k := range f.kv[ns] {
			if strings.HasPrefix(k, prefix) {
				names = append(names, k)
			}
		}
		f.mu.Unlock()
		sort.Strings(names)
		keys := []map[string]any{}
		for i, n := range names {
			if i >= limit {
				break
			}
			keys = append(keys, map[string]any{"name": n})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys, "list_complete": len(names) <= limit, "cursor": ""})
		return
	}
	key, err := url.PathUnescape(escKey)
	if err != nil {
		http.Error(w, "bad key", 400)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodGet:
		it, ok := f.kv[ns][key]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if it.metadata != "" {
			w.Header().Set("CF-KV-Metadata", it.metadata)
		}
		w.Write(it.value)
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		if f.kv[ns] == nil {
			f.kv[ns] = map[string]kvItem{}
		}
		f.kv[ns][key] = kvItem{value: b, metadata: r.Header.Get("CF-KV-Metadata")}
	case http.MethodDelete:
		delete(f.kv[ns], key)
	default:
		http.Error(w, "method", 405)
	}
}
