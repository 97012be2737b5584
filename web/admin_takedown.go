package web

import (
	"errors"
	"fmt"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// confirmed says whether a destructive POST carries the confirmation; without it (and on a
// GET) the confirmation page is rendered instead: it works without JavaScript.
func (s *Server) confirmed(c *fiber.Ctx, a views.ConfirmAction) (ok bool, err error) {
	if c.Method() == fiber.MethodPost && c.FormValue("confirm") == "yes" {
		return true, nil
	}
	return false, s.showConfirm(c, a, fiber.StatusOK)
}

// showConfirm renders a confirmation page, keeping the reason typed so far.
func (s *Server) showConfirm(c *fiber.Ctx, a views.ConfirmAction, status int) error {
	if a.Form.Values == nil {
		a.Form.Values = map[string]string{"reason": sanitizeEcho(toValidUTF8(c.FormValue("reason")))}
	}
	c.Status(status)
	return render(c, views.ConfirmPage(s.navPage(c, a.Heading, "admin-tenants"), a))
}

// appActions are the admin's actions on one app: the state each sets, its audit action and
// what the confirmation says will happen.
var appActions = map[string]struct {
	state, audit, button string
	reason               bool
	what                 string
}{
	"suspend": {models.ModerationSuspended, "app_suspended", "Suspend app", true,
		"Every request to this app is answered 403 with the reason below, at the edge. Its code and settings stay; restoring undoes it."},
	"takedown": {models.ModerationTakenDown, "app_taken_down", "Take down now", true,
		"The app's script and configuration are deleted from the edge at once: callers get 404. The code, versions and settings stay in the portal; restoring uploads them again."},
	"restore": {models.ModerationNone, "app_restored", "Restore app", false,
		"The app is served again as its owner configured it (its script is uploaded again if it was taken down)."},
}

// adminAppAction suspends, takes down or restores one app of a tenant, after a confirmation.
func (s *Server) adminAppAction(c *fiber.Ctx) error {
	act, ok := appActions[c.Params("action")]
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "No such action.")
	}
	ctx := c.UserContext()
	t, err := s.store.TenantBySlug(ctx, c.Params("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No tenant with that slug.")
	} else if err != nil {
		return err
	}
	a, err := s.store.AppBySlug(ctx, t.ID, c.Params("app"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No such app.")
	} else if err != nil {
		return err
	}
	confirm := views.ConfirmAction{
		Heading: fmt.Sprintf("%s %s of %s?", act.button, a.Slug, t.Name), What: act.what,
		Action: fmt.Sprintf("/admin/tenants/%s/apps/%s/%s", t.Slug, a.Slug, c.Params("action")),
		Button: act.button, Back: "/admin/tenants/" + t.Slug, Reason: act.reason,
	}
	if ok, err := s.confirmed(c, confirm); !ok {
		return err
	}
	reason := toValidUTF8(c.FormValue("reason"))
	if err := s.store.SetAppModeration(ctx, a.ID, act.state, reason); err != nil {
		if fe, ok := models.AsFieldError(err); ok {
			confirm.Form = views.Form{Message: fe.Message, Values: map[string]string{"reason": sanitizeEcho(reason)}}
			return s.showConfirm(c, confirm, fiber.StatusUnprocessableEntity)
		}
		if errors.Is(err, models.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "No such app.")
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, act.audit, "app:"+a.Slug, fmt.Sprintf("before: %q; after: %q %s", a.ModerationState, act.state, reason))
	s.syncNow(a)
	return c.Redirect("/admin/tenants/"+t.Slug+"#apps", fiber.StatusSeeOther)
}

// tenantActions are the admin's tenant-wide actions besides suspend and reinstate.
var tenantActions = map[string]struct {
	state, audit, button string
	reason               bool
	what                 string
}{
	"takedown": {models.ModerationTakenDown, "tenant_taken_down", "Take down every app", true,
		"Every app of this tenant is deleted from the edge at once (scripts and configuration): callers get 404. Nothing is deleted in the portal; restoring uploads them again. Suspend the tenant as well to stop it from deploying."},
	"restore": {models.ModerationNone, "tenant_apps_restored", "Restore every app", false,
		"Every app of this tenant that an admin suspended or took down is served again (a suspended tenant stays suspended until reinstated)."},
}

func (s *Server) adminTenantAction(c *fiber.Ctx) error {
	act, ok := tenantActions[c.Params("action")]
	if !ok {
		return fiber.NewError(fiber.StatusNotFound, "No such action.")
	}
	ctx := c.UserContext()
	t, err := s.store.TenantBySlug(ctx, c.Params("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No tenant with that slug.")
	} else if err != nil {
		return err
	}
	confirm := views.ConfirmAction{
		Heading: fmt.Sprintf("%s of %s?", act.button, t.Name), What: act.what,
		Action: fmt.Sprintf("/admin/tenants/%s/all-apps/%s", t.Slug, c.Params("action")),
		Button: act.button, Back: "/admin/tenants/" + t.Slug, Reason: act.reason,
	}
	if ok, err := s.confirmed(c, confirm); !ok {
		return err
	}
	reason := toValidUTF8(c.FormValue("reason"))
	if err := s.store.SetTenantAppsModeration(ctx, t.ID, act.state, reason); err != nil {
		if fe, ok := models.AsFieldError(err); ok {
			confirm.Form = views.Form{Message: fe.Message, Values: map[string]string{"reason": sanitizeEcho(reason)}}
			return s.showConfirm(c, confirm, fiber.StatusUnprocessableEntity)
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, act.audit, "tenant:"+t.Slug, reason)
	if apps, err := s.store.Apps(ctx, t.ID); err == nil {
		for i := range apps {
			s.syncNow(&apps[i])
		}
	}
	return c.Redirect("/admin/tenants/"+t.Slug+"#apps", fiber.StatusSeeOther)
}
