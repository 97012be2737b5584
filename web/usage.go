package web

import (
	"errors"
	"github.com/402claw/402claw/web/reqctx"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// usageWindow turns a usage page's range (24h, 7d, 30d) into a query's range and granularity:
// 24 hours by the hour, 7 and 30 days by the UTC day, each ending with the current bucket.
func usageWindow(rng string, now time.Time) (models.UsageQuery, string, error) {
	now = now.UTC()
	hourEnd := now.Truncate(time.Hour).Add(time.Hour)
	dayEnd := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	switch rng {
	case "", "24h":
		return models.UsageQuery{From: hourEnd.Add(-24 * time.Hour), To: hourEnd, Granularity: models.Hourly}, "24h", nil
	case "7d":
		return models.UsageQuery{From: dayEnd.Add(-7 * 24 * time.Hour), To: dayEnd, Granularity: models.Daily}, "7d", nil
	case "30d":
		return models.UsageQuery{From: dayEnd.Add(-30 * 24 * time.Hour), To: dayEnd, Granularity: models.Daily}, "30d", nil
	}
	return models.UsageQuery{}, "", fiber.NewError(fiber.StatusBadRequest, "The range must be 24h, 7d or 30d.")
}

// requestsPerPage is the recent-requests log's page size.
const requestsPerPage = 50

// maxRouteParam bounds a route filter (routes are stored in 520 bytes).
const maxRouteParam = 520

func routeParam(c *fiber.Ctx) (string, error) {
	r := c.Query("route")
	if len(r) > maxRouteParam {
		return "", fiber.NewError(fiber.StatusBadRequest, "The route filter is too long.")
	}
	return r, nil
}

// usageView reads a report, its charts and its breakdown for the apps of one page.
func (s *Server) usageView(c *fiber.Ctx, path string, apps []models.App, byRoute bool) (views.UsageView, error) {
	q, rng, err := usageWindow(c.Query("range"), time.Now())
	if err != nil {
		return views.UsageView{}, err
	}
	route, err := routeParam(c)
	if err != nil {
		return views.UsageView{}, err
	}
	u := views.UsageView{Path: path, Range: rng, Route: route, HasApps: len(apps) > 0, ByLabel: "App"}
	if byRoute {
		u.ByLabel = "Route"
	}
	byID := map[uint]*models.App{}
	for i := range apps {
		q.AppIDs = append(q.AppIDs, apps[i].ID)
		byID[apps[i].ID] = &apps[i]
	}
	q.Route = route
	ctx := c.UserContext()
	if u.Report, err = s.store.Usage(ctx, q); err != nil {
		return u, err
	}
	u.Charts = views.UsageCharts(&u.Report)
	sim := "0"
	for _, r := range u.Report.Revenue {
		if r.Simulated {
			sim = models.AddAtomic(sim, r.Atomic)
		}
	}
	if sim != "0" {
		u.Simulated = views.USDC(sim)
	}
	for _, r := range u.Report.Routes {
		u.Routes = append(u.Routes, views.UsageOption{Value: r, Label: r})
	}
	if route != "" && len(u.Report.Routes) == 0 {
		u.Routes = append(u.Routes, views.UsageOption{Value: route, Label: route})
	}
	totals, err := s.store.UsageBreakdown(ctx, q, byRoute)
	if err != nil {
		return u, err
	}
	for _, t := range totals {
		row := views.UsageRow{Requests: t.Requests, Paid: t.Paid, Errors: t.Errors, LimitHits: t.LimitHits,
			Subrequests: t.Subrequests, CPUMs: t.CPUMs, Revenue: views.USDC(t.RevenueAtomic)}
		a := byID[t.AppID]
		if a == nil {
			continue
		}
		if byRoute {
			row.Label = t.Route
			if row.Label == "" {
				row.Label = "(no route matched)"
			}
		} else {
			row.Label, row.Code, row.Link = a.Name, a.Slug, "/apps/"+a.Slug+"/usage"
		}
		u.Breakdown = append(u.Breakdown, row)
	}
	return u, nil
}

// usageSelection is the apps /usage and /usage.csv show: all of them, or the one ?app= names
// (404 when the tenant has none by that slug). Without an app, a ?route= is dropped: routes
// are per app.
func usageSelection(c *fiber.Ctx, apps []models.App, slug string) ([]models.App, error) {
	if slug == "" {
		c.Request().URI().QueryArgs().Del("route")
		return apps, nil
	}
	for _, a := range apps {
		if a.Slug == slug {
			return []models.App{a}, nil
		}
	}
	return nil, fiber.NewError(fiber.StatusNotFound, "There is no app with that address in your account.")
}

// usageShow is /usage: the tenant's apps together, or one of them (?app=).
func (s *Server) usageShow(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	apps, err := s.store.Apps(c.UserContext(), t.ID)
	if err != nil {
		return err
	}
	var opts []views.UsageOption
	for _, a := range apps {
		opts = append(opts, views.UsageOption{Value: a.Slug, Label: a.Name})
	}
	slug := c.Query("app")
	sel, err := usageSelection(c, apps, slug)
	if err != nil {
		return err
	}
	u, err := s.usageView(c, "/usage", sel, slug != "")
	if err != nil {
		return err
	}
	u.HasApps = len(apps) > 0
	u.Apps, u.App = opts, slug
	if slug == "" {
		u.Routes = nil
	}
	return render(c, views.UsagePage(s.navPage(c, "Usage", "usage"), u))
}

// appUsage is an app's Usage tab: charts per route and the recent requests.
func (s *Server) appUsage(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	path := "/apps/" + a.Slug + "/usage"
	l := views.RequestsLog{Path: path, Range: c.Query("range", "24h"), Filter: models.RequestFilter{
		Route: c.Query("r_route"), Status: c.Query("r_status"), Error: c.Query("r_error"),
		Payment: c.Query("r_payment"), Payer: c.Query("r_payer"), Limit: requestsPerPage}}
	if v, err := strconv.ParseUint(c.Query("r_cursor"), 10, 32); err == nil {
		l.Filter.Before = uint(v)
	}
	l.Rows, l.Next, err = s.store.RecentRequests(c.UserContext(), a.ID, l.Filter)
	if errors.Is(err, models.ErrRequestFilter) {
		l.Problem = strings.TrimPrefix(err.Error(), models.ErrRequestFilter.Error()+": ")
		c.Status(fiber.StatusBadRequest)
	} else if err != nil {
		return err
	}
	if reqctx.HX(c).Targets("requests") {
		return render(c, views.RequestsSection(l))
	}
	u, err := s.usageView(c, path, []models.App{*a}, true)
	if err != nil {
		return err
	}
	u.Requests = &l
	return render(c, views.AppUsagePage(s.navPage(c, a.Name+" · Usage", "apps"), s.appHeader(a), u))
}
