package web

import (
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// billingShow is /billing when billing is off (no Stripe, no demo): web/billing serves it otherwise.
func (s *Server) billingShow(c *fiber.Ctx) error {
	return render(c, views.Placeholder(s.navPage(c, "Billing", "billing"), "Billing",
		"Billing is not built yet: every account is on the Free plan, and an admin can change plans. Stripe subscriptions come in a later release."))
}
