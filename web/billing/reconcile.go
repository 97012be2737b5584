package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/402claw/402claw/models"
	"github.com/stripe/stripe-go/v81"
)

// Report is what Reconcile found and fixed.
type Report struct {
	Customers     int      // tenants with a Stripe customer that were read
	Subscriptions int      // subscriptions Stripe listed
	Fixed         int      // rows created or corrected
	PlanChanges   int      // tenants whose plan changed as a result
	Changes       []string // one line per fix
	Errors        []string // one line per customer that could not be read
}

// ErrBillingOff is returned by Reconcile without a Stripe key.
var ErrBillingOff = errors.New("billing: Stripe is not configured (CLAW_STRIPE_SECRET_KEY is empty)")

// Reconcile re-reads every billing customer's subscriptions from Stripe and
// corrects the rows webhooks should have written: lost or failed deliveries
// leave drift that nothing else would repair. What Stripe says now counts
// as newer than any event received so far.
func (s *Service) Reconcile(ctx context.Context) (Report, error) {
	var r Report
	if s.mode != ModeStripe {
		return r, ErrBillingOff
	}
	tenants, err := s.store.BillingCustomers(ctx)
	if err != nil {
		return r, err
	}
	plans, err := s.store.Plans(ctx)
	if err != nil {
		return r, err
	}
	for _, t := range tenants {
		params := &stripe.SubscriptionListParams{Customer: stripe.String(t.StripeCustomerID), Status: stripe.String("all")}
		params.Context = ctx
		it := s.sc.Subscriptions.List(params)
		var subs []*stripe.Subscription
		for it.Next() {
			subs = append(subs, it.Subscription())
		}
		if err := it.Err(); err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("tenant %s (customer %s): %v", t.Slug, t.StripeCustomerID, err))
			continue
		}
		r.Customers++
		r.Subscriptions += len(subs)
		err := s.store.BillingTransaction(ctx, func(b models.BillingTx) error {
			lt, err := b.LockTenant(t.ID)
			if err != nil {
				return err
			}
			now := s.now().UTC()
			for _, sub := range subs {
				row, err := b.SubscriptionByStripeID(sub.ID)
				if errors.Is(err, models.ErrNotFound) {
					row = &models.Subscription{TenantID: t.ID, StripeSubscriptionID: sub.ID}
				} else if err != nil {
					return err
				} else if row.TenantID != t.ID {
					r.Errors = append(r.Errors, fmt.Sprintf("subscription %s is stored for tenant %d but Stripe lists it under %s", sub.ID, row.TenantID, t.Slug))
					continue
				}
				before := *row
				fillSubscription(row, sub, plans, now)
				if row.ID != 0 && sameSubscription(&before, row) {
					continue
				}
				if err := b.SaveSubscription(row); err != nil {
					return err
				}
				r.Fixed++
				r.Changes = append(r.Changes, fmt.Sprintf("tenant %s: subscription %s %s → %s (plan %q)", t.Slug, sub.ID, orNone(before.Status), row.Status, row.PlanKey))
			}
			changed, err := s.applyEntitlement(ctx, b, lt, now, "reconcile")
			if changed {
				r.PlanChanges++
				r.Changes = append(r.Changes, fmt.Sprintf("tenant %s: plan now %s", t.Slug, lt.PlanKey))
			}
			return err
		})
		if err != nil {
			return r, fmt.Errorf("billing: unable to reconcile tenant %s: %w", t.Slug, err)
		}
	}
	return r, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// sameSubscription compares what Stripe decides, not our bookkeeping.
func sameSubscription(a, b *models.Subscription) bool {
	pe := func(s *models.Subscription) int64 {
		if s.CurrentPeriodEnd == nil {
			return 0
		}
		return s.CurrentPeriodEnd.Unix()
	}
	return a.Status == b.Status && a.PlanKey == b.PlanKey && a.StripePriceID == b.StripePriceID && a.StripeCustomerID == b.StripeCustomerID &&
		a.CancelAtPeriodEnd == b.CancelAtPeriodEnd && pe(a) == pe(b)
}
