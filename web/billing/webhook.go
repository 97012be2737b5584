package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/gofiber/fiber/v2"
	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/webhook"
)

// Tolerance is how far a webhook's signed timestamp may be from now, either
// way. stripe-go only checks the past; a timestamp from the future is just
// as much a sign of a replay with a forged clock or a broken one.
const Tolerance = webhook.DefaultTolerance

// Event types the webhook acts on or records. Anything else is answered
// 200 and logged, so that enabling more events in Stripe breaks nothing.
const (
	EvCheckoutCompleted     = "checkout.session.completed"
	EvSubscriptionCreated   = "customer.subscription.created"
	EvSubscriptionUpdated   = "customer.subscription.updated"
	EvSubscriptionDeleted   = "customer.subscription.deleted"
	EvTrialWillEnd          = "customer.subscription.trial_will_end"
	EvInvoicePaid           = "invoice.paid"
	EvInvoicePaymentFailed  = "invoice.payment_failed"
	EvInvoiceActionRequired = "invoice.payment_action_required"
)

// Outcomes recorded on StripeEvent rows and answered to Stripe.
const (
	OutcomeApplied         = "applied"
	OutcomeDuplicate       = "duplicate"
	OutcomeIgnored         = "ignored"
	OutcomeStale           = "stale"
	OutcomeUnknownCustomer = "unknown_customer"
	OutcomeNoSubscription  = "no_subscription"
	OutcomeNoted           = "noted"
)

func handled(t string) bool {
	switch t {
	case EvCheckoutCompleted, EvSubscriptionCreated, EvSubscriptionUpdated, EvSubscriptionDeleted, EvTrialWillEnd,
		EvInvoicePaid, EvInvoicePaymentFailed, EvInvoiceActionRequired:
		return true
	}
	return false
}

// Webhook is POST /stripe/webhook. It must sit outside the CSRF middleware.
// 400 for anything that is not a correctly signed, fresh, parseable event
// (Stripe shows it to the operator and retries); 500 when applying failed
// and nothing was committed (Stripe retries); 200 otherwise.
//
// Events must come from an endpoint created on the API version train of
// stripe-go v81 (acacia, 2025-02-24.acacia): the check is deliberately left
// on, because the handlers decode event objects with v81's types and a
// different train could silently decode to empty fields.
func (s *Service) Webhook(c *fiber.Ctx) error {
	if s.secret == "" {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"error": "billing webhooks are not configured on this portal"})
	}
	// c.Body() is reused by fiber after the handler; the event outlives nothing
	// here, but a copy costs little and keeps it safe for future async use.
	body := append([]byte(nil), c.Body()...)
	sig := c.Get("Stripe-Signature")
	now := s.now()
	if ts, ok := signedAt(sig); ok && ts.After(now.Add(Tolerance)) {
		s.log.Warn("billing: webhook timestamp in the future", "ip", c.IP(), "signed_at", ts)
		return badWebhook(c, "timestamp outside tolerance")
	}
	ev, err := webhook.ConstructEventWithOptions(body, sig, s.secret, webhook.ConstructEventOptions{Tolerance: Tolerance})
	if err != nil {
		msg := "invalid event"
		switch {
		case errors.Is(err, webhook.ErrNotSigned):
			msg = "missing signature"
		case errors.Is(err, webhook.ErrTooOld):
			msg = "timestamp outside tolerance"
		case errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrNoValidSignature):
			msg = "bad signature"
		case strings.Contains(err.Error(), "json"):
			msg = "body is not a JSON event"
		case strings.Contains(err.Error(), "API version"):
			msg = "event API version is not on the " + stripe.APIVersion + " train; create the webhook endpoint with that version"
		}
		s.log.Warn("billing: webhook rejected", "ip", c.IP(), "reason", msg, "err", err)
		return badWebhook(c, msg)
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil {
		return badWebhook(c, "event without id, type or data")
	}
	outcome, err := s.HandleEvent(c.UserContext(), &ev)
	if err != nil {
		s.log.Error("billing: webhook processing failed; Stripe will retry", "event_id", ev.ID, "type", ev.Type, "err", err)
		return c.Status(fiber.StatusInternalServerError).JSON(fiber.Map{"error": "processing failed; retry later"})
	}
	return c.JSON(fiber.Map{"received": true, "outcome": outcome})
}

