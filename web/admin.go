package web

import (
	"context"

	"github.com/402claw/402claw/models"
	"strconv"
	"time"

	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

const adminPageSize = 50

func (s *Server) adminHome(c *fiber.Ctx) error {
	ctx := c.UserContext()
	counts, err := s.store.AdminCounts(ctx)
	if err != nil {
		return err
	}
	audit, err := s.store.AuditEvents(ctx, 20)
	if err != nil {
		return err
	}
	actors, err := s.auditActors(ctx, audit)
	if err != nil {
		return err
	}
	econ, err := s.store.Economics(ctx, time.Now())
	if err != nil {
		return err
	}
	losses := econ.LossMaking()
	if len(losses) > 10 {
		losses = losses[:10]
	}
	return render(c, views.AdminHome(s.navPage(c, "Admin", "admin"), views.AdminHomeView{Counts: counts, Audit: audit, Actors: actors, Losses: losses}))
}

// auditActors maps the actors of es to their emails.
func (s *Server) auditActors(ctx context.Context, es []models.AuditEvent) (map[uint]string, error) {
	var ids []uint
	for _, e := range es {
		if e.ActorUserID != nil {
			ids = append(ids, *e.ActorUserID)
		}
	}
	return s.store.UserEmails(ctx, ids)
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
