package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/gofiber/fiber/v2"
	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/webhook"
	"gorm.io/gorm"
)

const testSecret = "whsec_test_secret"

// fixture is a migrated database with tenant A (customer cus_A, free) and
// tenant B (no customer), pro priced at price_pro, and a webhook endpoint.
type fixture struct {
	store      *models.Store
	db         *gorm.DB // for reading rows the store has no method for
	svc        *Service
	app        *fiber.App
	a, b       *models.Tenant
	changes    []string // OnPlanChange calls "tenant:old>new"
	paused     []string // PauseExcess calls "tenant:plan"
	failChange error
}

func newFixture(t *testing.T, db modeltest.DB, mod func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{store: models.NewStore(db.Gorm), db: db.Gorm}
	var err error
	if _, f.a, err = f.store.SignUp(ctx, "a@example.com", "x", "Tenant A", models.RoleTenant); err != nil {
		t.Fatal(err)
	}
	if _, f.b, err = f.store.SignUp(ctx, "b@example.com", "x", "Tenant B", models.RoleTenant); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.LinkStripeCustomer(ctx, f.a.ID, "cus_A"); err != nil {
		t.Fatal(err)
	}
	pro, _ := f.store.PlanByKey(ctx, "pro")
	pro.StripePriceID = "price_pro"
	if err := f.store.SavePlan(ctx, *pro); err != nil {
		t.Fatal(err)
	}
	o := Options{
		Store: f.store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), WebhookSecret: testSecret, Grace: 72 * time.Hour,
		OnPlanChange: func(ctx context.Context, tx models.BillingTx, id uint, old, new string) error {
			if f.failChange != nil {
				return f.failChange
			}
			f.changes = append(f.changes, fmt.Sprintf("%d:%s>%s", id, old, new))
			return nil
		},
		PauseExcess: func(ctx context.Context, tx models.BillingTx, id uint, p models.Plan) ([]string, error) {
			f.paused = append(f.paused, fmt.Sprintf("%d:%s", id, p.Key))
			return nil, nil
		},
	}
	if mod != nil {
		mod(&o)
	}
	if f.svc, err = New(o); err != nil {
		t.Fatal(err)
	}
	f.app = fiber.New()
	f.app.Post("/stripe/webhook", f.svc.Webhook)
	return f
}

func (f *fixture) post(t *testing.T, body []byte, header string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("POST", "/stripe/webhook", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	resp, err := f.app.Test(req, -1)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
	}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &out)
	if out.Outcome == "" {
		out.Outcome = out.Error
	}
	return resp.StatusCode, out.Outcome
}

// snapshot is everything a webhook may change, for "nothing changed" checks.
func (f *fixture) snapshot(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	var ts []models.Tenant
	f.db.Order("id").Find(&ts)
	for _, x := range ts {
		fmt.Fprintf(&b, "tenant %d %s %q\n", x.ID, x.PlanKey, x.StripeCustomerID)
	}
	var subs []models.Subscription
	f.db.Order("id").Find(&subs)
	for _, s := range subs {
		fmt.Fprintf(&b, "sub %s t%d %s %s %s %v %v %v %d\n", s.StripeSubscriptionID, s.TenantID, s.StripeCustomerID, s.Status, s.PlanKey, s.CancelAtPeriodEnd, s.PastDueSince != nil, s.CurrentPeriodEnd != nil, s.LastEventAt.Unix())
	}
	return b.String()
}

func (f *fixture) events(t *testing.T) int64 {
	var n int64
	f.db.Model(&models.StripeEvent{}).Count(&n)
	return n
}

func (f *fixture) tenantPlan(t *testing.T, id uint) string {
	tt, err := f.store.TenantByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tt.PlanKey
}

func (f *fixture) sub(t *testing.T, id string) *models.Subscription {
	var s models.Subscription
	if err := f.db.Where("stripe_subscription_id = ?", id).First(&s).Error; err != nil {
		return nil
	}
	return &s
}

