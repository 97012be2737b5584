package web

import (
	"fmt"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// adminEconomics shows a month's cost and income per tenant (?month=YYYY-MM, default the current
// UTC month) and the price list the estimates use.
func (s *Server) adminEconomics(c *fiber.Ctx) error {
	month := models.MonthStart(time.Now())
	if m := c.Query("month"); m != "" {
		t, err := time.Parse("2006-01", m)
		if err != nil || t.Year() < 2000 || t.Year() > 9999 {
			return fiber.NewError(fiber.StatusBadRequest, "The month is written YYYY-MM, like 2026-11.")
		}
		month = t
	}
	settings, err := s.store.EconomicsSettings(c.UserContext())
	if err != nil {
		return err
	}
	return s.renderEconomics(c, month, views.EconomicsForm(settings), fiber.StatusOK)
}

func (s *Server) renderEconomics(c *fiber.Ctx, month time.Time, form views.Form, status int) error {
	e, err := s.store.Economics(c.UserContext(), month)
	if err != nil {
		return err
	}
	c.Status(status)
	return render(c, views.AdminEconomicsPage(s.navPage(c, "Economics", "admin-economics"),
		views.AdminEconomicsView{E: e, Month: e.Month.Format("2006-01"), Form: form, Saved: c.Query("done") == "saved"}))
}

// adminEconomicsSave saves the price list and the platform fee; a bad field re-renders the page
// with the message beside it and nothing saved.
func (s *Server) adminEconomicsSave(c *fiber.Ctx) error {
	in := models.EconomicsInput{MonthlyMinimum: c.FormValue("monthly_minimum"), IncludedRequests: c.FormValue("included_requests"),
		PerMillionRequests: c.FormValue("per_million_requests"), IncludedCPUMs: c.FormValue("included_cpu_ms"),
		PerMillionCPUMs: c.FormValue("per_million_cpu_ms"), PlatformFee: c.FormValue("platform_fee")}
	e, err := models.ParseEconomics(in)
	if fe, ok := models.AsFieldError(err); ok {
		form := views.Form{Values: map[string]string{
			"monthly_minimum": sanitizeEcho(in.MonthlyMinimum), "included_requests": sanitizeEcho(in.IncludedRequests),
			"per_million_requests": sanitizeEcho(in.PerMillionRequests), "included_cpu_ms": sanitizeEcho(in.IncludedCPUMs),
			"per_million_cpu_ms": sanitizeEcho(in.PerMillionCPUMs), "platform_fee": sanitizeEcho(in.PlatformFee),
		}, Errors: map[string]string{fe.Field: fe.Message}, Message: "Not saved: " + fe.Message}
		return s.renderEconomics(c, models.MonthStart(time.Now()), form, fiber.StatusUnprocessableEntity)
	} else if err != nil {
		return err
	}
	if err := s.store.SaveEconomicsSettings(c.UserContext(), e); err != nil {
		return err
	}
	s.audit(c, &currentUser(c).ID, "economics_saved", "economics", fmt.Sprintf("minimum %d µ$, %d requests then %d µ$/M, %d CPU ms then %d µ$/M, fee %d bps",
		e.MonthlyMinimumMicros, e.IncludedRequests, e.PerMillionRequests, e.IncludedCPUMs, e.PerMillionCPUMs, e.PlatformFeeBps))
	return c.Redirect("/admin/economics?done=saved", fiber.StatusSeeOther)
}
