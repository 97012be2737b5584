package web

import (
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

// page builds the layout model for the current request.
func (s *Server) page(c *fiber.Ctx, title string) views.Page {
	p := views.Page{Title: title, User: currentUser(c), CSRF: reqctx.CSRF(c), SignupOpen: s.opts.SignupOpen, PlansPage: s.opts.Billing != nil}
	if !isHTMX(c) {
		switch c.Method() {
		case fiber.MethodGet:
			p.Flash = s.takeFlash(c)
		case fiber.MethodPost:
			// A plain form answered in place: the page shows its GET address (flash.go).
			p.ReplaceURL = getURL(c.Path())
		}
	}
	return p
}

func (s *Server) navPage(c *fiber.Ctx, title, nav string) views.Page {
	p := s.page(c, title)
	p.Nav = nav
	return p
}

// docs is the API guide the footer links to; its commands name this installation.
func (s *Server) docs(c *fiber.Ctx) error {
	app := s.edgeURL(&models.App{Slug: "hello"}) + "/"
	return render(c, views.Docs(s.page(c, "API guide"), views.DocsView{BaseURL: strings.TrimRight(s.opts.BaseURL, "/"), AppURL: app}))
}

func (s *Server) landing(c *fiber.Ctx) error {
	return render(c, views.Landing(s.page(c, "Paid APIs from your code")))
}