var base = time.Now().Add(-time.Hour).Unix()

func event(id, typ string, created int64, obj any) []byte {
	raw, _ := json.Marshal(obj)
	b, _ := json.Marshal(map[string]any{"id": id, "object": "event", "api_version": stripe.APIVersion, "created": created, "type": typ,
		"data": map[string]any{"object": json.RawMessage(raw)}})
	return b
}

func subObj(id, customer, status string, extra ...func(map[string]any)) map[string]any {
	m := map[string]any{"id": id, "object": "subscription", "customer": customer, "status": status, "current_period_end": base + 30*86400,
		"items": map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1", "object": "subscription_item", "price": map[string]any{"id": "price_pro", "object": "price"}}}}}
	for _, e := range extra {
		e(m)
	}
	return m
}

func invoiceObj(sub, customer string) map[string]any {
	return map[string]any{"id": "in_1", "object": "invoice", "customer": customer, "subscription": sub}
}

func sign(body []byte, at time.Time, secret string) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

type delivery struct {
	body    []byte
	header  string // empty: signed now with the right secret; "-" sends none
	status  int
	outcome string
}

func ok(body []byte, outcome string) delivery {
	return delivery{body: body, status: 200, outcome: outcome}
}
func bad(body []byte, header, why string) delivery {
	return delivery{body: body, header: header, status: 400, outcome: why}
}

func TestWebhookTable(t *testing.T) {
	created := func(id string, at int64, status string, extra ...func(map[string]any)) []byte {
		return event(id, EvSubscriptionCreated, at, subObj("sub_1", "cus_A", status, extra...))
	}
	updated := func(id string, at int64, status string, extra ...func(map[string]any)) []byte {
		return event(id, EvSubscriptionUpdated, at, subObj("sub_1", "cus_A", status, extra...))
	}
	deleted := func(id string, at int64) []byte {
		return event(id, EvSubscriptionDeleted, at, subObj("sub_1", "cus_A", "canceled"))
	}
	now := time.Now()
	good := created("evt_c", base, "active")
	fixedHeader := sign(good, now, testSecret)
	days := int64(86400)
	cases := []struct {
		name      string
		steps     []delivery
		plan      string // tenant A's plan afterwards
		subStatus string // sub_1's status afterwards, "" for no row
		changes   int    // OnPlanChange calls
		events    int64  // stripe_events rows
		unchanged bool   // the snapshot must equal the one before
		check     func(t *testing.T, f *fixture)
	}{
		{name: "subscription created active grants pro", steps: []delivery{ok(good, OutcomeApplied)}, plan: "pro", subStatus: "active", changes: 1, events: 1,
			check: func(t *testing.T, f *fixture) {
				if len(f.paused) != 1 || f.paused[0] != fmt.Sprintf("%d:pro", f.a.ID) {
					t.Errorf("PauseExcess calls = %v", f.paused)
				}
			}},
		{name: "subscription created trialing grants pro", steps: []delivery{ok(created("e1", base, "trialing"), OutcomeApplied)}, plan: "pro", subStatus: "trialing", changes: 1, events: 1},
		{name: "subscription created incomplete grants nothing", steps: []delivery{ok(created("e1", base, "incomplete"), OutcomeApplied)}, plan: "free", subStatus: "incomplete", events: 1},
		{name: "duplicates x3 apply once", steps: []delivery{ok(good, OutcomeApplied), ok(good, OutcomeDuplicate), ok(good, OutcomeDuplicate)}, plan: "pro", subStatus: "active", changes: 1, events: 1},
		{name: "replayed identical delivery x3", steps: []delivery{
			{body: good, header: fixedHeader, status: 200, outcome: OutcomeApplied},
			{body: good, header: fixedHeader, status: 200, outcome: OutcomeDuplicate},
			{body: good, header: fixedHeader, status: 200, outcome: OutcomeDuplicate}}, plan: "pro", subStatus: "active", changes: 1, events: 1},
		{name: "updated past_due keeps pro in grace", steps: []delivery{ok(good, OutcomeApplied), ok(updated("e2", base+10, "past_due"), OutcomeApplied)}, plan: "pro", subStatus: "past_due", changes: 1, events: 2,
			check: func(t *testing.T, f *fixture) {
				s := f.sub(t, "sub_1")
				if s.PastDueSince == nil || s.PastDueSince.Unix() != base+10 {
					t.Errorf("PastDueSince = %v, want the event's created time", s.PastDueSince)
				}
			}},
		{name: "past_due older than grace drops to free", steps: []delivery{ok(created("e1", base-5*days, "active"), OutcomeApplied), ok(updated("e2", base-4*days, "past_due"), OutcomeApplied)}, plan: "free", subStatus: "past_due", changes: 2, events: 2,
			check: func(t *testing.T, f *fixture) {
				if len(f.paused) != 2 || f.paused[1] != fmt.Sprintf("%d:free", f.a.ID) {
					t.Errorf("downgrade must pause excess apps for free: %v", f.paused)
				}
			}},
		{name: "unpaid drops to free", steps: []delivery{ok(good, OutcomeApplied), ok(updated("e2", base+10, "unpaid"), OutcomeApplied)}, plan: "free", subStatus: "unpaid", changes: 2, events: 2},
		{name: "paused drops to free", steps: []delivery{ok(good, OutcomeApplied), ok(updated("e2", base+10, "paused"), OutcomeApplied)}, plan: "free", subStatus: "paused", changes: 2, events: 2},
		{name: "cancel at period end keeps pro and records it", steps: []delivery{ok(good, OutcomeApplied), ok(updated("e2", base+10, "active", func(m map[string]any) { m["cancel_at_period_end"] = true }), OutcomeApplied)}, plan: "pro", subStatus: "active", changes: 1, events: 2,
			check: func(t *testing.T, f *fixture) {
				if s := f.sub(t, "sub_1"); !s.CancelAtPeriodEnd || s.CurrentPeriodEnd == nil || s.CurrentPeriodEnd.Unix() != base+30*86400 {
					t.Errorf("subscription = %+v", s)
				}
			}},
		{name: "deleted drops to free", steps: []delivery{ok(good, OutcomeApplied), ok(deleted("e2", base+10), OutcomeApplied)}, plan: "free", subStatus: "canceled", changes: 2, events: 2},
		{name: "out of order: updated then older created", steps: []delivery{ok(updated("e2", base+10, "active"), OutcomeApplied), ok(created("e1", base, "incomplete"), OutcomeStale)}, plan: "pro", subStatus: "active", changes: 1, events: 2},
		{name: "out of order: deleted then older updated", steps: []delivery{ok(deleted("e3", base+20), OutcomeApplied), ok(updated("e2", base+10, "active"), OutcomeStale)}, plan: "free", subStatus: "canceled", events: 2},
		{name: "out of order: past_due then older active", steps: []delivery{ok(updated("e2", base+10, "past_due"), OutcomeApplied), ok(created("e1", base, "active"), OutcomeStale)}, plan: "pro", subStatus: "past_due", changes: 1, events: 2},
		{name: "same second: created never overrides updated", steps: []delivery{ok(updated("e2", base, "active"), OutcomeApplied), ok(created("e1", base, "incomplete"), OutcomeStale)}, plan: "pro", subStatus: "active", changes: 1, events: 2},
		{name: "canceled never comes back, even with a newer time", steps: []delivery{ok(deleted("e1", base), OutcomeApplied), ok(updated("e2", base+10, "active"), OutcomeStale)}, plan: "free", subStatus: "canceled", events: 2},
		{name: "invoice.payment_failed puts active past due", steps: []delivery{ok(good, OutcomeApplied), ok(event("e2", EvInvoicePaymentFailed, base+10, invoiceObj("sub_1", "cus_A")), OutcomeApplied)}, plan: "pro", subStatus: "past_due", changes: 1, events: 2},
		{name: "invoice.paid clears past due", steps: []delivery{ok(updated("e1", base, "past_due"), OutcomeApplied), ok(event("e2", EvInvoicePaid, base+10, invoiceObj("sub_1", "cus_A")), OutcomeApplied)}, plan: "pro", subStatus: "active", changes: 1, events: 2,
			check: func(t *testing.T, f *fixture) {
				if s := f.sub(t, "sub_1"); s.PastDueSince != nil {
					t.Errorf("PastDueSince kept after payment: %v", s.PastDueSince)
				}
			}},
		{name: "invoice.paid restores a lapsed tenant", steps: []delivery{ok(updated("e1", base-5*days, "past_due"), OutcomeApplied), ok(event("e2", EvInvoicePaid, base, invoiceObj("sub_1", "cus_A")), OutcomeApplied)}, plan: "pro", subStatus: "active", changes: 1, events: 2},
		{name: "out of order: older invoice.paid after newer failure", steps: []delivery{ok(updated("e1", base, "active"), OutcomeApplied), ok(event("e3", EvInvoicePaymentFailed, base+20, invoiceObj("sub_1", "cus_A")), OutcomeApplied), ok(event("e2", EvInvoicePaid, base+10, invoiceObj("sub_1", "cus_A")), OutcomeStale)}, plan: "pro", subStatus: "past_due", changes: 1, events: 3},
		{name: "invoice.payment_action_required is noted", steps: []delivery{ok(good, OutcomeApplied), ok(event("e2", EvInvoiceActionRequired, base+10, invoiceObj("sub_1", "cus_A")), OutcomeNoted)}, plan: "pro", subStatus: "active", changes: 1, events: 2},
		{name: "trial_will_end is noted", steps: []delivery{ok(event("e1", EvTrialWillEnd, base, subObj("sub_1", "cus_A", "trialing")), OutcomeNoted)}, plan: "free", events: 1, unchanged: true},
		{name: "invoice for a subscription we do not know", steps: []delivery{ok(event("e1", EvInvoicePaid, base, invoiceObj("sub_zzz", "cus_A")), OutcomeNoSubscription)}, plan: "free", events: 1, unchanged: true},
		{name: "invoice for an unknown customer", steps: []delivery{ok(event("e1", EvInvoicePaid, base, invoiceObj("sub_zzz", "cus_nobody")), OutcomeUnknownCustomer)}, plan: "free", events: 1, unchanged: true},
		{name: "subscription of an unknown customer", steps: []delivery{ok(event("e1", EvSubscriptionCreated, base, subObj("sub_9", "cus_nobody", "active")), OutcomeUnknownCustomer)}, plan: "free", events: 1, unchanged: true},
		{name: "checkout for an unknown tenant and customer", steps: []delivery{ok(event("e1", EvCheckoutCompleted, base, map[string]any{"id": "cs_1", "object": "checkout.session", "mode": "subscription", "client_reference_id": "999999", "customer": "cus_nobody", "subscription": "sub_9"}), OutcomeUnknownCustomer)}, plan: "free", events: 1, unchanged: true},
		{name: "unknown event type is ignored", steps: []delivery{ok(event("e1", "customer.created", base, map[string]any{"id": "cus_A", "object": "customer"}), OutcomeIgnored)}, plan: "free", unchanged: true},
		{name: "wrong secret", steps: []delivery{bad(good, sign(good, now, "whsec_other"), "bad signature")}, plan: "free", unchanged: true},
		{name: "missing signature", steps: []delivery{bad(good, "-", "missing signature")}, plan: "free", unchanged: true},
		{name: "garbage signature header", steps: []delivery{bad(good, "t=abc,v1=zz", "bad signature")}, plan: "free", unchanged: true},
		{name: "body changed after signing", steps: []delivery{bad(created("evt_c", base, "trialing"), fixedHeader, "bad signature")}, plan: "free", unchanged: true},
		{name: "timestamp too old", steps: []delivery{bad(good, sign(good, now.Add(-10*time.Minute), testSecret), "timestamp outside tolerance")}, plan: "free", unchanged: true},
		{name: "timestamp in the future", steps: []delivery{bad(good, sign(good, now.Add(10*time.Minute), testSecret), "timestamp outside tolerance")}, plan: "free", unchanged: true},
		{name: "replay of an old captured delivery", steps: []delivery{ok(good, OutcomeApplied), bad(good, sign(good, now.Add(-time.Hour), testSecret), "timestamp outside tolerance")}, plan: "pro", subStatus: "active", changes: 1, events: 1},
		{name: "not JSON", steps: []delivery{bad([]byte("hello, not json"), "", "body is not a JSON event")}, plan: "free", unchanged: true},
		{name: "JSON without id", steps: []delivery{bad([]byte(`{"object":"event","api_version":"`+stripe.APIVersion+`"}`), "", "event without id, type or data")}, plan: "free", unchanged: true},
		{name: "event from another API version train", steps: []delivery{bad([]byte(strings.Replace(string(good), stripe.APIVersion, "2025-03-31.basil", 1)), "", "event API version")}, plan: "free", unchanged: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
				f := newFixture(t, db, nil)
				before := f.snapshot(t)
				for i, d := range c.steps {
					h := d.header
					switch h {
					case "":
						h = sign(d.body, time.Now(), testSecret)
					case "-":
						h = ""
					}
					status, outcome := f.post(t, d.body, h)
					if status != d.status || !strings.HasPrefix(outcome, d.outcome) {
						t.Fatalf("delivery %d: %d %q, want %d %q", i+1, status, outcome, d.status, d.outcome)
					}
				}
				if got := f.tenantPlan(t, f.a.ID); got != c.plan {
					t.Errorf("tenant A plan = %q, want %q", got, c.plan)
				}
				if got := f.tenantPlan(t, f.b.ID); got != "free" {
					t.Errorf("tenant B plan = %q; events for A must not touch B", got)
				}
				got := ""
				if s := f.sub(t, "sub_1"); s != nil {
					got = s.Status
					if s.TenantID != f.a.ID {
						t.Errorf("sub_1 belongs to tenant %d", s.TenantID)
					}
				}
				if got != c.subStatus {
					t.Errorf("sub_1 status = %q, want %q", got, c.subStatus)
				}
				if len(f.changes) != c.changes {
					t.Errorf("OnPlanChange calls = %v, want %d", f.changes, c.changes)
				}
				if n := f.events(t); n != c.events {
					t.Errorf("stripe_events rows = %d, want %d", n, c.events)
				}
				if c.unchanged {
					if after := f.snapshot(t); after != before {
						t.Errorf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
					}
				}
				if c.check != nil {
					c.check(t, f)
				}
			})
		})
	}
}