func badWebhook(c *fiber.Ctx, msg string) error {
	return c.Status(fiber.StatusBadRequest).JSON(fiber.Map{"error": msg})
}

// signedAt reads t= from a Stripe-Signature header.
func signedAt(header string) (time.Time, bool) {
	for _, part := range strings.Split(header, ",") {
		if v, ok := strings.CutPrefix(part, "t="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(n, 0), true
		}
	}
	return time.Time{}, false
}

// HandleEvent applies one verified event: its id is recorded in the same
// transaction as its effects, so a duplicate delivery changes nothing and a
// failure leaves no trace for Stripe's retry to trip over.
func (s *Service) HandleEvent(ctx context.Context, ev *stripe.Event) (string, error) {
	if !handled(string(ev.Type)) {
		s.log.Info("billing: webhook event type ignored", "event_id", ev.ID, "type", ev.Type)
		return OutcomeIgnored, nil
	}
	plans, err := s.store.Plans(ctx)
	if err != nil {
		return "", err
	}
	created := time.Unix(ev.Created, 0).UTC()
	var outcome string
	err = s.store.BillingTransaction(ctx, func(b models.BillingTx) error {
		fresh, err := b.RecordStripeEvent(models.StripeEvent{ID: ev.ID, Type: string(ev.Type), Created: created, ReceivedAt: s.now().UTC()})
		if err != nil {
			return err
		}
		if !fresh {
			outcome = OutcomeDuplicate
			return nil
		}
		var tenantID *uint
		outcome, tenantID, err = s.apply(ctx, b, ev, created, plans)
		if err != nil {
			return err
		}
		return b.SetStripeEventOutcome(ev.ID, tenantID, outcome)
	})
	if err != nil {
		return "", fmt.Errorf("billing: unable to process event %s (%s): %w", ev.ID, ev.Type, err)
	}
	if outcome == OutcomeUnknownCustomer {
		s.log.Warn("billing: event for an unknown customer; nothing changed", "event_id", ev.ID, "type", ev.Type)
	} else {
		s.log.Info("billing: webhook event", "event_id", ev.ID, "type", ev.Type, "outcome", outcome)
	}
	return outcome, nil
}

func (s *Service) apply(ctx context.Context, b models.BillingTx, ev *stripe.Event, created time.Time, plans []models.Plan) (string, *uint, error) {
	switch ev.Type {
	case EvCheckoutCompleted:
		var cs stripe.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &cs); err != nil {
			return "", nil, fmt.Errorf("decoding checkout session: %w", err)
		}
		return s.applyCheckout(ctx, b, &cs, created)
	case EvSubscriptionCreated, EvSubscriptionUpdated, EvSubscriptionDeleted, EvTrialWillEnd:
		var sub stripe.Subscription
		if err := json.Unmarshal(ev.Data.Raw, &sub); err != nil {
			return "", nil, fmt.Errorf("decoding subscription: %w", err)
		}
		if ev.Type == EvTrialWillEnd {
			t, _ := s.tenantOfSubscription(b, &sub)
			if t == nil {
				return OutcomeUnknownCustomer, nil, nil
			}
			return OutcomeNoted, &t.ID, nil
		}
		return s.applySubscription(ctx, b, string(ev.Type), &sub, created, plans)
	case EvInvoicePaid, EvInvoicePaymentFailed, EvInvoiceActionRequired:
		var inv stripe.Invoice
		if err := json.Unmarshal(ev.Data.Raw, &inv); err != nil {
			return "", nil, fmt.Errorf("decoding invoice: %w", err)
		}
		return s.applyInvoice(ctx, b, string(ev.Type), &inv, created)
	}
	return OutcomeIgnored, nil, nil
}

func customerID(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.ID
}

