package web

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

func utf8Valid(s string) bool { return utf8.ValidString(s) }

func (s *Server) appSettings(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	return s.renderAppSettings(c, a, views.SettingsTab{})
}

func (s *Server) renderAppSettings(c *fiber.Ctx, a *models.App, t views.SettingsTab) error {
	vars, err := s.store.Vars(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	t.Header, t.Vars = s.appHeader(a), vars
	// Plain variables are shown for editing; secrets stay write-only and are never opened here.
	var plain []models.Var
	for _, v := range vars {
		if !v.Secret {
			plain = append(plain, v)
		}
	}
	open, err := models.DecryptVars(s.opts.SecretKey, plain)
	if err != nil {
		return err
	}
	t.PlainValues = make(map[string]string, len(open))
	for _, v := range open {
		t.PlainValues[v.Name] = v.Value
	}
	if isHTMX(c) && c.Method() == fiber.MethodPost {
		return render(c, views.VarsPartial(s.page(c, ""), t))
	}
	return render(c, views.AppSettingsPage(s.navPage(c, a.Name+" settings", "apps"), t))
}

func (s *Server) appRename(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	if err := s.store.RenameApp(c.UserContext(), a, c.FormValue("name")); err != nil {
		if fe, ok := models.AsFieldError(err); ok {
			c.Status(fiber.StatusUnprocessableEntity)
			return s.renderAppSettings(c, a, views.SettingsTab{Rename: views.Form{Message: fe.Message, Values: map[string]string{"name": sanitizeEcho(c.FormValue("name"))}}})
		}
		return err
	}
	return s.redirectFlash(c, "/apps/"+a.Slug+"/settings", "Renamed to "+a.Name+".")
}

func (s *Server) appKV(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	on := c.FormValue("on") == "true"
	if err := s.store.SetAppKV(c.UserContext(), a, on); err != nil {
		if errors.Is(err, models.ErrAppBusy) {
			return fiber.NewError(fiber.StatusConflict, "The app is being deleted.")
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, "app_kv", "app:"+a.Slug, map[bool]string{true: "on", false: "off"}[on])
	s.syncNow(a)
	msg := "KV store switched off: env.KV is unbound (its data is kept); the app is redeploying."
	if on {
		msg = "KV store switched on: your code reads and writes env.KV once the app has redeployed."
	}
	return s.redirectFlash(c, "/apps/"+a.Slug+"/settings", msg)
}

// maxVarValue keeps one var well under Cloudflare's 5 KiB env var limit.
const maxVarValue = 5 << 10

func (s *Server) appVarSet(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	name, value, secret := strings.TrimSpace(c.FormValue("name")), c.FormValue("value"), c.FormValue("secret") == "true"
	t := views.SettingsTab{VarForm: views.Form{Values: map[string]string{"name": sanitizeEcho(name)}}}
	switch {
	case !utf8.ValidString(value):
		t.VarForm.Message = "The value is not valid text (UTF-8)."
	case len(value) > maxVarValue:
		t.VarForm.Message = "The value is too long (5 KiB at most)."
	default:
		err := s.store.SetVar(c.UserContext(), a, name, value, secret, s.opts.SecretKey)
		if fe, ok := models.AsFieldError(err); ok {
			t.VarForm.Message = fe.Message
		} else if errors.Is(err, models.ErrAppBusy) {
			return fiber.NewError(fiber.StatusConflict, "The app is being deleted.")
		} else if err != nil {
			return err
		} else {
			t.VarFlash = name + " saved; the app is redeploying."
			t.VarForm = views.Form{}
			s.audit(c, &currentUser(c).ID, "var_set", "app:"+a.Slug, name)
			s.syncNow(a)
		}
	}
	if t.VarForm.Message != "" && !isHTMX(c) {
		c.Status(fiber.StatusUnprocessableEntity)
	}
	if t.VarFlash != "" && !isHTMX(c) {
		return s.redirectFlash(c, "/apps/"+a.Slug+"/settings#vars", t.VarFlash)
	}
	return s.renderAppSettings(c, a, t)
}

func (s *Server) appVarDelete(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	name := c.Params("name")
	t := views.SettingsTab{}
	switch err := s.store.DeleteVar(c.UserContext(), a, name); {
	case errors.Is(err, models.ErrNotFound):
		t.VarForm.Message = "No variable named " + sanitizeEcho(name) + "."
	case err != nil:
		return err
	default:
		t.VarFlash = name + " deleted; the app is redeploying."
		s.audit(c, &currentUser(c).ID, "var_deleted", "app:"+a.Slug, name)
		s.syncNow(a)
		if !isHTMX(c) {
			return s.redirectFlash(c, "/apps/"+a.Slug+"/settings#vars", t.VarFlash)
		}
	}
	return s.renderAppSettings(c, a, t)
}

func (s *Server) appDelete(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != a.Slug {
		c.Status(fiber.StatusUnprocessableEntity)
		return s.renderAppSettings(c, a, views.SettingsTab{Delete: views.Form{Message: "To delete, type the slug " + a.Slug + " exactly."}})
	}
	if err := s.store.DeleteApp(c.UserContext(), a); err != nil && !errors.Is(err, models.ErrAppBusy) {
		return err
	}
	s.audit(c, &currentUser(c).ID, "app_deleted", "app:"+a.Slug, "")
	s.syncNow(a)
	return s.redirectFlash(c, "/apps", a.Name+" ("+a.Slug+") is deleted; it is being removed from the edge.")
}

// appResume resumes apps a downgrade paused once they fit the plan again, and ends a first
// CPU stop of the local edge's watchdog at once (a repeat waits for a deploy).
func (s *Server) appResume(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	if models.IsCPUStop(a) {
		if err := s.store.ResumeCPUStop(c.UserContext(), a); errors.Is(err, models.ErrCPUStopNeedsDeploy) {
			return fiber.NewError(fiber.StatusConflict, "This app ran away twice within 24 hours and stays stopped until you deploy a fixed version (Code tab).")
		} else if err != nil && !errors.Is(err, models.ErrNotCPUStop) {
			return err
		}
		s.audit(c, &currentUser(c).ID, "app_resumed", "app:"+a.Slug, "cpu stop")
		s.syncNow(a)
		return s.redirectFlash(c, "/apps/"+a.Slug, a.Name+" is resumed; the edge serves it again once it is in sync.")
	}
	still, err := s.store.ResumeApps(c.UserContext(), a.TenantID)
	if err != nil {
		return err
	}
	for _, slug := range still {
		if slug == a.Slug {
			c.Status(fiber.StatusConflict)
			return fiber.NewError(fiber.StatusConflict, "This app still does not fit your plan: "+a.StatusReason)
		}
	}
	s.audit(c, &currentUser(c).ID, "app_resumed", "app:"+a.Slug, "")
	if apps, err := s.store.Apps(c.UserContext(), a.TenantID); err == nil {
		for i := range apps {
			s.syncNow(&apps[i])
		}
	}
	return s.redirectFlash(c, "/apps/"+a.Slug, a.Name+" is resumed; the edge serves it again once it is in sync.")
}
