package web

import (
	"strconv"

	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

const adminPageSize = 50

func (s *Server) adminHome(c *fiber.Ctx) error {
	_, total, err := s.store.Tenants(c.UserContext(), "", 0, 0)
	if err != nil {
		return err
	}
	audit, err := s.store.AuditEvents(c.UserContext(), 20)
	if err != nil {
		return err
	}
	failing, err := s.store.SyncJobs(c.UserContext(), true, 1000)
	if err != nil {
		return err
	}
	plans := -1
	if s.opts.Billing != nil {
		ps, err := s.store.Plans(c.UserContext())
		if err != nil {
			return err
		}
		plans = len(ps)
	}
	return render(c, views.AdminHome(s.navPage(c, "Admin", "admin"), total, len(failing), plans, audit))
}

func (s *Server) adminTenants(c *fiber.Ctx) error {
	q := toValidUTF8(c.Query("q"))
	if len(q) > 100 {
		q = q[:100]
	}
	page, _ := strconv.Atoi(c.Query("page"))
	if page < 1 {
		page = 1
	}
	rows, total, err := s.store.Tenants(c.UserContext(), q, (page-1)*adminPageSize, adminPageSize)
	if err != nil {
		return err
	}
	pages := int((total + adminPageSize - 1) / adminPageSize)
	if pages < 1 {
		pages = 1
	}
	return render(c, views.AdminTenantsPage(s.navPage(c, "Tenants", "admin-tenants"), views.AdminTenants{Rows: rows, Total: total, Query: q, Page: page, Pages: pages}))
}
