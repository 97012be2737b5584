package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/syncer"
	"golang.org/x/net/publicsuffix"
	"gorm.io/gorm"
)

// openDB opens the configured database.
func openDB(cfg *Config) (*gorm.DB, error) {
	d, dsn, err := models.ParseDatabaseURL(cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("CLAW_DATABASE_URL: %v", err)
	}
	return models.Open(d, dsn)
}

func migrateCmd(cfg *Config, stdout io.Writer) error {
	db, err := openDB(cfg)
	if err != nil {
		return err
	}
	applied, err := models.Migrate(db)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "schema is up to date (version %d)\n", models.LatestVersion())
		return nil
	}
	fmt.Fprintf(stdout, "applied migrations %v; schema is at version %d\n", applied, models.LatestVersion())
	return nil
}

// secretKey is CLAW_SECRET_KEY, or a key generated once into the data dir.
func secretKey(cfg *Config) ([]byte, error) {
	if cfg.SecretKey != "" {
		k, err := models.ParseKey(cfg.SecretKey)
		if err != nil {
			return nil, fmt.Errorf("CLAW_SECRET_KEY: %v", err)
		}
		return k, nil
	}
	if !cfg.LocalEdge() {
		return nil, errors.New("CLAW_SECRET_KEY: required with Cloudflare credentials (a key generated on one machine would be lost with it); generate one with `openssl rand -hex 32`")
	}
	return models.LoadOrCreateKey(cfg.DataDir)
}

// platform is everything serve and the operator commands share.
type platform struct {
	cfg     *Config
	log     *slog.Logger
	store   *models.Store
	key     []byte
	ingest  string
	edge    *edge
	syncer  *syncer.Syncer
	billing *billing.Service
}

func openPlatform(ctx context.Context, cfg *Config, log *slog.Logger, migrate bool) (*platform, error) {
	if err := restrictDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	db, err := openDB(cfg)
	if err != nil {
		return nil, err
	}
	if migrate {
		applied, err := models.Migrate(db)
		if err != nil {
			return nil, err
		}
		if len(applied) > 0 {
			log.Info("applied migrations", "versions", applied)
		}
	}
	if err := models.CheckSchema(db); err != nil {
		return nil, err
	}
	p := &platform{cfg: cfg, log: log, store: models.NewStore(db)}
	if p.key, err = secretKey(cfg); err != nil {
		return nil, err
	}
	p.ingest = cfg.IngestToken
	if p.ingest == "" {
		if p.ingest, err = secretFile(cfg.DataDir, "ingest.token"); err != nil {
			return nil, fmt.Errorf("CLAW_INGEST_TOKEN: unable to generate one in %s: %v", cfg.DataDir, err)
		}
	}
	if p.edge, err = startEdge(ctx, cfg, p.ingest, p.key, p.store, log); err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	// On Cloudflare every user worker names the tail worker (uploaded by `402claw edge
	// bootstrap`) as its tail consumer; the local edge captures logs in its runtime.
	tailWorker := ""
	if !p.edge.local {
		tailWorker = workers.TailWorker
	}
	p.syncer = syncer.New(syncer.Options{Store: p.store, CF: p.edge.cf, Namespace: p.edge.namespace, ConfigKV: p.edge.kvID,
		Key: p.key, Logger: log.With("component", "syncer"), ReconcileEvery: 10 * time.Minute, TailWorker: tailWorker,
		// Stable across restarts: one portal per host and address.
		WorkerID: host + "/" + cfg.Addr})
	p.billing, err = newBilling(cfg, p.store, log)
	if err != nil {
		p.edge.close()
		return nil, err
	}
	return p, nil
}

