package billing

import (
	"errors"
	"fmt"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

var (
	currentUser = reqctx.User
	render      = reqctx.Render
)

func page(c *fiber.Ctx, title, nav string) views.Page {
	return views.Page{Title: title, User: currentUser(c), CSRF: reqctx.CSRF(c), Nav: nav, PlansPage: true}
}

// currentTenant is the logged-in user's tenant, re-read so that a plan
// changed by a webhook a moment ago shows up.
func (s *Service) currentTenant(c *fiber.Ctx) (*models.Tenant, error) {
	u := currentUser(c)
	if u == nil || u.TenantID == nil {
		return nil, fiber.NewError(fiber.StatusForbidden, "Your user belongs to no tenant, so it has no billing. Ask the operator to attach one.")
	}
	return s.store.TenantByID(c.UserContext(), *u.TenantID)
}

var checkoutNotices = map[string]string{
	"success":       "Thank you! Your payment went through; the new plan appears here as soon as Stripe confirms it (usually within seconds — reload if it has not).",
	"cancel":        "Checkout was canceled; nothing was charged.",
	"demo":          "Demo payment done: the signed webhooks were delivered to this portal.",
	"demo-canceled": "Demo subscription canceled.",
}

// Page is GET /billing.
func (s *Service) Page(c *fiber.Ctx) error {
	ctx := c.UserContext()
	t, err := s.currentTenant(c)
	if err != nil {
		return err
	}
	plan, err := s.store.PlanByKey(ctx, t.PlanKey)
	if errors.Is(err, models.ErrNotFound) {
		plan, err = s.store.PlanByKey(ctx, models.FreePlan)
	}
	if err != nil {
		return err
	}
	plans, err := s.store.Plans(ctx)
	if err != nil {
		return err
	}
	subs, err := s.store.TenantSubscriptions(ctx, t.ID)
	if err != nil {
		return err
	}
	now := s.now()
	sub := models.EffectiveSubscription(subs, now, s.opts.Grace)
	_, state := models.Entitlement(sub, now, s.opts.Grace)
	v := views.Billing{Mode: string(s.mode), Tenant: t, Plan: plan, Sub: sub, State: state, GraceDeadline: models.GraceDeadline(sub, s.opts.Grace),
		Notice: checkoutNotices[c.Query("checkout")]}
	for _, p := range plans {
		if p.Active && p.MonthlyPriceCents > 0 && p.Key != plan.Key && (s.mode == ModeDemo || p.StripePriceID != "") {
			v.Upgrades = append(v.Upgrades, p)
		}
	}
	if s.opts.Usage != nil {
		apps, routes, bytes, err := s.opts.Usage(ctx, t.ID)
		if err != nil {
			s.log.Error("billing: usage unavailable for the billing page", "tenant_id", t.ID, "err", err)
		} else {
			v.Usage = views.BillingUsage{Known: true, Apps: apps, Routes: routes, ScriptBytes: bytes}
			v.Over = OverLimits(*plan, apps, routes, bytes)
		}
	}
	return render(c, views.BillingPage(page(c, "Billing", "billing"), v))
}

// OverLimits says in words what exceeds a plan's caps. routes is the
// largest route count of one app and scriptBytes the largest script, since
// the caps are per app.
func OverLimits(p models.Plan, apps, routes int, scriptBytes int64) []string {
	var out []string
	if apps > p.MaxApps {
		out = append(out, fmt.Sprintf("%d apps, the plan allows %d", apps, p.MaxApps))
	}
	if routes > p.MaxRoutes {
		out = append(out, fmt.Sprintf("an app with %d routes, the plan allows %d per app", routes, p.MaxRoutes))
	}
	if scriptBytes > p.MaxScriptBytes {
		out = append(out, fmt.Sprintf("a script of %d bytes, the plan allows %d", scriptBytes, p.MaxScriptBytes))
	}
	return out
}

// Pricing is GET /pricing, public.
func (s *Service) Pricing(c *fiber.Ctx) error {
	plans, err := s.store.Plans(c.UserContext())
	if err != nil {
		return err
	}
	var active []models.Plan
	for _, p := range plans {
		if p.Active {
			active = append(active, p)
		}
	}
	pg := page(c, "Pricing", "pricing")
	pg.SignupOpen = s.opts.SignupOpen
	return render(c, views.PricingPage(pg, views.Pricing{Plans: active, Mode: string(s.mode)}))
}
