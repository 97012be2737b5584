package web_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
)

// TestBillingBanners: the billing page tells a tenant about a past-due
// payment (with the grace deadline), a lapsed grace period and a
// cancellation at period end.
func TestBillingBanners(t *testing.T) {
	now := time.Now().UTC()
	p := startPortal(t, func(o *web.Options) {
		svc, err := billing.New(billing.Options{Store: o.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: o.BaseURL,
			Demo: true, Grace: 72 * time.Hour, Usage: o.Store.TenantUsage})
		if err != nil {
			t.Fatal(err)
		}
		o.Billing = svc
	})
	b := p.browser(t)
	b.signup("bill@example.com", "Bill")
	tenant := mustUser(t, p, "bill@example.com").Tenant
	end := now.Add(20 * 24 * time.Hour)
	cases := []struct {
		name      string
		sub       models.Subscription
		id, wants string
		absent    string
	}{
		{"past due within grace", models.Subscription{Status: models.SubPastDue, PastDueSince: ptr(now.Add(-24 * time.Hour))}, "#past-due", (now.Add(48 * time.Hour)).Format("2006-01-02"), "#cancel-notice"},
		{"grace over", models.Subscription{Status: models.SubPastDue, PastDueSince: ptr(now.Add(-100 * time.Hour))}, "#past-due", "grace period has ended", "#cancel-notice"},
		{"cancel at period end", models.Subscription{Status: models.SubActive, CancelAtPeriodEnd: true}, "#cancel-notice", end.Format("2006-01-02"), "#past-due"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p.DB.Gorm.Where("1=1").Delete(&models.Subscription{})
			c.sub.TenantID, c.sub.StripeSubscriptionID, c.sub.PlanKey, c.sub.CurrentPeriodEnd = tenant.ID, "sub_test_"+string(rune('a'+i)), "pro", &end
			c.sub.LastEventAt = now
			if err := p.DB.Gorm.Create(&c.sub).Error; err != nil {
				t.Fatal(err)
			}
			d := b.get("/billing").doc(t)
			if got := d.Find(c.id).Text(); !strings.Contains(got, c.wants) {
				t.Fatalf("%s says %q, want %q", c.id, got, c.wants)
			}
			if d.Find(c.absent).Length() != 0 {
				t.Fatalf("%s shown when it should not be", c.absent)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
