package web

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// edgeURL is where an app is served: a path on the local edge, a host under
// the base domain on Cloudflare.
func (s *Server) edgeURL(a *models.App) string {
	e := s.opts.EdgeInfo
	if e.Local || e.BaseDomain == "" {
		base := e.EdgeURL
		if base == "" {
			base = "http://127.0.0.1:8787"
		}
		return strings.TrimRight(base, "/") + "/" + a.Slug
	}
	return "https://" + a.Slug + "." + e.BaseDomain
}

func (s *Server) appHeader(a *models.App) views.AppHeader {
	e := s.opts.EdgeInfo
	h := views.AppHeader{App: a, EdgeURL: s.edgeURL(a), Local: e.Local}
	if e.RuntimeNote != nil {
		h.RuntimeNote = e.RuntimeNote()
	}
	if e.CPU != nil {
		if st, ok := e.CPU(a.ScriptName); ok && st.Requests > 0 {
			h.CPU = &views.CPUView{Requests: st.Requests, Mean: fmtMs(st.Mean), Max: fmtMs(st.Max)}
		}
	}
	return h
}

func fmtMs(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) + " ms"
}

// tenantOf returns the user's tenant or a clear 403 for tenant-less admins.
func tenantOf(c *fiber.Ctx) (*models.Tenant, error) {
	u := currentUser(c)
	if u == nil || u.Tenant == nil {
		return nil, fiber.NewError(fiber.StatusForbidden, "Apps belong to tenants; your user has none.")
	}
	return u.Tenant, nil
}

// loadApp finds the current tenant's app by slug; another tenant's app is a 404.
func (s *Server) loadApp(c *fiber.Ctx) (*models.App, error) {
	t, err := tenantOf(c)
	if err != nil {
		return nil, err
	}
	a, err := s.store.AppBySlug(c.UserContext(), t.ID, c.Params("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "There is no app with that address in your account.")
	}
	return a, err
}

// syncNow tries an app's job right after the commit that raised it. It runs
// detached from the request so a slow Cloudflare answer never holds the page;
// the page polls the deployment's status.
func (s *Server) syncNow(a *models.App) {
	if s.opts.SyncNow == nil {
		return
	}
	target := a.JobTarget()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := s.opts.SyncNow(ctx, target); err != nil {
			s.log.Warn("sync attempt failed; the syncer retries", "target", target, "err", err)
		}
	}()
}

func (s *Server) appsList(c *fiber.Ctx) error {
	return s.renderApps(c, views.Form{}, fiber.StatusOK)
}

func (s *Server) renderApps(c *fiber.Ctx, f views.Form, status int) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	apps, err := s.store.Apps(c.UserContext(), t.ID)
	if err != nil {
		return err
	}
	plan, err := s.store.PlanByKey(c.UserContext(), t.PlanKey)
	if err != nil {
		return err
	}
	l := views.AppsList{Create: f, MaxApps: plan.MaxApps, PlanName: plan.Name}
	for _, a := range apps {
		row := views.AppRow{App: a, EdgeURL: s.edgeURL(&a)}
		if a.DeployedVersionID != nil {
			if n, err := s.store.VersionNumber(c.UserContext(), a.ID, *a.DeployedVersionID); err == nil {
				row.Deployed = n
			}
		}
		l.Rows = append(l.Rows, row)
	}
	c.Status(status)
	return render(c, views.AppsPage(s.navPage(c, "Apps", "apps"), l))
}

// createAppErr turns store errors into a field and a message for people.
func createAppErr(err error) (field, msg string, status int) {
	var pl *models.PlanLimitError
	switch {
	case errors.As(err, &pl):
		return "", pl.Error(), fiber.StatusForbidden
	case errors.Is(err, models.ErrSlugTaken):
		return "slug", "That slug is taken; choose another.", fiber.StatusConflict
	}
	if fe, ok := models.AsFieldError(err); ok {
		return fe.Field, fe.Message, fiber.StatusUnprocessableEntity
	}
	return "", "", 0
}

func (s *Server) appCreate(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	slug, name := strings.TrimSpace(c.FormValue("slug")), c.FormValue("name")
	if name == "" {
		name = slug
	}
	st, routes, sfield, smsg := chooseStarter(c.FormValue("starter"), c.FormValue("pay_to"))
	var a *models.App
	if sfield != "" {
		err = &models.FieldError{Field: sfield, Message: smsg}
	} else {
		a, err = s.store.CreateApp(c.UserContext(), t, slug, name)
	}
	if err != nil {
		field, msg, status := createAppErr(err)
		if status == 0 {
			return err
		}
		f := views.Form{Values: map[string]string{"slug": sanitizeEcho(slug), "name": sanitizeEcho(name),
			"starter": sanitizeEcho(c.FormValue("starter")), "pay_to": sanitizeEcho(c.FormValue("pay_to"))}, Errors: map[string]string{}}
		if field != "" {
			f.Errors[field] = msg
		} else {
			f.Message = msg
		}
		return s.renderApps(c, f, status)
	}
	s.audit(c, &currentUser(c).ID, "app_created", "app:"+a.Slug, "")
	if st != nil {
		if err := s.startApp(c, a, st, routes); err != nil {
			return err
		}
	}
	s.syncNow(a)
	msg := a.Name + " (" + a.Slug + ") is created: write its code below, then Save and deploy."
	if st != nil {
		msg = a.Name + " (" + a.Slug + ") is created from a starter and is being deployed."
	}
	return s.redirectFlash(c, "/apps/"+a.Slug, msg)
}