func (s *Service) applyCheckout(ctx context.Context, b models.BillingTx, cs *stripe.CheckoutSession, created time.Time) (string, *uint, error) {
	if cs.Mode != stripe.CheckoutSessionModeSubscription {
		return OutcomeIgnored, nil, nil
	}
	var t *models.Tenant
	if id, err := strconv.ParseUint(cs.ClientReferenceID, 10, 32); err == nil {
		if got, err := b.LockTenant(uint(id)); err == nil {
			t = got
		} else if !errors.Is(err, models.ErrNotFound) {
			return "", nil, err
		}
	}
	cust := customerID(cs.Customer)
	if t == nil {
		got, err := b.TenantByStripeCustomer(cust)
		if errors.Is(err, models.ErrNotFound) {
			return OutcomeUnknownCustomer, nil, nil
		} else if err != nil {
			return "", nil, err
		}
		if t, err = b.LockTenant(got.ID); err != nil {
			return "", nil, err
		}
	}
	switch {
	case cust == "":
	case t.StripeCustomerID == "":
		if err := b.SetTenantCustomer(t.ID, cust); err != nil {
			return "", nil, err
		}
		t.StripeCustomerID = cust
	case t.StripeCustomerID != cust:
		// Our Checkout always passes the tenant's customer; a different one
		// means a session made elsewhere. Keep ours and make it visible.
		s.log.Error("billing: checkout completed with a different customer than the tenant's; not relinking", "tenant_id", t.ID, "tenant_customer", t.StripeCustomerID, "session_customer", cust)
	}
	if cs.Subscription == nil || cs.Subscription.ID == "" {
		return OutcomeApplied, &t.ID, nil
	}
	row, err := b.SubscriptionByStripeID(cs.Subscription.ID)
	if errors.Is(err, models.ErrNotFound) {
		// The subscription's own events carry its status; this placeholder
		// only ties it to the tenant, so it grants nothing by itself and
		// any subscription event (LastEventAt zero) overrides it.
		row = &models.Subscription{TenantID: t.ID, StripeCustomerID: cust, StripeSubscriptionID: cs.Subscription.ID}
		if cs.Subscription.Status != "" {
			fillSubscription(row, cs.Subscription, nil, created)
		}
		if err := b.SaveSubscription(row); err != nil {
			return "", nil, err
		}
	} else if err != nil {
		return "", nil, err
	}
	if _, err := s.applyEntitlement(ctx, b, t, s.now(), "checkout completed"); err != nil {
		return "", nil, err
	}
	return OutcomeApplied, &t.ID, nil
}

// tenantOfSubscription finds the tenant by the Stripe customer, then by an
// existing row, then by the tenant_id metadata that our Checkout sets (only
// for a tenant that has no other customer).
func (s *Service) tenantOfSubscription(b models.BillingTx, sub *stripe.Subscription) (*models.Tenant, error) {
	t, err := b.TenantByStripeCustomer(customerID(sub.Customer))
	if err == nil {
		return t, nil
	}
	if !errors.Is(err, models.ErrNotFound) {
		return nil, err
	}
	if row, err := b.SubscriptionByStripeID(sub.ID); err == nil {
		return b.LockTenant(row.TenantID)
	}
	if id, err := strconv.ParseUint(sub.Metadata["tenant_id"], 10, 32); err == nil {
		t, err := b.LockTenant(uint(id))
		if err == nil && (t.StripeCustomerID == "" || t.StripeCustomerID == customerID(sub.Customer)) {
			return t, nil
		}
	}
	return nil, nil
}

func (s *Service) applySubscription(ctx context.Context, b models.BillingTx, typ string, sub *stripe.Subscription, created time.Time, plans []models.Plan) (string, *uint, error) {
	if sub.ID == "" {
		return "", nil, errors.New("subscription event without a subscription id")
	}
	found, err := s.tenantOfSubscription(b, sub)
	if err != nil {
		return "", nil, err
	}
	if found == nil {
		return OutcomeUnknownCustomer, nil, nil
	}
	t, err := b.LockTenant(found.ID)
	if err != nil {
		return "", nil, err
	}
	if typ == EvSubscriptionDeleted {
		// A deleted subscription is over, whatever status the payload carries.
		sub.Status = stripe.SubscriptionStatusCanceled
	}
	row, err := b.SubscriptionByStripeID(sub.ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		row = &models.Subscription{TenantID: t.ID, StripeSubscriptionID: sub.ID}
	case err != nil:
		return "", nil, err
	case row.TenantID != t.ID:
		s.log.Error("billing: subscription moved between tenants; ignored", "subscription", sub.ID, "row_tenant", row.TenantID, "event_tenant", t.ID)
		return OutcomeIgnored, &t.ID, nil
	case stale(row, typ, string(sub.Status), created):
		return OutcomeStale, &t.ID, nil
	}
	fillSubscription(row, sub, plans, created)
	if err := b.SaveSubscription(row); err != nil {
		return "", nil, err
	}
	if _, err := s.applyEntitlement(ctx, b, t, s.now(), typ); err != nil {
		return "", nil, err
	}
	return OutcomeApplied, &t.ID, nil
}

