package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/syncer"
)

// reconcileCmd compares the database with the edge once and repairs drift.
func reconcileCmd(ctx context.Context, cfg *Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o syncer.ReconcileOptions
	fs.BoolVar(&o.AllowMassDelete, "allow-mass-delete", false, "delete strays even when they are more than the safety valve allows (this run only)")
	fs.BoolVar(&o.AllowMassUpload, "allow-mass-upload", false, "repair scripts even when the listing shows none of ours (this run only)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	p, err := openPlatform(ctx, cfg, newLogger(cfg, stderr), false)
	if err != nil {
		return err
	}
	defer p.edge.close()
	r, err := p.syncer.ReconcileWith(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked %d apps (%d skipped: their sync job is pending)\n", r.Checked, r.Pending)
	fmt.Fprintf(stdout, "listed %d of our scripts (%s); %d per-script reads\n", r.Listed, r.ListShape, r.Reads)
	fmt.Fprintf(stdout, "repaired: %d missing scripts, %d wrong scripts, %d stray scripts removed, %d config documents rewritten, %d stray documents removed\n",
		r.MissingScripts, r.WrongScripts, r.StrayScripts, r.KVFixed, r.KVStray)
	if r.Blocked {
		return fmt.Errorf("reconcile held back by the safety valve: %s", r.BlockedReason)
	}
	if r.Errors > 0 {
		return fmt.Errorf("%d repairs failed; their sync jobs keep retrying (see /admin/sync)", r.Errors)
	}
	return nil
}

// cloudflareBootstrap is what bootstrap (and the check's bootstraps) upload to a Cloudflare
// account for cfg.
func cloudflareBootstrap(cfg *Config) (*workers.Cloudflare, workers.BootstrapOptions, []byte, error) {
	if cfg.LocalEdge() {
		return nil, workers.BootstrapOptions{}, nil, fmt.Errorf("CLAW_CF_API_TOKEN: this command works on a Cloudflare account; set CLAW_CF_API_TOKEN and CLAW_CF_ACCOUNT_ID (the local edge bootstraps itself when `serve` starts)")
	}
	cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: cfg.CFAPIToken, AccountID: cfg.CFAccountID, BaseURL: cfg.CFBaseURL})
	fac := cfg.FacilitatorURL
	if fac == "" {
		fac = "https://x402.org/facilitator"
	}
	key, err := secretKey(cfg)
	if err != nil {
		return nil, workers.BootstrapOptions{}, nil, err
	}
	return cf, workers.BootstrapOptions{Namespace: cfg.CFNamespace, KVNamespaceID: cfg.CFKVConfigID, BaseDomain: cfg.BaseDomain,
		IngestURL: cfg.BaseURL + "/internal/telemetry", PortalURL: cfg.BaseURL, IngestToken: cfg.IngestToken, FacilitatorURL: fac, ConfigKey: workers.ConfigKeyHex(key),
		AnalyticsDataset: cfg.CFAnalyticsDataset}, key, nil
}

// edgeCheckCmd runs the end-to-end check against the Cloudflare account.
func edgeCheckCmd(ctx context.Context, cfg *Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edge check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	edgeURL := fs.String("edge-url", "", "where the dispatcher answers (default https://CLAW_BASE_DOMAIN)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cf, bopts, key, err := cloudflareBootstrap(cfg)
	if err != nil {
		return err
	}
	if *edgeURL == "" {
		*edgeURL = "https://" + cfg.BaseDomain
	}
	if !strings.HasPrefix(*edgeURL, "https://") && !strings.HasPrefix(*edgeURL, "http://") {
		return fmt.Errorf("--edge-url: %q is not an http(s) URL", *edgeURL)
	}
	fmt.Fprintf(stdout, "checking account %s, namespace %s, edge %s\n", cfg.CFAccountID, cfg.CFNamespace, *edgeURL)
	rep, err := workers.EdgeCheck(ctx, cf, workers.CheckOptions{Bootstrap: bopts, EdgeURL: *edgeURL, SecretKey: key, Out: stdout})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "edge check passed: the account behaves as 402claw expects (list-scripts answers: %s)\n", rep.Listing)
	return nil
}

// edgeBootstrapCmd prepares a Cloudflare account: namespaces and our workers.
func edgeBootstrapCmd(ctx context.Context, cfg *Config, stdout io.Writer) error {
	cf, bopts, key, err := cloudflareBootstrap(cfg)
	if err != nil {
		return err
	}
	// The operator's facilitators (Admin → Facilitators) go into the dispatcher's bindings.
	if db, err := openDB(cfg); err != nil {
		fmt.Fprintf(stdout, "database not opened (%v): the dispatcher gets no configured facilitators\n", err)
	} else if fs, err := models.NewStore(db).Facilitators(ctx); err != nil {
		fmt.Fprintf(stdout, "facilitators not read (%v): the dispatcher gets none\n", err)
	} else if bopts.Facilitators, bopts.FacilitatorAuth, err = workers.FacilitatorBindings(fs, key); err != nil {
		return err
	} else if len(fs) > 0 {
		fmt.Fprintf(stdout, "%d configured facilitators written into the dispatcher's bindings\n", len(fs))
	}
	r, err := workers.Bootstrap(ctx, cf, bopts)
	for _, l := range r.Lines() {
		fmt.Fprintln(stdout, l)
	}
	if err != nil {
		return err
	}
	if cfg.CFKVConfigID == "" {
		fmt.Fprintf(stdout, "set CLAW_CF_KV_NAMESPACE_ID=%s for `402claw serve`\n", r.KVNamespaceID)
	}
	fmt.Fprintf(stdout, "route your base domain %s and *.%s to the worker %s\n", cfg.BaseDomain, cfg.BaseDomain, workers.DispatcherWorker)
	return nil
}

// billingReconcileCmd re-reads subscriptions from Stripe and fixes drift.
func billingReconcileCmd(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
	if cfg.StripeSecretKey == "" {
		return fmt.Errorf("CLAW_STRIPE_SECRET_KEY: billing is off; there is nothing to reconcile")
	}
	p, err := openPlatform(ctx, cfg, newLogger(cfg, stderr), false)
	if err != nil {
		return err
	}
	defer p.edge.close()
	r, err := p.billing.Reconcile(ctx)
	for _, c := range r.Changes {
		fmt.Fprintln(stdout, "fixed:", c)
	}
	for _, e := range r.Errors {
		fmt.Fprintln(stdout, "error:", e)
	}
	fmt.Fprintf(stdout, "read %d customers and %d subscriptions; %d fixes, %d plan changes\n", r.Customers, r.Subscriptions, r.Fixed, r.PlanChanges)
	return err
}
