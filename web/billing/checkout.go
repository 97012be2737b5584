package billing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/402claw/402claw/models"
	"github.com/gofiber/fiber/v2"
	"github.com/stripe/stripe-go/v81"
)

var errBillingOff = fiber.NewError(fiber.StatusNotFound, "Online payments are not set up on this 402claw; an administrator assigns plans.")

// purchasable returns the plan a tenant may buy, or a message for the user.
func (s *Service) purchasable(ctx context.Context, key string) (*models.Plan, error) {
	p, err := s.store.PlanByKey(ctx, key)
	if errors.Is(err, models.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusUnprocessableEntity, "There is no such plan.")
	}
	if err != nil {
		return nil, err
	}
	if !p.Active || p.MonthlyPriceCents <= 0 {
		return nil, fiber.NewError(fiber.StatusUnprocessableEntity, "The "+p.Name+" plan cannot be bought.")
	}
	if s.mode == ModeStripe && p.StripePriceID == "" {
		return nil, fiber.NewError(fiber.StatusUnprocessableEntity, "The "+p.Name+" plan has no Stripe price yet; an administrator must set one.")
	}
	return p, nil
}

// Checkout is POST /billing/checkout: a Stripe Checkout session in
// subscription mode, or the fake checkout page in demo mode.
func (s *Service) Checkout(c *fiber.Ctx) error {
	ctx := c.UserContext()
	t, err := s.currentTenant(c)
	if err != nil {
		return err
	}
	key := c.FormValue("plan", "pro")
	switch s.mode {
	case ModeOff:
		return errBillingOff
	case ModeDemo:
		if _, err := s.purchasable(ctx, key); err != nil {
			return err
		}
		return c.Redirect("/billing/demo-checkout?plan="+url.QueryEscape(key), fiber.StatusSeeOther)
	}
	p, err := s.purchasable(ctx, key)
	if err != nil {
		return err
	}
	// A tenant with a live subscription changes plans in the Portal (with
	// proration); a second Checkout would bill it twice.
	subs, err := s.store.TenantSubscriptions(ctx, t.ID)
	if err != nil {
		return err
	}
	if _, st := models.Entitlement(models.EffectiveSubscription(subs, s.now(), s.opts.Grace), s.now(), s.opts.Grace); st.Entitled() || st == models.EntitlementLapsed {
		return s.Portal(c)
	}
	cust, err := s.ensureCustomer(ctx, t, currentUser(c).Email)
	if err != nil {
		return err
	}
	tid := strconv.FormatUint(uint64(t.ID), 10)
	params := &stripe.CheckoutSessionParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		Customer:          stripe.String(cust),
		ClientReferenceID: stripe.String(tid),
		LineItems:         []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(p.StripePriceID), Quantity: stripe.Int64(1)}},
		SuccessURL:        stripe.String(s.opts.BaseURL + "/billing?checkout=success"),
		CancelURL:         stripe.String(s.opts.BaseURL + "/billing?checkout=cancel"),
		SubscriptionData: &stripe.CheckoutSessionSubscriptionDataParams{
			Metadata: map[string]string{"tenant_id": tid, "plan": p.Key},
		},
	}
	params.Context = ctx
	sess, err := s.sc.CheckoutSessions.New(params)
	if err != nil {
		return s.stripeFailed("create a checkout session", t.ID, err)
	}
	return c.Redirect(sess.URL, fiber.StatusSeeOther)
}

// ensureCustomer returns the tenant's Stripe customer, creating it once.
// The idempotency key makes a retried or concurrent first checkout get the
// same customer back from Stripe (for 24 hours), and LinkStripeCustomer
// keeps whichever was stored first after that.
func (s *Service) ensureCustomer(ctx context.Context, t *models.Tenant, email string) (string, error) {
	if t.StripeCustomerID != "" {
		return t.StripeCustomerID, nil
	}
	params := &stripe.CustomerParams{Name: stripe.String(t.Name), Email: stripe.String(email)}
	params.AddMetadata("tenant_id", strconv.FormatUint(uint64(t.ID), 10))
	params.AddMetadata("tenant_slug", t.Slug)
	params.SetIdempotencyKey(CustomerIdempotencyKey(t.ID))
	params.Context = ctx
	cust, err := s.sc.Customers.New(params)
	if err != nil {
		return "", s.stripeFailed("create the customer", t.ID, err)
	}
	id, err := s.store.LinkStripeCustomer(ctx, t.ID, cust.ID)
	if err != nil {
		return "", err
	}
	t.StripeCustomerID = id
	return id, nil
}

// CustomerIdempotencyKey is the key under which a tenant's customer is created.
func CustomerIdempotencyKey(tenantID uint) string {
	return fmt.Sprintf("customer-tenant-%d", tenantID)
}

// Portal is POST /billing/portal: a Customer Portal session.
func (s *Service) Portal(c *fiber.Ctx) error {
	t, err := s.currentTenant(c)
	if err != nil {
		return err
	}
	switch s.mode {
	case ModeOff:
		return errBillingOff
	case ModeDemo:
		return c.Redirect("/billing/demo-checkout", fiber.StatusSeeOther)
	}
	if t.StripeCustomerID == "" {
		return fiber.NewError(fiber.StatusConflict, "There is nothing to manage yet: upgrade first.")
	}
	params := &stripe.BillingPortalSessionParams{Customer: stripe.String(t.StripeCustomerID), ReturnURL: stripe.String(s.opts.BaseURL + "/billing")}
	params.Context = c.UserContext()
	sess, err := s.sc.BillingPortalSessions.New(params)
	if err != nil {
		return s.stripeFailed("open the customer portal", t.ID, err)
	}
	return c.Redirect(sess.URL, fiber.StatusSeeOther)
}

// stripeFailed logs Stripe's error with its request id and shows a 502.
func (s *Service) stripeFailed(what string, tenantID uint, err error) error {
	attrs := []any{"tenant_id", tenantID, "err", err}
	var se *stripe.Error
	if errors.As(err, &se) {
		attrs = append(attrs, "stripe_request_id", se.RequestID, "stripe_code", se.Code)
	}
	s.log.Error("billing: unable to "+what, attrs...)
	return fiber.NewError(fiber.StatusBadGateway, "Stripe did not answer as expected, so we could not "+what+". Try again in a minute.")
}