// stale decides whether an event is older than what the row already holds.
// Stripe's `created` has one-second resolution, so ties need rules: a
// created event never overrides an existing row, and canceled or expired
// subscriptions never come back to life.
func stale(row *models.Subscription, typ, status string, created time.Time) bool {
	terminal := status == models.SubCanceled || status == models.SubIncompleteExpired
	switch {
	case row.Terminal() && !terminal:
		return true
	case created.Before(row.LastEventAt):
		return true
	case created.Equal(row.LastEventAt) && typ == EvSubscriptionCreated && row.Status != "":
		return true
	}
	return false
}

func fillSubscription(row *models.Subscription, sub *stripe.Subscription, plans []models.Plan, created time.Time) {
	if c := customerID(sub.Customer); c != "" {
		row.StripeCustomerID = c
	}
	if sub.Items != nil && len(sub.Items.Data) > 0 && sub.Items.Data[0].Price != nil {
		row.StripePriceID = sub.Items.Data[0].Price.ID
	}
	if k := planForPrice(plans, row.StripePriceID, sub.Metadata); k != "" {
		row.PlanKey = k
	}
	status := string(sub.Status)
	if status == models.SubPastDue {
		if row.Status != models.SubPastDue || row.PastDueSince == nil {
			since := created
			row.PastDueSince = &since
		}
	} else {
		row.PastDueSince = nil
	}
	row.Status = status
	row.CancelAtPeriodEnd = sub.CancelAtPeriodEnd
	row.CurrentPeriodEnd = nil
	if sub.CurrentPeriodEnd > 0 {
		end := time.Unix(sub.CurrentPeriodEnd, 0).UTC()
		row.CurrentPeriodEnd = &end
	}
	row.LastEventAt = created
}

func (s *Service) applyInvoice(ctx context.Context, b models.BillingTx, typ string, inv *stripe.Invoice, created time.Time) (string, *uint, error) {
	subID := ""
	if inv.Subscription != nil {
		subID = inv.Subscription.ID
	}
	row, err := b.SubscriptionByStripeID(subID)
	if errors.Is(err, models.ErrNotFound) || subID == "" {
		t, err := b.TenantByStripeCustomer(customerID(inv.Customer))
		if errors.Is(err, models.ErrNotFound) {
			return OutcomeUnknownCustomer, nil, nil
		} else if err != nil {
			return "", nil, err
		}
		return OutcomeNoSubscription, &t.ID, nil
	} else if err != nil {
		return "", nil, err
	}
	t, err := b.LockTenant(row.TenantID)
	if err != nil {
		return "", nil, err
	}
	if created.Before(row.LastEventAt) || row.Terminal() {
		return OutcomeStale, &t.ID, nil
	}
	switch typ {
	case EvInvoicePaid:
		switch row.Status {
		case models.SubPastDue, models.SubUnpaid, models.SubIncomplete:
			row.Status, row.PastDueSince = models.SubActive, nil
		default:
			return OutcomeNoted, &t.ID, nil
		}
	case EvInvoicePaymentFailed:
		if row.Status != models.SubActive {
			return OutcomeNoted, &t.ID, nil
		}
		since := created
		row.Status, row.PastDueSince = models.SubPastDue, &since
	default:
		return OutcomeNoted, &t.ID, nil
	}
	row.LastEventAt = created
	if err := b.SaveSubscription(row); err != nil {
		return "", nil, err
	}
	if _, err := s.applyEntitlement(ctx, b, t, s.now(), typ); err != nil {
		return "", nil, err
	}
	return OutcomeApplied, &t.ID, nil
}
