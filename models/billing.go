package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Stripe subscription statuses (https://docs.stripe.com/api/subscriptions/object#subscription_object-status).
const (
	SubActive            = "active"
	SubTrialing          = "trialing"
	SubPastDue           = "past_due"
	SubUnpaid            = "unpaid"
	SubCanceled          = "canceled"
	SubIncomplete        = "incomplete"
	SubIncompleteExpired = "incomplete_expired"
	SubPaused            = "paused"
)

// FreePlan is the plan every tenant falls back to.
const FreePlan = "free"

// Subscription mirrors one Stripe subscription of a tenant. Stripe is the
// source of truth; this row is what the webhooks last told us, so that plan
// decisions never wait on Stripe's API.
type Subscription struct {
	ID                   uint   `gorm:"primaryKey"`
	TenantID             uint   `gorm:"index;not null"`
	StripeCustomerID     string `gorm:"index;not null;default:''"`
	StripeSubscriptionID string `gorm:"uniqueIndex;size:255;not null"`
	StripePriceID        string `gorm:"not null;default:''"`
	Status               string `gorm:"not null;default:''"`
	PlanKey              string `gorm:"not null;default:''"`
	CurrentPeriodEnd     *time.Time
	CancelAtPeriodEnd    bool `gorm:"not null;default:false"`
	PastDueSince         *time.Time
	// LastEventAt is the `created` time of the newest Stripe event applied to
	// this row; older events that arrive late are ignored.
	LastEventAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Terminal reports a status that Stripe never leaves again.
func (s *Subscription) Terminal() bool {
	return s.Status == SubCanceled || s.Status == SubIncompleteExpired
}

// StripeEvent is one processed webhook delivery. The primary key is the event
// id, so a second delivery of the same event finds its row and does nothing.
type StripeEvent struct {
	ID         string `gorm:"primaryKey;size:255"`
	Type       string `gorm:"not null"`
	Created    time.Time
	TenantID   *uint  `gorm:"index"`
	Outcome    string `gorm:"not null;default:''"`
	ReceivedAt time.Time
}

// EntitlementState says why a tenant has the plan it has.
type EntitlementState string

const (
	EntitlementNone    EntitlementState = "none"    // no subscription
	EntitlementActive  EntitlementState = "active"  // paid or trialing
	EntitlementGrace   EntitlementState = "grace"   // past due, plan kept until the grace deadline
	EntitlementLapsed  EntitlementState = "lapsed"  // past due beyond the grace period
	EntitlementPending EntitlementState = "pending" // first payment not made yet
	EntitlementPaused  EntitlementState = "paused"  // trial ended without a payment method
	EntitlementEnded   EntitlementState = "ended"   // canceled, unpaid or expired
	EntitlementUnknown EntitlementState = "unknown" // a status this code does not know
)

// Entitled reports whether the state grants the subscription's plan.
func (e EntitlementState) Entitled() bool { return e == EntitlementActive || e == EntitlementGrace }

// Entitlement decides which plan a subscription grants at now. Only active
// and trialing subscriptions grant their plan outright; past_due keeps it for
// grace after PastDueSince (a missing PastDueSince counts from now, so a
// lost timestamp never cuts a tenant off early); everything else is free.
// A subscription set to cancel at period end whose period ended more than
// grace ago is treated as ended even if the deletion event never arrived.
func Entitlement(sub *Subscription, now time.Time, grace time.Duration) (string, EntitlementState) {
	if sub == nil {
		return FreePlan, EntitlementNone
	}
	plan := sub.PlanKey
	if plan == "" {
		plan = FreePlan
	}
	switch sub.Status {
	case SubActive, SubTrialing:
		if sub.CancelAtPeriodEnd && sub.CurrentPeriodEnd != nil && !sub.CurrentPeriodEnd.IsZero() && now.After(sub.CurrentPeriodEnd.Add(grace)) {
			return FreePlan, EntitlementEnded
		}
		return plan, EntitlementActive
	case SubPastDue:
		since := now
		if sub.PastDueSince != nil {
			since = *sub.PastDueSince
		}
		if now.Before(since.Add(grace)) {
			return plan, EntitlementGrace
		}
		return FreePlan, EntitlementLapsed
	case SubIncomplete:
		return FreePlan, EntitlementPending
	case SubPaused:
		return FreePlan, EntitlementPaused
	case SubCanceled, SubUnpaid, SubIncompleteExpired:
		return FreePlan, EntitlementEnded
	}
	return FreePlan, EntitlementUnknown
}

// GraceDeadline is when a past-due subscription loses its plan, or nil.
func GraceDeadline(sub *Subscription, grace time.Duration) *time.Time {
	if sub == nil || sub.Status != SubPastDue || sub.PastDueSince == nil {
		return nil
	}
	d := sub.PastDueSince.Add(grace)
	return &d
}

// EffectiveSubscription picks the subscription that decides a tenant's plan:
// the newest one that grants a plan, else the newest one at all, else nil.
func EffectiveSubscription(subs []Subscription, now time.Time, grace time.Duration) *Subscription {
	var best, newest *Subscription
	for i := range subs {
		s := &subs[i]
		if newest == nil || s.LastEventAt.After(newest.LastEventAt) {
			newest = s
		}
		if _, st := Entitlement(s, now, grace); st.Entitled() {
			if best == nil || s.LastEventAt.After(best.LastEventAt) {
				best = s
			}
		}
	}
	if best != nil {
		return best
	}
	return newest
}

// TenantByStripeCustomer returns the tenant linked to a Stripe customer.
func (s *Store) TenantByStripeCustomer(ctx context.Context, customerID string) (*Tenant, error) {
	if customerID == "" {
		return nil, ErrNotFound
	}
	return first[Tenant](s.db.WithContext(ctx).Where("stripe_customer_id = ?", customerID), fmt.Sprintf("read tenant of customer %s", customerID))
}

// LinkStripeCustomer stores the tenant's Stripe customer unless one is
// already stored, and returns the one that is stored afterwards, so two
// racing checkouts agree on a single customer.
func (s *Store) LinkStripeCustomer(ctx context.Context, tenantID uint, customerID string) (string, error) {
	db := s.db.WithContext(ctx)
	if err := db.Model(&Tenant{}).Where("id = ? AND stripe_customer_id = ''", tenantID).Update("stripe_customer_id", customerID).Error; err != nil {
		return "", fmt.Errorf("store: unable to link customer %s to tenant %d: %w", customerID, tenantID, err)
	}
	var t Tenant
	if err := db.Select("stripe_customer_id").First(&t, tenantID).Error; err != nil {
		return "", fmt.Errorf("store: unable to read customer of tenant %d: %w", tenantID, err)
	}
	return t.StripeCustomerID, nil
}

// TenantSubscriptions returns a tenant's subscriptions, newest event first.
func (s *Store) TenantSubscriptions(ctx context.Context, tenantID uint) ([]Subscription, error) {
	return tenantSubscriptions(s.db.WithContext(ctx), tenantID)
}

func tenantSubscriptions(db *gorm.DB, tenantID uint) ([]Subscription, error) {
	var subs []Subscription
	if err := db.Where("tenant_id = ?", tenantID).Order("last_event_at DESC, id DESC").Find(&subs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list subscriptions of tenant %d: %w", tenantID, err)
	}
	return subs, nil
}

// PastDueSubscriptions returns past-due subscriptions that went past due
// before the given time: the candidates whose grace period has run out.
func (s *Store) PastDueSubscriptions(ctx context.Context, before time.Time) ([]Subscription, error) {
	var subs []Subscription
	err := s.db.WithContext(ctx).Where("status = ? AND past_due_since IS NOT NULL AND past_due_since <= ?", SubPastDue, before).Order("id").Find(&subs).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to list past-due subscriptions: %w", err)
	}
	return subs, nil
}

// BillingCustomers returns the tenants that have a Stripe customer.
func (s *Store) BillingCustomers(ctx context.Context) ([]Tenant, error) {
	var ts []Tenant
	if err := s.db.WithContext(ctx).Where("stripe_customer_id <> ''").Order("id").Find(&ts).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list billing customers: %w", err)
	}
	return ts, nil
}

