package web

import (
	"errors"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// maxCatalogApps bounds the catalog page and the platform llms.txt; the bazaar catalog
// (/discovery/resources) pages through everything.
const maxCatalogApps = 500

// publicDocs reads the docs of a listed app; an unlisted, paused, undeployed app or one of a
// suspended tenant is a 404 that says nothing about it.
func (s *Server) publicDocs(c *fiber.Ctx) (views.AppDocs, error) {
	a, routes, err := s.store.PublicApp(c.UserContext(), c.Params("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return views.AppDocs{}, fiber.NewError(fiber.StatusNotFound, "No listed app has that address.")
	}
	if err != nil {
		return views.AppDocs{}, err
	}
	return newAppDocs(*a, routes, s.edgeURL(a)), nil
}

// appDocs is the public docs page of a listed app: GET /a/<slug>.
func (s *Server) appDocs(c *fiber.Ctx) error {
	d, err := s.publicDocs(c)
	if err != nil {
		return err
	}
	return render(c, views.AppDocsPage(s.page(c, d.Name+" · API docs"), d))
}

// appLLMs is the same content as llms.txt: GET /a/<slug>/llms.txt.
func (s *Server) appLLMs(c *fiber.Ctx) error {
	d, err := s.publicDocs(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/markdown; charset=utf-8")
	return c.SendString(d.LLMsText())
}

// catalog is the page of listed apps: GET /catalog.
func (s *Server) catalog(c *fiber.Ctx) error {
	apps, err := s.store.PublicApps(c.UserContext(), maxCatalogApps)
	if err != nil {
		return err
	}
	docs := make([]views.AppDocs, len(apps))
	for i := range apps {
		docs[i] = newAppDocs(apps[i], nil, s.edgeURL(&apps[i]))
	}
	return render(c, views.CatalogPage(s.page(c, "API catalog"), docs))
}

// platformLLMs is the platform-wide llms.txt: the listed apps and where their own llms.txt is.
func (s *Server) platformLLMs(c *fiber.Ctx) error {
	apps, err := s.store.PublicApps(c.UserContext(), maxCatalogApps)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/markdown; charset=utf-8")
	return c.SendString(views.PlatformLLMsText(strings.TrimRight(s.origin, "/"), apps))
}