// newBilling builds the billing service CLAW_BILLING asks for: a Stripe
// key alone does not turn Stripe on when the operator said off, and nothing
// but an explicit demo fakes checkout (which upgrades without paying).
func newBilling(cfg *Config, store *models.Store, log *slog.Logger) (*billing.Service, error) {
	stripeKey := ""
	if cfg.Billing == "stripe" {
		stripeKey = cfg.StripeSecretKey
	}
	return billing.New(billing.Options{
		Store: store, Logger: log.With("component", "billing"),
		StripeKey: stripeKey, WebhookSecret: cfg.StripeWebhookSecret, StripeBaseURL: cfg.StripeBaseURL,
		Grace: cfg.BillingGrace, BaseURL: cfg.BaseURL, SignupOpen: cfg.Signup == "open",
		Demo: cfg.Billing == "demo",
		OnPlanChange: func(ctx context.Context, tx models.BillingTx, tenantID uint, _, _ string) error {
			return tx.EnqueueTenantApps(ctx, tenantID)
		},
		PauseExcess: func(ctx context.Context, tx models.BillingTx, tenantID uint, p models.Plan) ([]string, error) {
			return tx.ApplyPlanCaps(ctx, tenantID, p)
		},
		Usage: store.TenantUsage,
	})
}

// serve runs the portal until ctx ends (SIGINT/SIGTERM), then drains
// requests for up to 20 s. It applies pending migrations at start: one
// binary, one schema; a database newer than the binary is refused.
func serve(ctx context.Context, cfg *Config, logw io.Writer) error {
	log := newLogger(cfg, logw)
	p, err := openPlatform(withLocalEdge(ctx), cfg, log, true)
	if err != nil {
		return err
	}
	defer p.edge.close()
	if w := sameSiteWarning(cfg.BaseURL, cfg.BaseDomain, p.edge.edgeURL); w != "" {
		log.Warn(w, "portal", cfg.BaseURL, "apps", cfg.BaseDomain, "edge", p.edge.edgeURL)
	}
	policy := models.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionMax}
	opts := web.Options{
		Store:          p.store,
		Logger:         log,
		BaseURL:        cfg.BaseURL,
		SignupOpen:     cfg.Signup == "open",
		Session:        policy,
		AuthRate:       cfg.AuthRate,
		TrustedProxies: cfg.TrustedProxies,
		EdgeInfo: web.EdgeInfo{Local: p.edge.local, EdgeURL: p.edge.edgeURL, BaseDomain: cfg.BaseDomain, RuntimeNote: p.edge.runtimeNote,
			CPU: p.edge.cpu, RequestCPU: p.edge.requestCPU},
		SecretKey:    p.key,
		SyncNow:      p.syncer.RunJob,
		Billing:      p.billing,
		IngestToken:  p.ingest,
		MetricsToken: cfg.MetricsToken,
		// Never shown in a tenant's logs (with the ingest, metrics and secret keys).
		PlatformSecrets: []string{workers.ConfigKeyHex(p.key), cfg.CFAPIToken, cfg.StripeSecretKey, cfg.StripeWebhookSecret},
		// Private egress is a local-edge switch: Cloudflare's network never
		// reaches the operator's private addresses.
		PrivateEgress: cfg.PrivateEgress && cfg.LocalEdge(),
		ReadyChecks: []web.ReadyCheck{{Name: "edge", Check: func(ctx context.Context) error {
			_, err := p.edge.cf.DispatchNamespaces(ctx)
			return err
		}}},
	}
	opts.DefaultFacilitatorURL = p.edge.facURL
	opts.ApplyFacilitators = func(ctx context.Context) error { return p.edge.applyFacilitators(ctx, p.store, p.key) }
	if p.edge.facilitator != nil {
		opts.Mounts = append(opts.Mounts, web.Mount{Prefix: "/dev-facilitator", Handler: p.edge.facilitator})
	}
	app, srv, err := web.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("CLAW_ADDR: unable to listen on %s: %v", cfg.Addr, err)
	}
	go checkFacilitators(ctx, srv, log)
	go sweepSessions(ctx, p.store, policy, log)
	go retainTelemetry(ctx, p.store, cfg.TelemetryRetention, time.Hour, log.With("component", "retention"))
	go sweepLogs(ctx, p.store, 10*time.Minute, log.With("component", "log-retention"))
	go p.syncer.Run(ctx)
	go p.billing.Run(ctx)
	go p.edge.stopRunaways(ctx, p.store, p.syncer.RunJob, log)
	if !p.edge.local && cfg.CFAnalyticsDataset != "" {
		// On Cloudflare with a dataset the dispatcher's events are in Analytics Engine.
		puller := &workers.AnalyticsPuller{Source: p.edge.cf, Store: p.store, Dataset: cfg.CFAnalyticsDataset,
			Interval: cfg.AnalyticsInterval, Logger: log.With("component", "analytics")}
		go puller.Run(ctx)
	}

	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	log.Info("portal listening", "url", cfg.BaseURL, "addr", ln.Addr().String(), "database", dbKind(cfg), "edge", p.edge.edgeURL, "billing", p.billing.Mode())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// checkFacilitators reads every facilitator's /supported once the portal listens (the dev
