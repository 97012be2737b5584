package web

import (
	"errors"
	"strconv"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) appAccess(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	return s.renderAccess(c, a, views.Keys{}, views.Egress{}, fiber.StatusOK)
}

// renderAccess shows the whole tab; the partials' own fields (new secret, errors) come in k, e.
func (s *Server) renderAccess(c *fiber.Ctx, a *models.App, k views.Keys, e views.Egress, status int) error {
	ctx := c.UserContext()
	keys, err := s.store.APIKeys(ctx, a.ID)
	if err != nil {
		return err
	}
	rules, err := s.store.EgressRules(ctx, a.ID)
	if err != nil {
		return err
	}
	routes, err := s.store.Routes(ctx, a.ID)
	if err != nil {
		return err
	}
	k.Slug, k.List = a.Slug, keys
	e.Slug, e.List, e.Max = a.Slug, rules, models.MaxEgressRules
	t := views.AccessTab{Header: s.appHeader(a), Keys: k, Egress: e}
	for _, r := range routes {
		if r.Access == models.AccessAPIKey {
			t.APIKeyRoutes++
		}
	}
	c.Status(status)
	return render(c, views.AccessPage(s.navPage(c, a.Name+" · Access", "apps"), t))
}

// renderKeys answers htmx with the keys partial and plain forms with the page.
func (s *Server) renderKeys(c *fiber.Ctx, a *models.App, k views.Keys, status int) error {
	if !isHTMX(c) {
		return s.renderAccess(c, a, k, views.Egress{}, status)
	}
	list, err := s.store.APIKeys(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	k.Slug, k.List = a.Slug, list
	return render(c, views.KeysPartial(s.page(c, ""), k))
}

func (s *Server) keyCreate(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	k, secret, err := s.store.CreateAPIKey(c.UserContext(), a, c.FormValue("name"))
	if fe, ok := models.AsFieldError(err); ok {
		return s.renderKeys(c, a, views.Keys{Error: fe.Message}, fiber.StatusUnprocessableEntity)
	}
	if errors.Is(err, models.ErrAppBusy) {
		return s.renderKeys(c, a, views.Keys{Error: "The app is being deleted."}, fiber.StatusConflict)
	}
	if err != nil {
		return err
	}
	u := currentUser(c)
	s.audit(c, &u.ID, "consumer_key_created", "app:"+a.Slug, "key:"+strconv.FormatUint(uint64(k.ID), 10)+" "+k.Name)
	s.syncNow(a)
	// The secret is shown in this answer only, so a plain form gets the page rather than a
	// redirect that would lose it.
	return s.renderKeys(c, a, views.Keys{NewSecret: secret, NewName: k.Name}, fiber.StatusOK)
}

func (s *Server) keyRevoke(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, perr := strconv.ParseUint(c.Params("id"), 10, 32)
	if perr != nil {
		return s.renderKeys(c, a, views.Keys{Error: "No such key."}, fiber.StatusNotFound)
	}
	err = s.store.RevokeAPIKey(c.UserContext(), a, uint(id))
	if errors.Is(err, models.ErrNotFound) {
		return s.renderKeys(c, a, views.Keys{Error: "No such key, or it was already revoked."}, fiber.StatusNotFound)
	}
	if err != nil {
		return err
	}
	u := currentUser(c)
	s.audit(c, &u.ID, "consumer_key_revoked", "app:"+a.Slug, "key:"+c.Params("id"))
	s.syncNow(a)
	msg := "Key revoked: callers using it are refused once the edge has the change."
	if !isHTMX(c) {
		return s.redirectFlash(c, "/apps/"+a.Slug+"/access", msg)
	}
	return s.renderKeys(c, a, views.Keys{Message: msg}, fiber.StatusOK)
}

// renderEgress answers htmx with the allowlist partial and plain forms with the page.
func (s *Server) renderEgress(c *fiber.Ctx, a *models.App, e views.Egress, status int) error {
	if !isHTMX(c) {
		return s.renderAccess(c, a, views.Keys{}, e, status)
	}
	list, err := s.store.EgressRules(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	e.Slug, e.List, e.Max = a.Slug, list, models.MaxEgressRules
	return render(c, views.EgressPartial(s.page(c, ""), e))
}

const egressSyncNote = " Written through to the edge; Cloudflare KV can take up to 60 s to reach every location."

func (s *Server) egressAdd(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	raw := c.FormValue("host")
	host, err := s.egressPolicy().ValidateEgressPattern(raw)
	if err == nil {
		err = s.store.AddEgress(c.UserContext(), a, host)
	}
	if fe, ok := models.AsFieldError(err); ok {
		return s.renderEgress(c, a, views.Egress{Value: raw, Error: fe.Message}, fiber.StatusUnprocessableEntity)
	}
	if errors.Is(err, models.ErrAppBusy) {
		return s.renderEgress(c, a, views.Egress{Value: raw, Error: "The app is being deleted."}, fiber.StatusConflict)
	}
	if err != nil {
		return err
	}
	s.syncNow(a)
	msg := host + " allowed." + egressSyncNote
	if !isHTMX(c) {
		return s.redirectFlash(c, "/apps/"+a.Slug+"/access", msg)
	}
	return s.renderEgress(c, a, views.Egress{Message: msg}, fiber.StatusOK)
}

func (s *Server) egressRemove(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, perr := strconv.ParseUint(c.Params("id"), 10, 32)
	if perr == nil {
		err = s.store.RemoveEgress(c.UserContext(), a, uint(id))
	}
	if perr != nil || errors.Is(err, models.ErrNotFound) {
		return s.renderEgress(c, a, views.Egress{Error: "That host is not in the list any more."}, fiber.StatusNotFound)
	}
	if err != nil {
		return err
	}
	s.syncNow(a)
	msg := "Removed." + egressSyncNote
	if !isHTMX(c) {
		return s.redirectFlash(c, "/apps/"+a.Slug+"/access", msg)
	}
	return s.renderEgress(c, a, views.Egress{Message: msg}, fiber.StatusOK)
}