// The event id and its effects commit together: a failing effect leaves
// no event row, so Stripe's retry is processed in full.
func TestWebhookFailureRollsBackEventRow(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		f := newFixture(t, db, nil)
		body := event("evt_1", EvSubscriptionCreated, base, subObj("sub_1", "cus_A", "active"))
		f.failChange = errors.New("syncer down")
		if status, _ := f.post(t, body, sign(body, time.Now(), testSecret)); status != 500 {
			t.Fatalf("status = %d, want 500", status)
		}
		if n := f.events(t); n != 0 || f.sub(t, "sub_1") != nil || f.tenantPlan(t, f.a.ID) != "free" {
			t.Fatalf("a failed event left traces: events %d, sub %+v, plan %s", n, f.sub(t, "sub_1"), f.tenantPlan(t, f.a.ID))
		}
		f.failChange = nil
		if status, outcome := f.post(t, body, sign(body, time.Now(), testSecret)); status != 200 || outcome != OutcomeApplied {
			t.Fatalf("retry = %d %s", status, outcome)
		}
		if f.tenantPlan(t, f.a.ID) != "pro" {
			t.Fatal("retry did not apply")
		}
	})
}

// Checkout links the customer of a tenant that had none, and the
// subscription events that follow (in either order) grant the plan.
func TestCheckoutThenSubscriptionInEitherOrder(t *testing.T) {
	session := func() []byte {
		return event("evt_cs", EvCheckoutCompleted, base, map[string]any{"id": "cs_1", "object": "checkout.session", "mode": "subscription",
			"client_reference_id": "", "customer": "cus_B", "subscription": "sub_B"})
	}
	for _, order := range []string{"checkout first", "subscription first"} {
		t.Run(order, func(t *testing.T) {
			modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
				f := newFixture(t, db, nil)
				cs := []byte(strings.Replace(string(session()), `"client_reference_id":""`, fmt.Sprintf(`"client_reference_id":"%d"`, f.b.ID), 1))
				sub := event("evt_sb", EvSubscriptionCreated, base, subObj("sub_B", "cus_B", "active", func(m map[string]any) {
					m["metadata"] = map[string]string{"tenant_id": fmt.Sprint(f.b.ID), "plan": "pro"}
				}))
				bodies := [][]byte{cs, sub}
				if order == "subscription first" {
					bodies = [][]byte{sub, cs}
				}
				for _, b := range bodies {
					if status, outcome := f.post(t, b, sign(b, time.Now(), testSecret)); status != 200 || outcome != OutcomeApplied {
						t.Fatalf("%d %s", status, outcome)
					}
				}
				tb, _ := f.store.TenantByID(context.Background(), f.b.ID)
				if tb.PlanKey != "pro" || tb.StripeCustomerID != "cus_B" {
					t.Fatalf("tenant B = plan %s customer %q", tb.PlanKey, tb.StripeCustomerID)
				}
				if s := f.sub(t, "sub_B"); s == nil || s.Status != "active" {
					t.Fatalf("sub_B = %+v", s)
				}
			})
		})
	}
}

