package syncer_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/localcf"
	"github.com/402claw/402claw/workers/syncer"
	"gorm.io/gorm"
)

const namespace = "test-ns"

// env is one portal database plus a local Cloudflare API.
type env struct {
	t      testing.TB
	db     modeltest.DB
	store  *models.Store
	emu    *localcf.Server
	url    string
	cf     *workers.Cloudflare
	kvID   string
	key    []byte
	tenant *models.Tenant
}

func newEnv(t testing.TB, db modeltest.DB) *env {
	t.Helper()
	emu, err := localcf.New(t.TempDir(), localcf.Options{Token: "local", RuntimeToken: "runtime", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: "local", AccountID: "acc", BaseURL: srv.URL + "/client/v4", MaxRetries: -1, KVRetryBackoff: time.Millisecond})
	ctx := context.Background()
	if err := cf.CreateDispatchNamespace(ctx, namespace); err != nil {
		t.Fatal(err)
	}
	ns, err := cf.CreateKVNamespace(ctx, "402claw-config")
	if err != nil {
		t.Fatal(err)
	}
	store := models.NewStore(db.Gorm)
	_, tn, err := store.SignUp(ctx, "owner@example.com", "h", "Owner", models.RoleTenant)
	if err != nil {
		t.Fatal(err)
	}
	// Pro allows 50 apps; the tests need more than free's 3.
	if err := db.Gorm.Model(&models.Tenant{}).Where("id = ?", tn.ID).Update("plan_key", "pro").Error; err != nil {
		t.Fatal(err)
	}
	tn.PlanKey = "pro"
	key, _ := models.ParseKey(strings.Repeat("42", 32))
	return &env{t: t, db: db, store: store, emu: emu, url: srv.URL, cf: cf, kvID: ns.ID, key: key, tenant: tn}
}

