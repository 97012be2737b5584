// Package billing sells plans through Stripe: Checkout to subscribe, the
// Customer Portal to manage, webhooks to follow what Stripe decided, and a
// grace-period check and a reconciler for what webhooks cannot guarantee.
// Access follows the subscription rows that the webhooks write; the pages
// never ask Stripe what a tenant may do.
package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/client"
)

// Options configures the Service. Store is required; everything else has a
// working default.
type Options struct {
	Store  *models.Store
	Logger *slog.Logger
	// StripeKey turns billing on; empty means free plan only (or Demo).
	StripeKey     string
	WebhookSecret string
	// StripeBaseURL points the client at stripe-mock in tests.
	StripeBaseURL string
	// Grace is how long a past-due subscription keeps its plan (default 72h).
	Grace time.Duration
	// BaseURL is the portal's public URL, for Stripe's return URLs and the
	// demo's webhook post.
	BaseURL string
	// OnPlanChange runs in the transaction that changes a tenant's plan (or
	// the limits of its plan, then oldPlan == newPlan); it enqueues the
	// write-through of the new limits to the tenant's apps.
	OnPlanChange func(ctx context.Context, tx models.BillingTx, tenantID uint, oldPlan, newPlan string) error
	// PauseExcess runs in the same transaction after a plan change and pauses
	// (never deletes) the apps beyond the new plan's caps.
	PauseExcess func(ctx context.Context, tx models.BillingTx, tenantID uint, plan models.Plan) (paused []string, err error)
	// Usage reports what a tenant uses, for the billing page.
	Usage func(ctx context.Context, tenantID uint) (apps, routes int, scriptBytes int64, err error)
	// Demo fakes Checkout locally when there is no Stripe key.
	Demo bool
	// HTTPClient posts the demo's webhooks (default: 10 s timeout).
	HTTPClient *http.Client
	// SignupOpen shows the sign-up link on the pricing page.
	SignupOpen bool
	// Now is the clock (tests).
	Now func() time.Time
}

// Mode is how billing runs.
type Mode string

const (
	ModeOff    Mode = "off"    // no Stripe key: free plan, admins assign plans
	ModeDemo   Mode = "demo"   // no Stripe key, fake checkout posting signed webhooks
	ModeStripe Mode = "stripe" // real Stripe
)

// DefaultGrace is the past-due grace period when none is configured.
const DefaultGrace = 72 * time.Hour

// Service holds the billing handlers and jobs.
type Service struct {
	store  *models.Store
	log    *slog.Logger
	opts   Options
	mode   Mode
	secret string
	sc     *client.API
	http   *http.Client
	now    func() time.Time
}

// New builds the service. In demo mode without a webhook secret it makes
// one up: the demo signs and checks its own webhooks.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("billing: a store is required")
	}
	s := &Service{store: o.Store, log: o.Logger, opts: o, secret: o.WebhookSecret, http: o.HTTPClient, now: o.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.Grace <= 0 {
		s.opts.Grace = DefaultGrace
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.http == nil {
		s.http = &http.Client{Timeout: 10 * time.Second}
	}
	s.opts.BaseURL = strings.TrimRight(o.BaseURL, "/")
	switch {
	case o.StripeKey != "":
		s.mode = ModeStripe
		if s.secret == "" {
			return nil, errors.New("billing: a webhook secret is required with a Stripe key")
		}
		cfg := &stripe.BackendConfig{MaxNetworkRetries: stripe.Int64(2), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelError}}
		if o.StripeBaseURL != "" {
			cfg.URL = stripe.String(o.StripeBaseURL)
		}
		s.sc = client.New(o.StripeKey, stripe.NewBackendsWithConfig(cfg))
	case o.Demo:
		s.mode = ModeDemo
		if s.secret == "" {
			s.secret = "whsec_demo_" + models.NewSecret(24)
		}
		if s.opts.BaseURL == "" {
			return nil, errors.New("billing: demo mode needs the portal's base URL to post its webhooks to")
		}
	default:
		s.mode = ModeOff
	}
	return s, nil
}

// Mode reports how billing runs.
func (s *Service) Mode() Mode { return s.mode }

// Grace is the configured past-due grace period.
func (s *Service) Grace() time.Duration { return s.opts.Grace }

