package web

import (
	"errors"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) adminTenant(c *fiber.Ctx) error {
	return s.renderAdminTenant(c, views.Form{}, fiber.StatusOK)
}

func (s *Server) renderAdminTenant(c *fiber.Ctx, f views.Form, status int) error {
	ctx := c.UserContext()
	t, err := s.store.TenantBySlug(ctx, c.Params("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No tenant with that slug.")
	} else if err != nil {
		return err
	}
	users, err := s.store.TenantUsers(ctx, t.ID)
	if err != nil {
		return err
	}
	apps, err := s.store.Apps(ctx, t.ID)
	if err != nil {
		return err
	}
	plans, err := s.store.Plans(ctx)
	if err != nil {
		return err
	}
	audit, _, err := s.store.AuditPage(ctx, models.AuditFilter{Tenant: t.Slug}, 20)
	if err != nil {
		return err
	}
	actors, err := s.auditActors(ctx, audit)
	if err != nil {
		return err
	}
	subs, err := s.store.TenantSubscriptions(ctx, t.ID)
	if err != nil {
		return err
	}
	mode := "off"
	if s.opts.Billing != nil {
		mode = string(s.opts.Billing.Mode())
	}
	c.Status(status)
	a := views.AdminTenant{Tenant: t, Users: users, Apps: apps, Plans: plans, BillingMode: mode, Subscriptions: subs, Form: f,
		Audit: audit, Actors: actors}
	return render(c, views.AdminTenantPage(s.navPage(c, t.Name, "admin-tenants"), a))
}

// adminTenantStatus suspends or reinstates a tenant; the edge follows through
// the sync jobs raised in the same transaction.
func (s *Server) adminTenantStatus(status string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		ctx := c.UserContext()
		t, err := s.store.TenantBySlug(ctx, c.Params("slug"))
		if errors.Is(err, models.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "No tenant with that slug.")
		} else if err != nil {
			return err
		}
		reason := toValidUTF8(c.FormValue("reason"))
		confirm := views.ConfirmAction{Heading: "Suspend " + t.Name + "?",
			What:   "Every request to this tenant's apps is answered 403 with the reason below, at the edge, and the tenant sees it on its dashboard. Nothing is deleted; reinstating undoes it.",
			Action: "/admin/tenants/" + t.Slug + "/suspend", Button: "Suspend tenant", Back: "/admin/tenants/" + t.Slug, Reason: true}
		if status == models.TenantSuspended {
			if ok, err := s.confirmed(c, confirm); !ok {
				return err
			}
		}
		if err := s.store.SetTenantStatus(ctx, t.ID, status, reason); err != nil {
			if fe, ok := models.AsFieldError(err); ok {
				if status == models.TenantSuspended {
					confirm.Form = views.Form{Message: fe.Message, Values: map[string]string{"reason": sanitizeEcho(reason)}}
					return s.showConfirm(c, confirm, fiber.StatusUnprocessableEntity)
				}
				return s.renderAdminTenant(c, views.Form{Message: fe.Message, Values: map[string]string{"reason": sanitizeEcho(reason)}}, fiber.StatusUnprocessableEntity)
			}
			return err
		}
		action := map[string]string{models.TenantSuspended: "tenant_suspended", models.TenantActive: "tenant_reinstated"}[status]
		s.audit(c, &currentUser(c).ID, action, "tenant:"+t.Slug, reason)
		if apps, err := s.store.Apps(ctx, t.ID); err == nil {
			for i := range apps {
				s.syncNow(&apps[i])
			}
		}
		return c.Redirect("/admin/tenants/"+t.Slug, fiber.StatusSeeOther)
	}
}

// adminTenantPolicy sets the tenant's own review policy ("" follows its plan).
func (s *Server) adminTenantPolicy(c *fiber.Ctx) error {
	ctx := c.UserContext()
	t, err := s.store.TenantBySlug(ctx, c.Params("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No tenant with that slug.")
	} else if err != nil {
		return err
	}
	policy := c.FormValue("review_policy")
	if err := s.store.SetTenantReviewPolicy(ctx, t.ID, policy); err != nil {
		if fe, ok := models.AsFieldError(err); ok {
			return s.renderAdminTenant(c, views.Form{Message: fe.Message}, fiber.StatusUnprocessableEntity)
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, "review_policy_changed", "tenant:"+t.Slug, "before: "+t.ReviewPolicy+"; after: "+policy)
	return c.Redirect("/admin/tenants/"+t.Slug+"#review-policy", fiber.StatusSeeOther)
}
