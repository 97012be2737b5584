package web

import (
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) dashboard(c *fiber.Ctx) error {
	u := currentUser(c)
	if u.Tenant == nil {
		if u.IsAdmin() {
			return c.Redirect("/admin/", fiber.StatusSeeOther)
		}
		return fiber.NewError(fiber.StatusForbidden, "Your user belongs to no tenant. Ask the operator to attach one.")
	}
	plan, err := s.store.PlanByKey(c.UserContext(), u.Tenant.PlanKey)
	if err != nil {
		return err
	}
	toks, err := s.store.APITokens(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	active := 0
	for _, t := range toks {
		if t.RevokedAt == nil {
			active++
		}
	}
	apps, err := s.store.Apps(c.UserContext(), u.Tenant.ID)
	if err != nil {
		return err
	}
	d := views.Dashboard{Tenant: u.Tenant, Plan: plan, Tokens: active, Apps: len(apps)}
	if d.Numbers, err = s.dashboardNumbers(c, apps, time.Now()); err != nil {
		return err
	}
	return render(c, views.DashboardPage(s.navPage(c, "Dashboard", "dashboard"), d))
}

// dashboardNumbers reads the tenant's headline numbers from the usage rollups: requests and
// error rate of the current UTC day, and real revenue (simulated settlements apart) of the
// current UTC month, from one daily usage query over the month.
func (s *Server) dashboardNumbers(c *fiber.Ctx, apps []models.App, now time.Time) (views.DashboardNumbers, error) {
	now = now.UTC()
	today := now.Truncate(24 * time.Hour)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	q := models.UsageQuery{From: month, To: today.Add(24 * time.Hour), Granularity: models.Daily}
	for _, a := range apps {
		q.AppIDs = append(q.AppIDs, a.ID)
	}
	rep, err := s.store.Usage(c.UserContext(), q)
	if err != nil {
		return views.DashboardNumbers{}, err
	}
	n := views.DashboardNumbers{Month: now.Format("January"), RevenueMonth: views.USDC(rep.Total.RevenueAtomic),
		RequestsMonth: rep.Total.Requests, PaidMonth: rep.Total.Paid, LimitHitsMonth: rep.Total.LimitHits}
	if k := len(rep.Buckets); k > 0 {
		day := rep.Buckets[k-1]
		n.RequestsToday, n.ErrorsToday = day.Requests, day.Errors
	}
	sim := "0"
	for _, r := range rep.Revenue {
		if r.Simulated {
			sim = models.AddAtomic(sim, r.Atomic)
		}
	}
	if sim != "0" {
		n.SimulatedMonth = views.USDC(sim)
	}
	return n, nil
}
