package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/localcf"
	"github.com/402claw/402claw/workers/syncer"
)

// edgePortal is a portal that writes through to a local Cloudflare API.
type edgePortal struct {
	*portal
	CF     *workers.Cloudflare
	CFURL  string
	Local  *localcf.Server
	KVID   string
	Syncer *syncer.Syncer
}

const testNamespace = "402claw-test"

func startEdgePortal(t *testing.T, mutate ...func(*web.Options)) *edgePortal {
	t.Helper()
	srv, err := localcf.New(t.TempDir(), localcf.Options{Token: "t", RuntimeToken: "runtime", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: "t", AccountID: "acc", BaseURL: hs.URL + "/client/v4", MaxRetries: -1})
	res, err := workers.Bootstrap(context.Background(), cf, workers.BootstrapOptions{Namespace: testNamespace, SkipWorkers: true})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	ep := &edgePortal{CF: cf, CFURL: hs.URL, Local: srv, KVID: res.KVNamespaceID}
	ep.portal = startPortal(t, append([]func(*web.Options){func(o *web.Options) {
		ep.Syncer = syncer.New(syncer.Options{Store: o.Store, CF: cf, Namespace: testNamespace, ConfigKV: res.KVNamespaceID, Key: key,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		o.SecretKey = key
		o.SyncNow = ep.Syncer.RunJob
		o.EdgeInfo = web.EdgeInfo{Local: true, EdgeURL: "http://127.0.0.1:8787"}
	}}, mutate...)...)
	return ep
}

// waitDeployment polls a deployment until it leaves pending.
func (ep *edgePortal) waitDeployment(t *testing.T, appID, id uint) models.Deployment {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		d, err := ep.Store.DeploymentByID(context.Background(), appID, id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != models.DeployPending || time.Now().After(deadline) {
			return *d
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle runs an app's sync job until the edge holds its latest generation.
// The request that changed the app may be running the same job in the
// background (RunJob then returns without doing anything), hence the loop.
func (ep *edgePortal) settle(t *testing.T, tenantID uint, slug string) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(15 * time.Second)
	for {
		app, err := ep.Store.AppBySlug(ctx, tenantID, slug)
		if err != nil {
			t.Fatal(err)
		}
		if app.InSync() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("app %s never reached the edge: state %s, generation %d/%d, error %s", slug, app.SyncState, app.SyncedGeneration, app.Generation, app.SyncError)
		}
		ep.Syncer.RunJob(ctx, app.JobTarget())
		time.Sleep(10 * time.Millisecond)
	}
}
