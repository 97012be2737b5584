package web

import (
	"context"
	"github.com/402claw/402claw/web/reqctx"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
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

// adminTenants is the tenant list: substring search (emails, slugs, app names, payout
// wallets), filters, a sort order and cursor pages.
func (s *Server) adminTenants(c *fiber.Ctx) error {
	q, vals := tenantQuery(c)
	ctx := c.UserContext()
	page, err := s.store.SearchTenants(ctx, q)
	if err != nil {
		return err
	}
	plans, err := s.store.Plans(ctx)
	if err != nil {
		return err
	}
	link := func(k, cursor string) string {
		if cursor == "" {
			return ""
		}
		v := url.Values{}
		for key, vs := range vals {
			v[key] = vs
		}
		v.Set(k, cursor)
		return "/admin/tenants?" + v.Encode()
	}
	v := views.AdminTenants{Page: page, Query: q, Plans: plans, Sorts: models.TenantSorts,
		Next: link("after", page.Next), Prev: link("before", page.Prev), Paged: q.After != "" || q.Before != ""}
	if len(vals) > 0 {
		v.First = "/admin/tenants?" + vals.Encode()
	} else {
		v.First = "/admin/tenants"
	}
	if reqctx.HX(c).Targets("tenant-results") {
		return render(c, views.AdminTenantResults(v))
	}
	return render(c, views.AdminTenantsPage(s.navPage(c, "Tenants", "admin-tenants"), v))
}

// tenantQuery reads the tenant list's search, filters, sort and cursor, and
// the query string that keeps them (without the cursor).
func tenantQuery(c *fiber.Ctx) (models.TenantQuery, url.Values) {
	search := strings.TrimSpace(toValidUTF8(c.Query("q")))
	if r := []rune(search); len(r) > models.TenantSearchMax {
		search = string(r[:models.TenantSearchMax])
	}
	q := models.TenantQuery{Search: search, Plan: c.Query("plan"), Status: c.Query("status"),
		Flagged: c.Query("flagged") != "", PastDue: c.Query("past_due") != "", Sort: c.Query("sort"),
		After: c.Query("after"), Before: c.Query("before"), Limit: adminPageSize}
	if len(q.Plan) > 64 {
		q.Plan = ""
	}
	if q.Status != models.TenantActive && q.Status != models.TenantSuspended {
		q.Status = ""
	}
	if !slices.Contains(models.TenantSorts, q.Sort) {
		q.Sort = models.TenantSortNewest
	}
	vals := url.Values{}
	for k, v := range map[string]string{"q": q.Search, "plan": q.Plan, "status": q.Status} {
		if v != "" {
			vals.Set(k, v)
		}
	}
	if q.Flagged {
		vals.Set("flagged", "1")
	}
	if q.PastDue {
		vals.Set("past_due", "1")
	}
	if q.Sort != models.TenantSortNewest {
		vals.Set("sort", q.Sort)
	}
	return q, vals
}