func TestApplyGrace(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		clock := time.Now()
		f := newFixture(t, db, func(o *Options) { o.Now = func() time.Time { return clock } })
		body := updatedPastDue(clock.Add(-time.Hour).Unix())
		if status, _ := f.post(t, body, sign(body, time.Now(), testSecret)); status != 200 {
			t.Fatal(status)
		}
		if f.tenantPlan(t, f.a.ID) != "pro" {
			t.Fatal("past due inside grace must keep pro")
		}
		ctx := context.Background()
		if n, err := f.svc.ApplyGrace(ctx); err != nil || n != 0 {
			t.Fatalf("ApplyGrace inside grace = %d, %v", n, err)
		}
		clock = clock.Add(72 * time.Hour)
		if n, err := f.svc.ApplyGrace(ctx); err != nil || n != 1 {
			t.Fatalf("ApplyGrace after grace = %d, %v", n, err)
		}
		if f.tenantPlan(t, f.a.ID) != "free" || len(f.changes) != 2 || f.changes[1] != fmt.Sprintf("%d:pro>free", f.a.ID) {
			t.Fatalf("plan %s, changes %v", f.tenantPlan(t, f.a.ID), f.changes)
		}
		if n, err := f.svc.ApplyGrace(ctx); err != nil || n != 0 {
			t.Fatalf("second ApplyGrace = %d, %v", n, err)
		}
	})
}

func updatedPastDue(at int64) []byte {
	return event("evt_pd", EvSubscriptionUpdated, at, subObj("sub_1", "cus_A", "past_due"))
}