// StripeEvents returns the newest processed events.
func (s *Store) StripeEvents(ctx context.Context, limit int) ([]StripeEvent, error) {
	var es []StripeEvent
	if err := s.db.WithContext(ctx).Order("received_at DESC").Limit(limit).Find(&es).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list stripe events: %w", err)
	}
	return es, nil
}

// SavePlan updates a plan of the catalog (the key names it; plans are not
// created or deleted here because tenants and subscriptions point at them).
func (s *Store) SavePlan(ctx context.Context, p Plan) error {
	res := s.db.WithContext(ctx).Model(&Plan{}).Where("key = ?", p.Key).Select(
		"Name", "MonthlyPriceCents", "StripePriceID", "CPUMs", "SubRequests", "MaxApps", "MaxRoutes", "MaxScriptBytes", "Active", "UpdatedAt",
		"LogLinesPerRequest", "LogRetentionHours", "LogMaxBytes",
		"MaxRatePerSecond", "MaxRatePerMinute", "MaxDailyQuota", "MaxMonthlyQuota", "QuotasOff", "SpendCapsOff",
	).Updates(&Plan{Name: p.Name, MonthlyPriceCents: p.MonthlyPriceCents, StripePriceID: p.StripePriceID, CPUMs: p.CPUMs, SubRequests: p.SubRequests,
		MaxApps: p.MaxApps, MaxRoutes: p.MaxRoutes, MaxScriptBytes: p.MaxScriptBytes, Active: p.Active, UpdatedAt: time.Now().UTC(),
		LogLinesPerRequest: p.LogLinesPerRequest, LogRetentionHours: p.LogRetentionHours, LogMaxBytes: p.LogMaxBytes,
		MaxRatePerSecond: p.MaxRatePerSecond, MaxRatePerMinute: p.MaxRatePerMinute, MaxDailyQuota: p.MaxDailyQuota,
		MaxMonthlyQuota: p.MaxMonthlyQuota, QuotasOff: p.QuotasOff, SpendCapsOff: p.SpendCapsOff})
	if res.Error != nil {
		return fmt.Errorf("store: unable to save plan %s: %w", p.Key, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// BillingTx is a transaction in which a billing change and its effects
// (event dedupe row, subscription, tenant plan, sync jobs) commit together.
type BillingTx struct {
	tx *gorm.DB
}

// BillingTransaction runs f in one transaction.
func (s *Store) BillingTransaction(ctx context.Context, f func(b BillingTx) error) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return f(BillingTx{tx: tx}) })
}

