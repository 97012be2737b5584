package workers_test

import (
	"context"
	"encoding/json"
	"errors"
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
	opts := workers.BootstrapOptions{Namespace: "402claw", BaseDomain: "apps.example.com", IngestURL: "https://portal.example.com/internal/telemetry", IngestToken: "s3cret",
		PortalURL: "https://portal.example.com/claw"}

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
	// The 402 page's "API docs" and "Report this API" links point at the portal's public address.
	if p := byName["PORTAL_URL"]; p["type"] != "plain_text" || p["text"] != "https://portal.example.com/claw" {
		t.Fatalf("PORTAL_URL binding %v", p)
	}
	if byName["CONFIG"]["namespace_id"] != first.KVNamespaceID || byName["INGEST_TOKEN"]["type"] != "secret_text" {
		t.Fatalf("bindings %v", byName)
	}
}

// newStrictEmulator is the emulated Cloudflare API with a client for it.
func newStrictEmulator(t *testing.T) (*workers.Cloudflare, *httptest.Server) {
	t.Helper()
	srv, err := localcf.New(t.TempDir(), localcf.Options{Token: "t", RuntimeToken: "runtime", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return workers.NewCloudflare(workers.CloudflareConfig{APIToken: "t", AccountID: "acc", BaseURL: hs.URL + "/client/v4", MaxRetries: -1}), hs
}

// TestBootstrapMigrationsFollowTheCurrentTag: bootstrap runs again and again (and after the
// dispatcher changed, and when a migration step is added), sending migrations only from the
// dispatcher's current tag, as Cloudflare requires; a tag it does not know stops it with a
// sentence saying so.
func TestBootstrapMigrationsFollowTheCurrentTag(t *testing.T) {
	cf, _ := newStrictEmulator(t)
	ctx := context.Background()
	opts := workers.BootstrapOptions{Namespace: "402claw", BaseDomain: "apps.example.com"}
	tag := func() string {
		t.Helper()
		got, found, err := cf.WorkerMigrationTag(ctx, workers.DispatcherWorker)
		if err != nil || !found {
			t.Fatalf("dispatcher's tag: %q %v %v", got, found, err)
		}
		return got
	}
	last := workers.DispatcherMigrations[len(workers.DispatcherMigrations)-1].Tag
	known := make([]string, len(workers.DispatcherMigrations))
	for i, st := range workers.DispatcherMigrations {
		known[i] = st.Tag
	}
	first, err := workers.Bootstrap(ctx, cf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Migrated || first.MigrationFrom != "" || tag() != last {
		t.Fatalf("first run: %+v, tag %s", first, tag())
	}
	second, err := workers.Bootstrap(ctx, cf, opts)
	if err != nil {
		t.Fatalf("second bootstrap: %v", err)
	}
	if second.Migrated || tag() != last || !strings.Contains(strings.Join(second.Lines(), "\n"), "already at "+last) {
		t.Fatalf("second run: %+v", second.Lines())
	}
	// A dispatcher change (other settings, so other bindings and etag) uploads without migrations.
	opts.BaseDomain = "apps.example.org"
	changed, err := workers.Bootstrap(ctx, cf, opts)
	if err != nil {
		t.Fatalf("bootstrap after a dispatcher change: %v", err)
	}
	if changed.Dispatcher.ETag == second.Dispatcher.ETag || changed.Migrated {
		t.Fatalf("after a change: etag %s → %s, migrated %v", second.Dispatcher.ETag, changed.Dispatcher.ETag, changed.Migrated)
	}

	// A new step is sent alone, from the last one.
	saved := workers.DispatcherMigrations
	t.Cleanup(func() { workers.DispatcherMigrations = saved })
	workers.DispatcherMigrations = append(append([]workers.MigrationStep(nil), saved...), workers.MigrationStep{Tag: "v-next", NewSQLiteClasses: []string{"Budget"}})
	third, err := workers.Bootstrap(ctx, cf, opts)
	if err != nil {
		t.Fatalf("bootstrap with a v2 step: %v", err)
	}
	if !third.Migrated || third.MigrationFrom != last || tag() != "v-next" {
		t.Fatalf("next step run: %+v, tag %s", third, tag())
	}
	// An older 402claw meets a dispatcher at the new tag: a clear error, nothing uploaded.
	workers.DispatcherMigrations = saved
	_, err = workers.Bootstrap(ctx, cf, opts)
	if err == nil || !strings.Contains(err.Error(), `migration tag "v-next", which this 402claw does not know (it knows `+strings.Join(known, ", ")+")") {
		t.Fatalf("unknown tag: %v", err)
	}
}

// TestOldBootstrapFailsOnTheStrictEmulator: the bootstrap before this fix sent every migration
// without old_tag on every upload; the emulator refuses the second such upload as Cloudflare
// does (10079), which is what made a second `402claw edge bootstrap` fail on a real account.
func TestOldBootstrapFailsOnTheStrictEmulator(t *testing.T) {
	cf, _ := newStrictEmulator(t)
	ctx := context.Background()
	opts := workers.BootstrapOptions{Namespace: "402claw", BaseDomain: "apps.example.com", SkipWorkers: true}
	r, err := workers.Bootstrap(ctx, cf, opts)
	if err != nil {
		t.Fatal(err)
	}
	up := workers.DispatcherUpload(opts, r.KVNamespaceID) // all migrations, no old_tag: the old code path
	if _, err := cf.UploadWorker(ctx, workers.DispatcherWorker, up); err != nil {
		t.Fatalf("first upload: %v", err)
	}
	_, err = cf.UploadWorker(ctx, workers.DispatcherWorker, up)
	var apiErr *workers.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 10079 || !strings.Contains(err.Error(), "Migration tag precondition failed; current tag is "+workers.DispatcherMigrations[len(workers.DispatcherMigrations)-1].Tag) {
		t.Fatalf("second upload with the old migrations: %v", err)
	}
	// A Durable Object binding without any migration is refused too.
	up.Migrations = nil
	if _, err := cf.UploadWorker(ctx, "fresh-dispatcher", up); err == nil || !strings.Contains(err.Error(), "Did you forget to apply a Durable Object migration?") {
		t.Fatalf("DO binding without a migration: %v", err)
	}
}

// TestOutboundWorkerCarriesItsTelemetryBindings: on Cloudflare the outbound worker reports
// blocked egress to INGEST_URL with INGEST_TOKEN (outbound.js); they must be its own bindings.
func TestOutboundWorkerCarriesItsTelemetryBindings(t *testing.T) {
	cf, hs := newStrictEmulator(t)
	opts := workers.BootstrapOptions{Namespace: "402claw", BaseDomain: "apps.example.com", IngestURL: "https://portal.example.com/internal/telemetry", IngestToken: "s3cret"}
	if _, err := workers.Bootstrap(context.Background(), cf, opts); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, hs.URL+"/runtime/workers/"+workers.OutboundWorker, nil)
	req.Header.Set("Authorization", "Bearer runtime")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var meta struct {
		Bindings []map[string]any `json:"bindings"`
	}
	json.NewDecoder(res.Body).Decode(&meta)
	got := map[string]string{}
	for _, b := range meta.Bindings {
		got[b["name"].(string)] = b["type"].(string) + " " + b["text"].(string)
	}
	if got["INGEST_URL"] != "plain_text https://portal.example.com/internal/telemetry" || got["INGEST_TOKEN"] != "secret_text s3cret" {
		t.Fatalf("outbound bindings %v", got)
	}
	// The tail worker posts the lines of user workers to the same endpoint with the same token.
	req, _ = http.NewRequest(http.MethodGet, hs.URL+"/runtime/workers/"+workers.TailWorker, nil)
	req.Header.Set("Authorization", "Bearer runtime")
	tres, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer tres.Body.Close()
	var tmeta struct {
		MainModule string           `json:"main_module"`
		Bindings   []map[string]any `json:"bindings"`
	}
	json.NewDecoder(tres.Body).Decode(&tmeta)
	tgot := map[string]string{}
	for _, b := range tmeta.Bindings {
		tgot[b["name"].(string)] = b["type"].(string) + " " + b["text"].(string)
	}
	if tmeta.MainModule != "tail.js" || tgot["INGEST_URL"] != got["INGEST_URL"] || tgot["INGEST_TOKEN"] != got["INGEST_TOKEN"] {
		t.Fatalf("tail worker: main %q, bindings %v", tmeta.MainModule, tgot)
	}
	// outbound.js reads exactly these names.
	for _, name := range []string{"env.INGEST_URL", "env.INGEST_TOKEN"} {
		if !strings.Contains(outboundSource(t), name) {
			t.Errorf("outbound.js no longer reads %s: update OutboundUpload", name)
		}
	}
}

func outboundSource(t *testing.T) string {
	t.Helper()
	for _, m := range workers.OutboundUpload(workers.BootstrapOptions{}).Modules {
		return string(m.Content)
	}
	t.Fatal("the outbound upload has no module")
	return ""
}

func TestMigrationsToUpload(t *testing.T) {
	steps := []workers.MigrationStep{{Tag: "v1", NewSQLiteClasses: []string{"A"}}, {Tag: "v2", NewSQLiteClasses: []string{"B"}}, {Tag: "v3", DeletedClasses: []string{"A"}}}
	tests := []struct {
		current, want, wantErr string
	}{
		{"", `{"new_tag":"v3","steps":[{"new_sqlite_classes":["A"]},{"new_sqlite_classes":["B"]},{"deleted_classes":["A"]}]}`, ""},
		{"v1", `{"old_tag":"v1","new_tag":"v3","steps":[{"new_sqlite_classes":["B"]},{"deleted_classes":["A"]}]}`, ""},
		{"v2", `{"old_tag":"v2","new_tag":"v3","steps":[{"deleted_classes":["A"]}]}`, ""},
		{"v3", `null`, ""},
		{"v9", "", `migration tag "v9", which this 402claw does not know (it knows v1, v2, v3)`},
	}
	for _, tt := range tests {
		m, err := workers.MigrationsToUpload(tt.current, steps)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("current %q: err %v, want %q", tt.current, err, tt.wantErr)
			}
			continue
		}
		got, _ := json.Marshal(m)
		if err != nil || string(got) != tt.want {
			t.Errorf("current %q: %s, %v\nwant %s", tt.current, got, err, tt.want)
		}
	}
}
