package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

func TestEntitlement(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	grace := 72 * time.Hour
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	sub := func(status string, mod ...func(*models.Subscription)) *models.Subscription {
		s := &models.Subscription{Status: status, PlanKey: "pro"}
		for _, m := range mod {
			m(s)
		}
		return s
	}
	pastDue := func(d time.Duration) func(*models.Subscription) {
		return func(s *models.Subscription) { s.PastDueSince = at(d) }
	}
	cancelAt := func(d time.Duration) func(*models.Subscription) {
		return func(s *models.Subscription) { s.CancelAtPeriodEnd, s.CurrentPeriodEnd = true, at(d) }
	}
	cases := []struct {
		name  string
		sub   *models.Subscription
		grace time.Duration
		plan  string
		state models.EntitlementState
	}{
		{"no subscription", nil, grace, "free", models.EntitlementNone},
		{"active", sub("active"), grace, "pro", models.EntitlementActive},
		{"trialing", sub("trialing"), grace, "pro", models.EntitlementActive},
		{"active without plan key", &models.Subscription{Status: "active"}, grace, "free", models.EntitlementActive},
		{"past due just now", sub("past_due", pastDue(0)), grace, "pro", models.EntitlementGrace},
		{"past due inside grace", sub("past_due", pastDue(-71*time.Hour)), grace, "pro", models.EntitlementGrace},
		{"past due one second before deadline", sub("past_due", pastDue(-grace+time.Second)), grace, "pro", models.EntitlementGrace},
		{"past due exactly at deadline", sub("past_due", pastDue(-grace)), grace, "free", models.EntitlementLapsed},
		{"past due beyond grace", sub("past_due", pastDue(-96*time.Hour)), grace, "free", models.EntitlementLapsed},
		{"past due without timestamp keeps plan", sub("past_due"), grace, "pro", models.EntitlementGrace},
		{"past due with zero grace", sub("past_due", pastDue(0)), 0, "free", models.EntitlementLapsed},
		{"past due with zero grace and no timestamp", sub("past_due"), 0, "free", models.EntitlementLapsed},
		{"past due with one week grace", sub("past_due", pastDue(-96*time.Hour)), 7 * 24 * time.Hour, "pro", models.EntitlementGrace},
		{"unpaid", sub("unpaid"), grace, "free", models.EntitlementEnded},
		{"canceled", sub("canceled"), grace, "free", models.EntitlementEnded},
		{"incomplete expired", sub("incomplete_expired"), grace, "free", models.EntitlementEnded},
		{"incomplete", sub("incomplete"), grace, "free", models.EntitlementPending},
		{"paused", sub("paused"), grace, "free", models.EntitlementPaused},
		{"unknown status", sub("exploded"), grace, "free", models.EntitlementUnknown},
		{"empty status", sub(""), grace, "free", models.EntitlementUnknown},
		{"cancel at period end, period running", sub("active", cancelAt(24*time.Hour)), grace, "pro", models.EntitlementActive},
		{"cancel at period end, ended inside grace", sub("active", cancelAt(-24*time.Hour)), grace, "pro", models.EntitlementActive},
		{"cancel at period end, ended beyond grace (deletion event lost)", sub("active", cancelAt(-73*time.Hour)), grace, "free", models.EntitlementEnded},
		{"period over but not canceling", sub("active", func(s *models.Subscription) { s.CurrentPeriodEnd = at(-1000 * time.Hour) }), grace, "pro", models.EntitlementActive},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan, state := models.Entitlement(c.sub, now, c.grace)
			if plan != c.plan || state != c.state {
				t.Fatalf("Entitlement = (%q, %q), want (%q, %q)", plan, state, c.plan, c.state)
			}
			if state.Entitled() != (state == models.EntitlementActive || state == models.EntitlementGrace) {
				t.Fatalf("Entitled() disagrees with state %q", state)
			}
		})
	}
}

func TestEffectiveSubscription(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	old := models.Subscription{StripeSubscriptionID: "sub_old", Status: "active", PlanKey: "pro", LastEventAt: now.Add(-48 * time.Hour)}
	newer := models.Subscription{StripeSubscriptionID: "sub_new", Status: "canceled", PlanKey: "pro", LastEventAt: now.Add(-time.Hour)}
	cases := []struct {
		name string
		subs []models.Subscription
		want string
	}{
		{"none", nil, ""},
		{"entitled older beats canceled newer", []models.Subscription{newer, old}, "sub_old"},
		{"only canceled", []models.Subscription{newer}, "sub_new"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := models.EffectiveSubscription(c.subs, now, time.Hour)
			id := ""
			if got != nil {
				id = got.StripeSubscriptionID
			}
			if id != c.want {
				t.Fatalf("EffectiveSubscription = %q, want %q", id, c.want)
			}
		})
	}
}