// EnqueueTenantApps raises the job of every app of the tenant, so that the edge sees the
// plan change once the transaction commits.
func (b BillingTx) EnqueueTenantApps(ctx context.Context, tenantID uint) error {
	return enqueueTenantApps(ctx, b.tx, tenantID)
}

// ApplyPlanCaps pauses (never deletes) the apps of the tenant that exceed plan — beyond its
// app count (newest first), with a deployed script larger than it allows, or with more
// routes — and resumes apps a previous downgrade paused that fit again; every app whose
// status changed is enqueued. It returns the names of the apps paused.
func (b BillingTx) ApplyPlanCaps(ctx context.Context, tenantID uint, plan Plan) (paused []string, err error) {
	return applyPlanCaps(ctx, b.tx, tenantID, plan)
}

// RecordStripeEvent inserts the event's dedupe row and reports whether it
// is new. ON CONFLICT DO NOTHING keeps a PostgreSQL transaction usable on a
// duplicate, and a concurrent delivery of the same id waits for the first
// one's commit and then sees a duplicate.
func (b BillingTx) RecordStripeEvent(e StripeEvent) (bool, error) {
	if e.ReceivedAt.IsZero() {
		e.ReceivedAt = time.Now().UTC()
	}
	res := b.tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
	if res.Error != nil {
		return false, fmt.Errorf("store: unable to record stripe event %s: %w", e.ID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SetStripeEventOutcome records what processing the event did.
func (b BillingTx) SetStripeEventOutcome(id string, tenantID *uint, outcome string) error {
	if err := b.tx.Model(&StripeEvent{}).Where("id = ?", id).Updates(map[string]any{"tenant_id": tenantID, "outcome": outcome}).Error; err != nil {
		return fmt.Errorf("store: unable to record outcome of stripe event %s: %w", id, err)
	}
	return nil
}

// LockTenant reads a tenant and, on PostgreSQL, locks its row until the
// transaction ends, so two events of one tenant apply one after the other.
// (SQLite transactions here take the write lock at BEGIN already.)
func (b BillingTx) LockTenant(id uint) (*Tenant, error) {
	q := b.tx
	if DialectOf(q) == Postgres {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return first[Tenant](q, fmt.Sprintf("lock tenant %d", id), id)
}

// TenantByStripeCustomer is Store.TenantByStripeCustomer inside the transaction.
func (b BillingTx) TenantByStripeCustomer(customerID string) (*Tenant, error) {
	return (&Store{db: b.tx}).TenantByStripeCustomer(b.tx.Statement.Context, customerID)
}

// TenantBySlug is Store.TenantBySlug inside the transaction.
func (b BillingTx) TenantBySlug(slug string) (*Tenant, error) {
	return (&Store{db: b.tx}).TenantBySlug(b.tx.Statement.Context, slug)
}

// SetTenantCustomer links a Stripe customer to the tenant.
func (b BillingTx) SetTenantCustomer(tenantID uint, customerID string) error {
	if err := b.tx.Model(&Tenant{}).Where("id = ?", tenantID).Update("stripe_customer_id", customerID).Error; err != nil {
		return fmt.Errorf("store: unable to link customer %s to tenant %d: %w", customerID, tenantID, err)
	}
	return nil
}

// SetTenantPlan stores the plan a tenant is on.
func (b BillingTx) SetTenantPlan(tenantID uint, planKey string) error {
	if err := b.tx.Model(&Tenant{}).Where("id = ?", tenantID).Update("plan_key", planKey).Error; err != nil {
		return fmt.Errorf("store: unable to set plan of tenant %d: %w", tenantID, err)
	}
	return nil
}

// SubscriptionByStripeID returns the row of a Stripe subscription.
func (b BillingTx) SubscriptionByStripeID(id string) (*Subscription, error) {
	return first[Subscription](b.tx.Where("stripe_subscription_id = ?", id), fmt.Sprintf("read subscription %s", id))
}

// SaveSubscription inserts or updates a subscription row.
func (b BillingTx) SaveSubscription(sub *Subscription) error {
	if err := b.tx.Save(sub).Error; err != nil {
		return fmt.Errorf("store: unable to save subscription %s: %w", sub.StripeSubscriptionID, err)
	}
	return nil
}

// TenantSubscriptions lists a tenant's subscriptions inside the transaction.
func (b BillingTx) TenantSubscriptions(tenantID uint) ([]Subscription, error) {
	return tenantSubscriptions(b.tx, tenantID)
}

// PlanByKey reads a plan inside the transaction.
func (b BillingTx) PlanByKey(key string) (*Plan, error) {
	return (&Store{db: b.tx}).PlanByKey(b.tx.Statement.Context, key)
}

// TenantIDsOnPlan returns the tenants on a plan, for writing changed limits through.
func (b BillingTx) TenantIDsOnPlan(key string) ([]uint, error) {
	var ids []uint
	if err := b.tx.Model(&Tenant{}).Where("plan_key = ?", key).Order("id").Pluck("id", &ids).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list tenants on plan %s: %w", key, err)
	}
	return ids, nil
}

// SavePlan is Store.SavePlan inside the transaction.
func (b BillingTx) SavePlan(p Plan) error {
	return (&Store{db: b.tx}).SavePlan(b.tx.Statement.Context, p)
}

// Audit writes an audit event inside the transaction.
func (b BillingTx) Audit(actor *uint, action, target, detail string) error {
	return (&Store{db: b.tx}).Audit(b.tx.Statement.Context, actor, action, target, detail, "")
}
