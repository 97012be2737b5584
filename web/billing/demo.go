package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
	"github.com/stripe/stripe-go/v81"
	"github.com/stripe/stripe-go/v81/webhook"
)

// Demo mode stands in for Stripe Checkout so the whole upgrade flow runs
// offline: the fake page posts the events Stripe would send, signed with the
// webhook secret, to this portal's own webhook over HTTP. Nothing is
// written to the database except through that webhook.

func (s *Service) demoOnly() error {
	if s.mode != ModeDemo {
		return fiber.NewError(fiber.StatusNotFound, "There is no page here.")
	}
	return nil
}

// DemoCheckout is GET /billing/demo-checkout?plan=KEY.
func (s *Service) DemoCheckout(c *fiber.Ctx) error {
	if err := s.demoOnly(); err != nil {
		return err
	}
	t, err := s.currentTenant(c)
	if err != nil {
		return err
	}
	d := views.DemoCheckout{Tenant: t}
	if key := c.Query("plan"); key != "" {
		if d.Plan, err = s.purchasable(c.UserContext(), key); err != nil {
			return err
		}
	}
	subs, err := s.store.TenantSubscriptions(c.UserContext(), t.ID)
	if err != nil {
		return err
	}
	if sub := models.EffectiveSubscription(subs, s.now(), s.opts.Grace); sub != nil && !sub.Terminal() {
		d.Sub = sub
	}
	return render(c, views.DemoCheckoutPage(page(c, "Demo checkout", "billing"), d))
}

// DemoPay is POST /billing/demo-checkout: it sends checkout.session.completed
// and customer.subscription.created, as Stripe does after a payment.
func (s *Service) DemoPay(c *fiber.Ctx) error {
	if err := s.demoOnly(); err != nil {
		return err
	}
	ctx := c.UserContext()
	t, err := s.currentTenant(c)
	if err != nil {
		return err
	}
	p, err := s.purchasable(ctx, c.FormValue("plan"))
	if err != nil {
		return err
	}
	cust := t.StripeCustomerID
	if cust == "" {
		cust = fmt.Sprintf("cus_demo_%d", t.ID)
	}
	tid := strconv.FormatUint(uint64(t.ID), 10)
	subID := "sub_demo_" + models.NewSecret(8)
	now := s.now().Unix()
	sub := map[string]any{
		"id": subID, "object": "subscription", "customer": cust, "status": "active", "created": now,
		"current_period_end": now + 30*24*3600, "cancel_at_period_end": false,
		"metadata": map[string]string{"tenant_id": tid, "plan": p.Key},
		"items":    map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_demo", "object": "subscription_item", "price": map[string]any{"id": p.StripePriceID, "object": "price"}}}},
	}
	session := map[string]any{
		"id": "cs_demo_" + models.NewSecret(8), "object": "checkout.session", "mode": "subscription", "status": "complete",
		"payment_status": "paid", "client_reference_id": tid, "customer": cust, "subscription": subID,
	}
	for _, ev := range []struct {
		typ string
		obj any
	}{{EvCheckoutCompleted, session}, {EvSubscriptionCreated, sub}} {
		if err := s.postDemoEvent(ctx, ev.typ, now, ev.obj); err != nil {
			return err
		}
	}
	return c.Redirect("/billing?checkout=demo", fiber.StatusSeeOther)
}

// DemoCancel is POST /billing/demo-cancel: customer.subscription.deleted
// for the tenant's current demo subscription.
func (s *Service) DemoCancel(c *fiber.Ctx) error {
	if err := s.demoOnly(); err != nil {
		return err
	}
	ctx := c.UserContext()
	t, err := s.currentTenant(c)
	if err != nil {
		return err
	}
	subs, err := s.store.TenantSubscriptions(ctx, t.ID)
	if err != nil {
		return err
	}
	sub := models.EffectiveSubscription(subs, s.now(), s.opts.Grace)
	if sub == nil || sub.Terminal() {
		return fiber.NewError(fiber.StatusConflict, "There is no subscription to cancel.")
	}
	now := s.now().Unix()
	obj := map[string]any{"id": sub.StripeSubscriptionID, "object": "subscription", "customer": sub.StripeCustomerID, "status": "canceled",
		"created": sub.CreatedAt.Unix(), "canceled_at": now, "metadata": map[string]string{"plan": sub.PlanKey}}
	if err := s.postDemoEvent(ctx, EvSubscriptionDeleted, now, obj); err != nil {
		return err
	}
	return c.Redirect("/billing?checkout=demo-canceled", fiber.StatusSeeOther)
}

// postDemoEvent signs an event like Stripe does and posts it to our webhook.
func (s *Service) postDemoEvent(ctx context.Context, typ string, created int64, obj any) error {
	raw, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	body, err := json.Marshal(map[string]any{
		"id": "evt_demo_" + models.NewSecret(12), "object": "event", "api_version": stripe.APIVersion, "created": created,
		"type": typ, "livemode": false, "data": map[string]any{"object": json.RawMessage(raw)},
	})
	if err != nil {
		return err
	}
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: s.secret})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.BaseURL+"/stripe/webhook", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("billing: unable to build the demo webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("billing: unable to post the demo %s webhook to %s: %w", typ, s.opts.BaseURL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("billing: the demo %s webhook got %d: %s", typ, resp.StatusCode, answer)
	}
	return nil
}