func (e *env) syncer(db *gorm.DB, id string) *syncer.Syncer {
	return syncer.New(syncer.Options{
		Store: models.NewStore(db), CF: e.cf, Namespace: namespace, ConfigKV: e.kvID, Key: e.key,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WorkerID: id, Lease: 30 * time.Second,
		PollInterval: 20 * time.Millisecond, BackoffBase: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
}

func module(n int) string {
	return fmt.Sprintf("export default { fetch() { return new Response(%q) } }", fmt.Sprint("v", n))
}

func (e *env) version(app *models.App, body string) *models.Version {
	e.t.Helper()
	v, err := e.store.CreateVersion(context.Background(), app, 1, models.NewVersion{MainModule: "index.js", Sources: map[string]string{"index.js": body}, Bundle: []byte(body)})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

type runtimeBundle struct {
	ETag              string            `json:"etag"`
	MainModule        string            `json:"main_module"`
	CompatibilityDate string            `json:"compatibility_date"`
	Bindings          []json.RawMessage `json:"bindings"`
	Modules           []struct {
		Name        string `json:"name"`
		ContentType string `json:"content_type"`
		ContentB64  string `json:"content_b64"`
	} `json:"modules"`
}

// runtimeGet reads the emulator's /runtime/ side, as workerd does (with its token).
func runtimeGet(url string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer runtime")
	return http.DefaultClient.Do(req)
}

// edgeScript reads what the emulator holds for a script, secrets included; nil when missing.
func (e *env) edgeScript(name string) *runtimeBundle {
	e.t.Helper()
	res, err := runtimeGet(e.url + "/runtime/namespaces/" + namespace + "/scripts/" + name)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound {
		return nil
	}
	var b runtimeBundle
	if err := json.NewDecoder(res.Body).Decode(&b); err != nil {
		e.t.Fatal(err)
	}
	return &b
}

// checkEdge asserts that the emulator holds exactly the app's current state: module, bindings,
// tags and the config document at the app's generation.
func (e *env) checkEdge(app *models.App) {
	e.t.Helper()
	ctx := context.Background()
	st, err := e.store.AppEdgeState(ctx, app.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	if !st.App.InSync() || st.App.SyncError != "" {
		e.t.Errorf("app %s not in sync: %+v", st.App.Slug, st.App)
	}
	if st.Version != nil {
		b := e.edgeScript(st.App.ScriptName)
		if b == nil {
			e.t.Fatalf("script %s missing", st.App.ScriptName)
		}
		content, _ := base64.StdEncoding.DecodeString(b.Modules[0].ContentB64)
		if len(b.Modules) != 1 || string(content) != string(st.Version.Bundle) || b.MainModule != "worker.js" || b.Modules[0].Name != "worker.js" ||
			b.Modules[0].ContentType != "application/javascript+module" || b.CompatibilityDate != workers.CompatibilityDate {
			e.t.Errorf("script %s holds %+v, want version %d", st.App.ScriptName, b, st.Version.Number)
		}
		vars, err := models.DecryptVars(e.key, st.Vars)
		if err != nil {
			e.t.Fatal(err)
		}
		var want []string
		for _, v := range vars {
			typ := "plain_text"
			if v.Secret {
				typ = "secret_text"
			}
			want = append(want, fmt.Sprintf("%s %s %s", typ, v.Name, v.Value))
		}
		if st.App.KVEnabled {
			want = append(want, "kv_namespace KV "+st.App.KVNamespaceID)
		}
		var got []string
		for _, raw := range b.Bindings {
			var x map[string]string
			json.Unmarshal(raw, &x)
			got = append(got, fmt.Sprintf("%s %s %s%s", x["type"], x["name"], x["text"], x["namespace_id"]))
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(got, want) {
			e.t.Errorf("bindings of %s = %q, want %q", st.App.Slug, got, want)
		}
		info, err := e.cf.UserScript(ctx, namespace, st.App.ScriptName)
		if err != nil {
			e.t.Fatal(err)
		}
		wantTags := []string{"402claw", fmt.Sprintf("tenant:%d", st.App.TenantID), "app:" + st.App.Slug, "plan:pro",
			workers.ShardTag(st.App.ScriptName), "sha:" + st.Version.SHA256[:16], "fp:" + st.App.ScriptFingerprint[:16]}
		if !slices.Equal(info.Tags, wantTags) {
			e.t.Errorf("tags of %s = %q, want %q", st.App.Slug, info.Tags, wantTags)
		}
		if *st.App.DeployedVersionID != st.Version.ID {
			e.t.Errorf("deployed version %d, desired %d", *st.App.DeployedVersionID, st.Version.ID)
		}
	}
	doc, err := e.cf.GetKV(ctx, e.kvID, workers.ConfigKey(st.App.Slug))
	if err != nil {
		e.t.Fatalf("config document of %s: %v", st.App.Slug, err)
	}
	want, err := workers.BuildConfig(*st, st.App.Generation)
	if err != nil {
		e.t.Fatal(err)
	}
	if string(doc) != string(want.Encode()) {
		e.t.Errorf("config document of %s =\n%s\nwant\n%s", st.App.Slug, doc, want.Encode())
	}
}

func (e *env) checkGone(slug, kvID string) {
	e.t.Helper()
	ctx := context.Background()
	if b := e.edgeScript("app-" + slug); b != nil {
		e.t.Errorf("script of deleted app %s still there", slug)
	}
	if _, err := e.cf.GetKV(ctx, e.kvID, workers.ConfigKey(slug)); !errors.Is(err, workers.ErrNotFound) {
		e.t.Errorf("config document of deleted app %s: %v", slug, err)
	}
	if kvID != "" {
		nss, _ := e.cf.KVNamespaces(ctx)
		for _, ns := range nss {
			if ns.ID == kvID {
				e.t.Errorf("kv namespace of deleted app %s still there", slug)
			}
		}
	}
	var n int64
	e.db.Gorm.Model(&models.App{}).Where("slug = ?", slug).Count(&n)
	if n != 0 {
		e.t.Errorf("deleted app %s still has its row", slug)
	}
}

func TestWriteThrough(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		e := newEnv(t, db)
		s := e.syncer(db.Gorm, "w1")
		ctx := context.Background()
		app, err := e.store.CreateApp(ctx, e.tenant, "hello", "Hello")
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RunJob(ctx, app.JobTarget()); err != nil {
			t.Fatal(err)
		}
		e.checkEdge(app) // a config document with no script yet

		e.version(app, module(1))
		if err := e.store.SetAppKV(ctx, app, true); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetVar(ctx, app, "GREETING", "hi", false, e.key); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetVar(ctx, app, "TOKEN", "s3cret", true, e.key); err != nil {
			t.Fatal(err)
		}
		d, err := e.store.Deploy(ctx, app, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RunJob(ctx, app.JobTarget()); err != nil {
			t.Fatal(err)
		}
		e.checkEdge(app)
		if got, _ := e.store.DeploymentByID(ctx, app.ID, d.ID); got.Status != models.DeploySucceeded || got.FinishedAt == nil {
			t.Errorf("deployment = %+v", got)
		}
		app, _ = e.store.AppByID(ctx, app.ID)
		if app.KVNamespaceID == "" {
			t.Fatal("no kv namespace created")
		}

		// A var change alone re-uploads; a rollback puts the old module back.
		v2 := e.version(app, module(2))
		if _, err := e.store.Deploy(ctx, app, v2.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.store.SetVar(ctx, app, "GREETING", "hello", false, e.key); err != nil {
			t.Fatal(err)
		}
		if err := s.RunJob(ctx, app.JobTarget()); err != nil {
			t.Fatal(err)
		}
		e.checkEdge(app)
		if _, err := e.store.Deploy(ctx, app, *app.DeployedVersionID-1); err != nil {
			t.Fatal(err)
		}
		if err := s.RunJob(ctx, app.JobTarget()); err != nil {
			t.Fatal(err)
		}
		e.checkEdge(app)

		// Nothing to do: RunJob on a done job touches nothing.
		before := e.emu.FaultStats().Requests
		if err := s.RunJob(ctx, app.JobTarget()); err != nil || e.emu.FaultStats().Requests != before {
			t.Errorf("idle RunJob made %d requests, err %v", e.emu.FaultStats().Requests-before, err)
		}

		kvID := app.KVNamespaceID
		if err := e.store.DeleteApp(ctx, app); err != nil {
			t.Fatal(err)
		}
		if err := s.RunJob(ctx, app.JobTarget()); err != nil {
			t.Fatal(err)
		}
		e.checkGone("hello", kvID)
	})
}

func TestPermanentFailureFailsTheDeployment(t *testing.T) {
	e := newEnv(t, modeltest.SQLite(t))
	ctx := context.Background()
	s := e.syncer(e.db.Gorm, "w1")
	// A plan that allows more than Cloudflare takes: the upload is refused with a 413.
	e.db.Gorm.Model(&models.Plan{}).Where("key = ?", "pro").Update("max_script_bytes", 12<<20)
	app, _ := e.store.CreateApp(ctx, e.tenant, "big-app", "Big")
	big := "// " + strings.Repeat("x", 11<<20) + "\n" + module(1)
	e.version(app, big)
	d, err := e.store.Deploy(ctx, app, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = s.RunJob(ctx, app.JobTarget())
	if !syncer.IsPermanent(err) || !strings.Contains(err.Error(), "(HTTP 4") {
		t.Fatalf("RunJob = %v, want a permanent error with Cloudflare's text", err)
	}
	got, _ := e.store.DeploymentByID(ctx, app.ID, d.ID)
	if got.Status != models.DeployFailed || got.Error != err.Error() {
		t.Errorf("deployment = %+v", got)
	}
	app, _ = e.store.AppByID(ctx, app.ID)
	if app.SyncState != models.SyncFailed || app.SyncError == "" {
		t.Errorf("app = %+v", app)
	}
	// A permanent failure is not retried until the next change, which clears it.
	if err := s.RunJob(ctx, app.JobTarget()); err != nil {
		t.Errorf("retrying a permanent failure: %v", err)
	}
	e.version(app, module(2))
	if _, err := e.store.Deploy(ctx, app, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.RunJob(ctx, app.JobTarget()); err != nil {
		t.Fatal(err)
	}
	e.checkEdge(app)
}

// TestRestartTakesOverOwnLeases: L4. A portal killed while it held a job's lease used to leave
// the deployment pending until the lease ran out (2 minutes); its next life, under the same
// worker id, takes the job back at once.
func TestRestartTakesOverOwnLeases(t *testing.T) {
	e := newEnv(t, modeltest.SQLite(t))
	ctx := context.Background()
	app, _ := e.store.CreateApp(ctx, e.tenant, "crash-app", "Crash")
	e.version(app, module(1))
	d, err := e.store.Deploy(ctx, app, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The first life claims the job (a 30 s lease) and dies before running it.
	res := e.db.Gorm.Exec(`UPDATE sync_jobs SET locked_by = ?, locked_until = ? WHERE target = ?`, "host/127.0.0.1:8080", time.Now().UTC().Add(30*time.Second), app.JobTarget())
	if res.Error != nil || res.RowsAffected != 1 {
		t.Fatalf("claim: %v %d", res.Error, res.RowsAffected)
	}
	other := e.syncer(e.db.Gorm, "someone-else")
	if n, err := other.ReleaseOwnLeases(ctx); err != nil || n != 0 {
		t.Fatalf("another worker released %d leases (%v)", n, err)
	}
	next := e.syncer(e.db.Gorm, "host/127.0.0.1:8080")
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { next.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := e.store.DeploymentByID(ctx, app.ID, d.ID)
		if got.Status == models.DeploySucceeded {
			break
		}
		if time.Now().After(deadline) {
			var jobs []map[string]any
			e.db.Gorm.Raw("SELECT * FROM sync_jobs").Scan(&jobs)
			t.Fatalf("the restarted syncer left the deployment %s; jobs %v", got.Status, jobs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.checkEdge(app)
}

func TestBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 30: 5 * time.Minute} {
		for range 20 {
			got := syncer.Backoff(attempt, time.Second, 5*time.Minute)
			if got < want/2 || got > want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", attempt, got, want/2, want)
			}
		}
	}
}

func TestIsPermanent(t *testing.T) {
	for status, want := range map[int]bool{400: true, 403: true, 413: true, 404: false, 408: false, 409: false, 429: false, 500: false, 503: false} {
		err := fmt.Errorf("wrapped: %w", &workers.APIError{Status: status, Message: "x"})
		if syncer.IsPermanent(err) != want {
			t.Errorf("IsPermanent(%d) = %v, want %v", status, !want, want)
		}
	}
	if syncer.IsPermanent(errors.New("connection reset")) {
		t.Error("a network error is not permanent")
	}
}