func TestBillingStore(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		st := models.NewStore(db.Gorm)
		_, tenant, err := st.SignUp(ctx, "a@example.com", "x", "Acme", models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}

		// The first stored customer wins; a second link returns it unchanged.
		got, err := st.LinkStripeCustomer(ctx, tenant.ID, "cus_1")
		if err != nil || got != "cus_1" {
			t.Fatalf("first link = %q, %v", got, err)
		}
		got, err = st.LinkStripeCustomer(ctx, tenant.ID, "cus_2")
		if err != nil || got != "cus_1" {
			t.Fatalf("second link = %q, %v; want the first customer kept", got, err)
		}
		if tt, err := st.TenantByStripeCustomer(ctx, "cus_1"); err != nil || tt.ID != tenant.ID {
			t.Fatalf("TenantByStripeCustomer = %v, %v", tt, err)
		}
		if _, err := st.TenantByStripeCustomer(ctx, "cus_nobody"); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("unknown customer: %v", err)
		}
		if _, err := st.TenantByStripeCustomer(ctx, ""); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("empty customer id must not match tenants without one: %v", err)
		}

		// An event id is new exactly once, also within later transactions,
		// and a duplicate leaves the transaction usable (PostgreSQL aborts
		// a transaction on a plain unique violation).
		for i, want := range []bool{true, false, false} {
			err := st.BillingTransaction(ctx, func(b models.BillingTx) error {
				fresh, err := b.RecordStripeEvent(models.StripeEvent{ID: "evt_1", Type: "invoice.paid", Created: time.Now()})
				if err != nil {
					return err
				}
				if fresh != want {
					t.Errorf("delivery %d: fresh = %v, want %v", i+1, fresh, want)
				}
				_, err = b.LockTenant(tenant.ID)
				return err
			})
			if err != nil {
				t.Fatalf("delivery %d: %v", i+1, err)
			}
		}
		// A rolled-back transaction forgets the event, so Stripe's retry is processed.
		boom := errors.New("boom")
		err = st.BillingTransaction(ctx, func(b models.BillingTx) error {
			if _, err := b.RecordStripeEvent(models.StripeEvent{ID: "evt_2", Type: "x"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		err = st.BillingTransaction(ctx, func(b models.BillingTx) error {
			fresh, err := b.RecordStripeEvent(models.StripeEvent{ID: "evt_2", Type: "x"})
			if err == nil && !fresh {
				t.Error("event of a rolled-back transaction counted as seen")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}

		now := time.Now().UTC().Truncate(time.Second)
		since := now.Add(-time.Hour)
		err = st.BillingTransaction(ctx, func(b models.BillingTx) error {
			if err := b.SaveSubscription(&models.Subscription{TenantID: tenant.ID, StripeSubscriptionID: "sub_1", Status: "past_due", PlanKey: "pro", PastDueSince: &since, LastEventAt: now}); err != nil {
				return err
			}
			return b.SaveSubscription(&models.Subscription{TenantID: tenant.ID, StripeSubscriptionID: "sub_2", Status: "active", PlanKey: "pro", LastEventAt: now.Add(-time.Minute)})
		})
		if err != nil {
			t.Fatal(err)
		}
		err = st.BillingTransaction(ctx, func(b models.BillingTx) error {
			return b.SaveSubscription(&models.Subscription{TenantID: tenant.ID, StripeSubscriptionID: "sub_1", Status: "active"})
		})
		if err == nil {
			t.Fatal("a second row for one Stripe subscription was accepted")
		}
		due, err := st.PastDueSubscriptions(ctx, now.Add(-30*time.Minute))
		if err != nil || len(due) != 1 || due[0].StripeSubscriptionID != "sub_1" {
			t.Fatalf("PastDueSubscriptions = %+v, %v", due, err)
		}
		if due, _ := st.PastDueSubscriptions(ctx, now.Add(-2*time.Hour)); len(due) != 0 {
			t.Fatalf("past due since 1h listed as due 2h ago: %+v", due)
		}
		subs, err := st.TenantSubscriptions(ctx, tenant.ID)
		if err != nil || len(subs) != 2 || subs[0].StripeSubscriptionID != "sub_1" {
			t.Fatalf("TenantSubscriptions = %+v, %v", subs, err)
		}

		p, err := st.PlanByKey(ctx, "pro")
		if err != nil {
			t.Fatal(err)
		}
		p.CPUMs, p.StripePriceID, p.Active = 300, "price_123", false
		if err := st.SavePlan(ctx, *p); err != nil {
			t.Fatal(err)
		}
		p2, _ := st.PlanByKey(ctx, "pro")
		if p2.CPUMs != 300 || p2.StripePriceID != "price_123" || p2.Active {
			t.Fatalf("saved plan = %+v", p2)
		}
		if err := st.SavePlan(ctx, models.Plan{Key: "nope", Name: "x"}); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("SavePlan of unknown key = %v", err)
		}
		custs, err := st.BillingCustomers(ctx)
		if err != nil || len(custs) != 1 || custs[0].ID != tenant.ID {
			t.Fatalf("BillingCustomers = %+v, %v", custs, err)
		}
	})
}