// facilitator is the portal's own), retrying the default facilitator for 30 s.
func checkFacilitators(ctx context.Context, srv *web.Server, log *slog.Logger) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := srv.CheckFacilitators(ctx)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log.Warn("the default facilitator's /supported was not read; Base Sepolia is assumed", "err", err)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func dbKind(cfg *Config) string {
	d, dsn, _ := models.ParseDatabaseURL(cfg.DatabaseURL, cfg.DataDir)
	if d == models.SQLite {
		return "sqlite:" + dsn
	}
	return "postgres"
}

func sweepSessions(ctx context.Context, store *models.Store, p models.SessionPolicy, log interface{ Warn(string, ...any) }) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := store.DeleteExpiredSessions(ctx, p); err != nil {
				log.Warn("session sweep failed", "err", err)
			}
		}
	}
}

// sameSiteWarning says so when the portal shares a site (scheme-less
// registrable domain, as browsers judge SameSite cookies) with the tenants'
// apps. A tenant's app then counts as same-site with the portal: it can set
// cookies the browser sends to the portal, and its forms carry the portal's
// SameSite=Lax cookies. The portal refuses such requests (Origin,
// Sec-Fetch-Site, session-bound CSRF tokens, __Host- cookies under https),
// but production should not depend on that alone.
func sameSiteWarning(baseURL, baseDomain, edgeURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Hostname() == "" {
		return ""
	}
	portal := siteOf(u.Hostname())
	apps := []string{baseDomain, "app." + baseDomain}
	if e, err := url.Parse(edgeURL); err == nil && e.Hostname() != "" {
		apps = append(apps, e.Hostname())
	}
	for _, h := range apps {
		if siteOf(h) == portal {
			return "the portal and tenants' apps are the same site (" + portal + "): fine for local development, but in production " +
				"serve apps under a registrable domain of their own (CLAW_BASE_DOMAIN, e.g. example-apps.com for a portal at portal.example.com)"
		}
	}
	return ""
}

// siteOf is a host's site: an IP address or a name without a registrable
// part (localhost) is its own; otherwise the registrable domain (eTLD+1).
func siteOf(host string) string {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return strings.Trim(host, "[]")
	}
	if site, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return site
	}
	return host
}

// retainTelemetry enforces CLAW_TELEMETRY_RETENTION: a minute after start, then every interval,
// it deletes raw telemetry events older than the retention in batches, and hourly rollups older
// than models.RollupRetention (13 months).
func retainTelemetry(ctx context.Context, store *models.Store, retention, every time.Duration, log *slog.Logger) {
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		n, err := deleteOldTelemetry(ctx, store, time.Now().Add(-retention))
		if err != nil {
			log.Warn("telemetry retention failed; retrying at the next run", "deleted", n, "err", err)
			continue
		}
		if n > 0 {
			log.Info("deleted raw telemetry events past the retention", "deleted", n, "retention", retention.String())
		}
		n, err = store.DeleteRollupsBefore(ctx, time.Now().Add(-models.RollupRetention))
		if err != nil {
			log.Warn("rollup retention failed; retrying at the next run", "deleted", n, "err", err)
		} else if n > 0 {
			log.Info("deleted rollups older than 13 months", "deleted", n)
		}
	}
}

// Retention deletes this many events per statement and pauses in between, so that ingest (one
// SQLite writer) is never kept waiting long by a backlog.
const (
	retentionBatch = 5000
	retentionPause = 50 * time.Millisecond
)

func deleteOldTelemetry(ctx context.Context, store *models.Store, before time.Time) (int64, error) {
	var total int64
	for {
		n, err := store.DeleteTelemetryBefore(ctx, before, retentionBatch)
		total += n
		if err != nil || n < retentionBatch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-time.After(retentionPause):
		}
	}
}
