package billing

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// AdminPlans is GET /admin/plans[?tenant=slug].
func (s *Service) AdminPlans(c *fiber.Ctx) error {
	return s.renderAdminPlans(c, views.AdminPlans{Message: adminMessages[c.Query("saved")]}, c.Query("tenant"))
}

var adminMessages = map[string]string{"plan": "Plan saved; tenants on it get the new limits.", "assigned": "Plan assigned."}

func (s *Service) renderAdminPlans(c *fiber.Ctx, v views.AdminPlans, lookup string) error {
	plans, err := s.store.Plans(c.UserContext())
	if err != nil {
		return err
	}
	v.Plans = plans
	if lookup = strings.TrimSpace(lookup); lookup != "" && len(lookup) <= 64 {
		v.Lookup = lookup
		t, err := s.store.TenantBySlug(c.UserContext(), lookup)
		if errors.Is(err, models.ErrNotFound) {
			v.Error = "No tenant with the slug " + lookup + "."
		} else if err != nil {
			return err
		}
		v.Tenant = t
	}
	return render(c, views.AdminPlansPage(page(c, "Plans", "admin-plans"), v))
}

// ParsePlanForm reads the plan editor's fields into p and returns one
// message per bad field.
func ParsePlanForm(p models.Plan, get func(string) string) (models.Plan, map[string]string) {
	errs := map[string]string{}
	name := strings.TrimSpace(get("name"))
	switch {
	case name == "" || !utf8.ValidString(name):
		errs["name"] = "Give the plan a name."
	case utf8.RuneCountInString(name) > 100:
		errs["name"] = "Use at most 100 characters."
	}
	p.Name = name
	if cents, ok := parseDollars(get("price")); !ok {
		errs["price"] = "Write the monthly price in dollars, like 20 or 19.99."
	} else if p.Key == models.FreePlan && cents != 0 {
		errs["price"] = "The free plan must cost nothing: every tenant falls back to it."
	} else {
		p.MonthlyPriceCents = cents
	}
	price := strings.TrimSpace(get("stripe_price_id"))
	if price != "" && (!strings.HasPrefix(price, "price_") || len(price) > 100 || strings.ContainsAny(price, " \t/")) {
		errs["stripe_price_id"] = "A Stripe price id looks like price_1Abc…; copy it from the Stripe dashboard."
	}
	p.StripePriceID = price
	ints := []struct {
		field    string
		min, max int
		set      func(int)
		msg      string
	}{
		// Cloudflare caps a Workers for Platforms invocation at 5 minutes of
		// CPU and 10,000 subrequests on paid accounts.
		{"cpu_ms", 1, 300000, func(v int) { p.CPUMs = v }, "Between 1 and 300000 ms."},
		{"sub_requests", 1, 10000, func(v int) { p.SubRequests = v }, "Between 1 and 10000."},
		{"max_apps", 1, 100000, func(v int) { p.MaxApps = v }, "Between 1 and 100000."},
		{"max_routes", 1, 10000, func(v int) { p.MaxRoutes = v }, "Between 1 and 10000."},
		{"max_script_kib", 1, 64 << 10, func(v int) { p.MaxScriptBytes = int64(v) << 10 }, "Between 1 and 65536 KiB."},
		// Logs (issue 11): the edge captures at most 1000 lines of a request, so more cannot be kept.
		{"log_lines", 1, 1000, func(v int) { p.LogLinesPerRequest = v }, "Between 1 and 1000 lines."},
		{"log_retention_hours", 1, 24 * 90, func(v int) { p.LogRetentionHours = v }, "Between 1 and 2160 hours (90 days)."},
		{"log_max_mib", 1, 1024, func(v int) { p.LogMaxBytes = int64(v) << 20 }, "Between 1 and 1024 MiB."},
		// Caps on the per-caller limits a tenant sets on its routes (issue 15): 0 is the
		// platform's bound (models.DefaultLimitCaps), which no plan exceeds.
		{"max_rate_per_second", 0, models.DefaultLimitCaps.RatePerSecond, func(v int) { p.MaxRatePerSecond = v },
			fmt.Sprintf("Between 0 (the platform's %d) and %d.", models.DefaultLimitCaps.RatePerSecond, models.DefaultLimitCaps.RatePerSecond)},
		{"max_rate_per_minute", 0, models.DefaultLimitCaps.RatePerMinute, func(v int) { p.MaxRatePerMinute = v },
			fmt.Sprintf("Between 0 (the platform's %d) and %d.", models.DefaultLimitCaps.RatePerMinute, models.DefaultLimitCaps.RatePerMinute)},
		{"max_daily_quota", 0, models.DefaultLimitCaps.DailyQuota, func(v int) { p.MaxDailyQuota = v },
			fmt.Sprintf("Between 0 (the platform's %d) and %d.", models.DefaultLimitCaps.DailyQuota, models.DefaultLimitCaps.DailyQuota)},
		{"max_monthly_quota", 0, models.DefaultLimitCaps.MonthlyQuota, func(v int) { p.MaxMonthlyQuota = v },
			fmt.Sprintf("Between 0 (the platform's %d) and %d.", models.DefaultLimitCaps.MonthlyQuota, models.DefaultLimitCaps.MonthlyQuota)},
	}
	for _, f := range ints {
		v, err := strconv.Atoi(strings.TrimSpace(get(f.field)))
		if f.min == 0 && strings.TrimSpace(get(f.field)) == "" {
			v, err = 0, nil // a cap left empty is the platform's bound
		}
		if err != nil || v < f.min || v > f.max {
			errs[f.field] = f.msg
			continue
		}
		f.set(v)
	}
	p.Active = get("active") != ""
	p.QuotasOff = get("quotas") == ""
	p.SpendCapsOff = get("spend_caps") == ""
	if p.Key == models.FreePlan && !p.Active {
		errs["name"] = "The free plan cannot be withdrawn: every tenant falls back to it."
	}
	return p, errs
}

