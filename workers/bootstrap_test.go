package workers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/localcf"
)

func TestBootstrapIsIdempotentAgainstLocalCloudflare(t *testing.T) {
	srv, err := localcf.New(t.TempDir(), localcf.Options{Token: "t", RuntimeToken: "runtime", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: "t", AccountID: "acc", BaseURL: hs.URL + "/client/v4"})
	ctx := context.Background()
	opts := workers.BootstrapOptions{Namespace: "402claw", BaseDomain: "apps.example.com", IngestURL: "https://portal.example.com/internal/telemetry", IngestToken: "s3cret"}

	first, err := workers.Bootstrap(ctx, cf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !first.NamespaceCreated || !first.KVCreated || first.KVNamespaceID == "" || first.Dispatcher.ETag == "" || first.Outbound.ETag == "" {
		t.Fatalf("first run: %+v", first)
	}
	second, err := workers.Bootstrap(ctx, cf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.NamespaceCreated || second.KVCreated || second.KVNamespaceID != first.KVNamespaceID || second.Dispatcher.ETag != first.Dispatcher.ETag {
		t.Fatalf("second run changed things: %+v vs %+v", second, first)
	}
	nss, _ := cf.DispatchNamespaces(ctx)
	kvs, _ := cf.KVNamespaces(ctx)
	if len(nss) != 1 || len(kvs) != 1 {
		t.Fatalf("after two runs: %d namespaces, %d KV namespaces", len(nss), len(kvs))
	}
	// The dispatcher's bindings as the runtime endpoint serves them.
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/runtime/workers/"+workers.DispatcherWorker, nil)
	req.Header.Set("Authorization", "Bearer runtime")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var meta struct {
		MainModule string           `json:"main_module"`
		Bindings   []map[string]any `json:"bindings"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	byName := map[string]map[string]any{}
	for _, b := range meta.Bindings {
		byName[b["name"].(string)] = b
	}
	ns := byName["DISPATCHER"]
	if ns["type"] != "dispatch_namespace" || ns["namespace"] != "402claw" {
		t.Fatalf("namespace binding %v", ns)
	}
	ob, _ := json.Marshal(ns["outbound"])
	if !strings.Contains(string(ob), `"service":"402claw-outbound"`) || !strings.Contains(string(ob), `{"name":"allow"}`) {
		t.Fatalf("outbound declaration %s", ob)
	}
	if byName["CONFIG"]["namespace_id"] != first.KVNamespaceID || byName["INGEST_TOKEN"]["type"] != "secret_text" {
		t.Fatalf("bindings %v", byName)
	}
}