// Run applies free limits when grace periods run out, once a minute, until
// ctx ends. Webhooks alone would leave a lapsed tenant on its plan until
// Stripe's next event, which may be days later.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := s.ApplyGrace(ctx); err != nil {
			s.log.Error("billing: grace check failed", "err", err)
		} else if n > 0 {
			s.log.Info("billing: grace periods ended", "tenants", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ApplyGrace moves tenants whose past-due grace period has ended to the
// plan their subscriptions still grant, and returns how many changed.
func (s *Service) ApplyGrace(ctx context.Context) (int, error) {
	now := s.now()
	due, err := s.store.PastDueSubscriptions(ctx, now.Add(-s.opts.Grace))
	if err != nil {
		return 0, err
	}
	seen := map[uint]bool{}
	changed := 0
	for _, sub := range due {
		if seen[sub.TenantID] {
			continue
		}
		seen[sub.TenantID] = true
		err := s.store.BillingTransaction(ctx, func(b models.BillingTx) error {
			t, err := b.LockTenant(sub.TenantID)
			if err != nil {
				return err
			}
			did, err := s.applyEntitlement(ctx, b, t, now, "grace period ended")
			if did {
				changed++
			}
			return err
		})
		if err != nil {
			return changed, fmt.Errorf("billing: unable to end grace period of tenant %d: %w", sub.TenantID, err)
		}
	}
	return changed, nil
}

// applyEntitlement sets the tenant's plan to what its subscriptions grant at
// now and reports whether it changed.
func (s *Service) applyEntitlement(ctx context.Context, b models.BillingTx, t *models.Tenant, now time.Time, why string) (bool, error) {
	subs, err := b.TenantSubscriptions(t.ID)
	if err != nil {
		return false, err
	}
	plan, _ := models.Entitlement(models.EffectiveSubscription(subs, now, s.opts.Grace), now, s.opts.Grace)
	if _, err := b.PlanByKey(plan); errors.Is(err, models.ErrNotFound) {
		// A subscription for a plan the catalog no longer has must not
		// strand the tenant on limits nobody defined.
		s.log.Error("billing: subscription names an unknown plan; using free", "tenant_id", t.ID, "plan", plan)
		plan = models.FreePlan
	} else if err != nil {
		return false, err
	}
	return s.setPlan(ctx, b, t, plan, nil, why)
}

// setPlan changes a tenant's plan with its side effects, in b's transaction.
func (s *Service) setPlan(ctx context.Context, b models.BillingTx, t *models.Tenant, plan string, actor *uint, why string) (bool, error) {
	if t.PlanKey == plan {
		return false, nil
	}
	p, err := b.PlanByKey(plan)
	if err != nil {
		return false, err
	}
	old := t.PlanKey
	if err := b.SetTenantPlan(t.ID, plan); err != nil {
		return false, err
	}
	t.PlanKey = plan
	if s.opts.OnPlanChange != nil {
		if err := s.opts.OnPlanChange(ctx, b, t.ID, old, plan); err != nil {
			return false, fmt.Errorf("billing: unable to enqueue the limits of plan %s for tenant %d: %w", plan, t.ID, err)
		}
	}
	detail := fmt.Sprintf("%s → %s (%s)", old, plan, why)
	if s.opts.PauseExcess != nil {
		paused, err := s.opts.PauseExcess(ctx, b, t.ID, *p)
		if err != nil {
			return false, fmt.Errorf("billing: unable to pause apps beyond plan %s for tenant %d: %w", plan, t.ID, err)
		}
		if len(paused) > 0 {
			detail += "; paused apps: " + strings.Join(paused, ", ")
		}
	}
	if err := b.Audit(actor, "plan_changed", "tenant:"+t.Slug, detail); err != nil {
		return false, err
	}
	s.log.Info("billing: plan changed", "tenant_id", t.ID, "from", old, "to", plan, "why", why)
	return true, nil
}

// planForPrice maps a Stripe price to a plan key; metadata["plan"] is the
// fallback (the demo has no real prices, and a price may be retired later).
func planForPrice(plans []models.Plan, priceID string, metadata map[string]string) string {
	if priceID != "" {
		for _, p := range plans {
			if p.StripePriceID == priceID {
				return p.Key
			}
		}
	}
	if k := metadata["plan"]; k != "" {
		for _, p := range plans {
			if p.Key == k {
				return k
			}
		}
	}
	return ""
}