// parseDollars reads "20", "20.5" or "19.99" as cents.
func parseDollars(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "$")
	whole, frac, hasFrac := strings.Cut(v, ".")
	if whole == "" || len(whole) > 7 || (hasFrac && (len(frac) == 0 || len(frac) > 2)) {
		return 0, false
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	w, _ := strconv.ParseInt(whole, 10, 64)
	var f int64
	if hasFrac {
		f, _ = strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
	}
	c := w*100 + f
	return c, c >= 0 && c < math.MaxInt32
}

// AdminPlanSave is POST /admin/plans/:key. When the edge limits change, every
// tenant on the plan gets its limits written through in the same transaction.
func (s *Service) AdminPlanSave(c *fiber.Ctx) error {
	ctx := c.UserContext()
	old, err := s.store.PlanByKey(ctx, c.Params("key"))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "There is no such plan.")
	}
	if err != nil {
		return err
	}
	p, errs := ParsePlanForm(*old, func(k string) string { return c.FormValue(k) })
	if len(errs) > 0 {
		c.Status(fiber.StatusUnprocessableEntity)
		return s.renderAdminPlans(c, views.AdminPlans{Errors: map[string]map[string]string{p.Key: errs}, Error: "The " + old.Name + " plan was not saved."}, "")
	}
	u := currentUser(c)
	err = s.store.BillingTransaction(ctx, func(b models.BillingTx) error {
		if err := b.SavePlan(p); err != nil {
			return err
		}
		if p.CPUMs != old.CPUMs || p.SubRequests != old.SubRequests {
			ids, err := b.TenantIDsOnPlan(p.Key)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if s.opts.OnPlanChange != nil {
					if err := s.opts.OnPlanChange(ctx, b, id, p.Key, p.Key); err != nil {
						return err
					}
				}
			}
		}
		return b.Audit(&u.ID, "plan_saved", "plan:"+p.Key, "")
	})
	if err != nil {
		return err
	}
	return c.Redirect("/admin/plans?saved=plan", fiber.StatusSeeOther)
}

// AdminAssignPlan is POST /admin/tenants/:slug/plan. With Stripe on, a
// tenant that has a subscription goes back to what Stripe says at its next
// subscription event; the assignment is meant for tenants without one.
func (s *Service) AdminAssignPlan(c *fiber.Ctx) error {
	ctx := c.UserContext()
	key := c.FormValue("plan")
	if _, err := s.store.PlanByKey(ctx, key); errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusUnprocessableEntity, "There is no such plan.")
	} else if err != nil {
		return err
	}
	u := currentUser(c)
	var found bool
	err := s.store.BillingTransaction(ctx, func(b models.BillingTx) error {
		t, err := b.TenantBySlug(c.Params("slug"))
		if err != nil {
			return err
		}
		found = true
		if t, err = b.LockTenant(t.ID); err != nil {
			return err
		}
		_, err = s.setPlan(ctx, b, t, key, &u.ID, "assigned by "+u.Email)
		return err
	})
	if errors.Is(err, models.ErrNotFound) && !found {
		return fiber.NewError(fiber.StatusNotFound, "There is no such tenant.")
	}
	if err != nil {
		return err
	}
	return c.Redirect("/admin/plans?saved=assigned&tenant="+c.Params("slug"), fiber.StatusSeeOther)
}
