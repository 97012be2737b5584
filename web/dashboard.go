package web

import (
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) dashboard(c *fiber.Ctx) error {
	u := currentUser(c)
	if u.Tenant == nil {
		if u.IsAdmin() {
			return c.Redirect("/admin/", fiber.StatusSeeOther)
		}
		return fiber.NewError(fiber.StatusForbidden, "Your user belongs to no tenant. Ask the operator to attach one.")
	}
	plan, err := s.store.PlanByKey(c.UserContext(), u.Tenant.PlanKey)
	if err != nil {
		return err
	}
	toks, err := s.store.APITokens(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	active := 0
	for _, t := range toks {
		if t.RevokedAt == nil {
			active++
		}
	}
	apps, err := s.store.Apps(c.UserContext(), u.Tenant.ID)
	if err != nil {
		return err
	}
	d := views.Dashboard{Tenant: u.Tenant, Plan: plan, Tokens: active, Apps: len(apps)}
	return render(c, views.DashboardPage(s.navPage(c, "Dashboard", "dashboard"), d))
}

func (s *Server) billingShow(c *fiber.Ctx) error {
	return render(c, views.Placeholder(s.navPage(c, "Billing", "billing"), "Billing",
		"Billing is not built yet: every account is on the Free plan, and an admin can change plans. Stripe subscriptions come in a later release."))
}
