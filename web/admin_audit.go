package web

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

const auditPageSize = 50

// auditFilter reads the audit page's filters; a malformed date is a 400 naming the field.
func auditFilter(c *fiber.Ctx) (models.AuditFilter, url.Values, error) {
	clip := func(k string, n int) string {
		v := strings.TrimSpace(toValidUTF8(c.Query(k)))
		if len(v) > n {
			v = v[:n]
		}
		return v
	}
	f := models.AuditFilter{Actor: clip("actor", 254), Action: clip("action", 64), Tenant: clip("tenant", 64)}
	vals := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "tenant": f.Tenant} {
		if v != "" {
			vals.Set(k, v)
		}
	}
	for _, d := range []struct {
		key string
		dst *time.Time
		add time.Duration
	}{{"from", &f.From, 0}, {"to", &f.To, 24 * time.Hour}} {
		v := clip(d.key, 10)
		if v == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", v)
		if err != nil {
			return f, vals, fiber.NewError(fiber.StatusBadRequest, "The "+d.key+" date must look like 2026-01-31.")
		}
		*d.dst = t.Add(d.add) // "to" includes its whole day
		vals.Set(d.key, v)
	}
	if b := c.Query("before"); b != "" {
		n, err := strconv.ParseUint(b, 10, 32)
		if err != nil {
			return f, vals, fiber.NewError(fiber.StatusBadRequest, "The page cursor is not a number.")
		}
		f.Before = uint(n)
	}
	return f, vals, nil
}

// adminAudit lists audit rows with filters (actor, action, tenant, date range), newest first,
// paged by id.
func (s *Server) adminAudit(c *fiber.Ctx) error {
	f, vals, err := auditFilter(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	es, next, err := s.store.AuditPage(ctx, f, auditPageSize)
	if err != nil {
		return err
	}
	actors, err := s.auditActors(ctx, es)
	if err != nil {
		return err
	}
	actions, err := s.store.AuditActions(ctx)
	if err != nil {
		return err
	}
	v := views.AuditView{Events: es, Actors: actors, Actions: actions, Filter: vals, Paged: f.Before > 0}
	if next > 0 {
		nv := url.Values{}
		for k := range vals {
			nv.Set(k, vals.Get(k))
		}
		nv.Set("before", strconv.FormatUint(uint64(next), 10))
		v.Next = "/admin/audit?" + nv.Encode()
	}
	v.First = "/admin/audit?" + vals.Encode()
	v.CSV = "/admin/audit.csv?" + vals.Encode()
	return render(c, views.AdminAuditPage(s.navPage(c, "Audit", "admin-audit"), v))
}

// adminAuditCSV exports every row the filters match, 1,000 at a time; cells that a
// spreadsheet would take for a formula are defused (csvCell).
func (s *Server) adminAuditCSV(c *fiber.Ctx) error {
	f, _, err := auditFilter(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	w := csvHeaders(c, "audit.csv")
	writeCSV(w, "id", "at_utc", "actor", "action", "target", "detail", "ip")
	for {
		es, next, err := s.store.AuditPage(ctx, f, 1000)
		if err != nil {
			return err
		}
		actors, err := s.auditActors(ctx, es)
		if err != nil {
			return err
		}
		for _, e := range es {
			writeCSV(w, strconv.FormatUint(uint64(e.ID), 10), e.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), views.ActorName(e, actors), e.Action, e.Target, e.Detail, e.IP)
		}
		w.Flush()
		if next == 0 {
			return w.Error()
		}
		f.Before = next
	}
}
