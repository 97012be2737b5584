package main

import (
	"context"
	"fmt"
	"io"

	"github.com/402claw/402claw/workers"
)

// reconcileCmd compares the database with the edge once and repairs drift.
func reconcileCmd(ctx context.Context, cfg *Config, stdout, stderr io.Writer) error {
	p, err := openPlatform(ctx, cfg, newLogger(cfg, stderr), false)
	if err != nil {
		return err
	}
	defer p.edge.close()
	r, err := p.syncer.Reconcile(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "checked %d apps (%d skipped: their sync job is pending)\n", r.Checked, r.Pending)
	fmt.Fprintf(stdout, "repaired: %d missing scripts, %d wrong scripts, %d stray scripts removed, %d config documents rewritten, %d stray documents removed\n",
		r.MissingScripts, r.WrongScripts, r.StrayScripts, r.KVFixed, r.KVStray)
	if r.Errors > 0 {
		return fmt.Errorf("%d repairs failed; their sync jobs keep retrying (see /admin/sync)", r.Errors)
	}
	return nil
}

// edgeBootstrapCmd prepares a Cloudflare account: namespaces and our workers.
func edgeBootstrapCmd(ctx context.Context, cfg *Config, stdout io.Writer) error {
	if cfg.LocalEdge() {
		return fmt.Errorf("CLAW_CF_API_TOKEN: edge bootstrap prepares a Cloudflare account; set CLAW_CF_API_TOKEN and CLAW_CF_ACCOUNT_ID (the local edge bootstraps itself when `serve` starts)")
	}
	cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: cfg.CFAPIToken, AccountID: cfg.CFAccountID, BaseURL: cfg.CFBaseURL})
	fac := cfg.FacilitatorURL
	if fac == "" {
		fac = "https://x402.org/facilitator"
	}
	key, err := secretKey(cfg)
	if err != nil {
		return err
	}
	r, err := workers.Bootstrap(ctx, cf, workers.BootstrapOptions{Namespace: cfg.CFNamespace, KVNamespaceID: cfg.CFKVConfigID, BaseDomain: cfg.BaseDomain,
		IngestURL: cfg.BaseURL + "/internal/telemetry", IngestToken: cfg.IngestToken, FacilitatorURL: fac, ConfigKey: workers.ConfigKeyHex(key)})
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
