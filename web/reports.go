package web

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// maxReportBody bounds a report's JSON body: the message's limit plus room for the rest.
const maxReportBody = 8 << 10

// apiReport files an abuse report: no account needed and no cookies read, so no CSRF (a JSON
// body cannot be sent cross-site without a preflight). Rate limited per address, limited in
// size and per address and day, and the same report twice is stored once.
func (s *Server) apiReport(c *fiber.Ctx) error {
	if len(c.Body()) > maxReportBody {
		return newAPIError(fiber.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("A report is at most %d bytes of JSON.", maxReportBody))
	}
	var in struct {
		App      string `json:"app"`
		Category string `json:"category"`
		Message  string `json:"message"`
		Email    string `json:"email"`
	}
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	r := models.AbuseReport{AppSlug: in.App, Category: in.Category, Message: in.Message, Email: in.Email, IP: s.clientIP(c)}
	if err := s.store.CreateReport(c.UserContext(), &r); err != nil {
		if fe, ok := models.AsFieldError(err); ok {
			return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: fe.Message, Field: fe.Field}
		}
		if errors.Is(err, models.ErrTooManyReports) {
			return newAPIError(fiber.StatusTooManyRequests, "rate_limited", "Too many reports from your address today; write to the operator instead.")
		}
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": r.ID, "state": r.State})
}

// reportForm is the public "report this API" page.
func (s *Server) reportForm(c *fiber.Ctx) error {
	f := views.Form{Values: map[string]string{"app": sanitizeEcho(toValidUTF8(c.Query("app")))}}
	return render(c, views.ReportPage(s.page(c, "Report an API"), views.ReportView{Form: f, Sent: c.Query("sent") == "1", Categories: models.ReportCategories}))
}

func (s *Server) reportSave(c *fiber.Ctx) error {
	values := map[string]string{}
	for _, k := range []string{"app", "category", "message", "email"} {
		values[k] = toValidUTF8(c.FormValue(k))
	}
	r := models.AbuseReport{AppSlug: values["app"], Category: values["category"], Message: values["message"], Email: values["email"], IP: s.clientIP(c)}
	err := s.store.CreateReport(c.UserContext(), &r)
	if err == nil {
		return c.Redirect("/report?sent=1", fiber.StatusSeeOther)
	}
	echo := map[string]string{}
	for k, v := range values {
		echo[k] = sanitizeEcho(v)
	}
	f := views.Form{Values: echo}
	status := fiber.StatusUnprocessableEntity
	switch fe, ok := models.AsFieldError(err); {
	case ok:
		f.Errors = map[string]string{fe.Field: fe.Message}
		f.Message = "The report was not sent: fix the field marked below."
	case errors.Is(err, models.ErrTooManyReports):
		status, f.Message = fiber.StatusTooManyRequests, "Too many reports from your address today; write to the operator instead."
	default:
		return err
	}
	c.Status(status)
	return render(c, views.ReportPage(s.page(c, "Report an API"), views.ReportView{Form: f, Categories: models.ReportCategories}))
}

// adminReportDecision closes an open report as dismissed or actioned.
func (s *Server) adminReportDecision(c *fiber.Ctx) error {
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil || id == 0 {
		return fiber.NewError(fiber.StatusNotFound, "No such report.")
	}
	state := map[string]string{"dismiss": models.ReportDismissed, "actioned": models.ReportActioned}[c.FormValue("decision")]
	r, err := s.store.CloseReport(c.UserContext(), uint(id), state, toValidUTF8(c.FormValue("note")), currentUser(c).ID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "No such report.")
	case errors.Is(err, models.ErrReviewChanged):
		return fiber.NewError(fiber.StatusConflict, "Another admin closed this report meanwhile; nothing was changed.")
	case err != nil:
		if fe, ok := models.AsFieldError(err); ok {
			return fiber.NewError(fiber.StatusUnprocessableEntity, fe.Message)
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, "report_"+r.State, fmt.Sprintf("report:%d", r.ID), "app:"+r.AppSlug+" "+r.Note)
	back := "/admin/review#reports"
	if c.FormValue("back") == "reports" {
		back = "/admin/reports"
	}
	return c.Redirect(back, fiber.StatusSeeOther)
}

// adminReports lists the abuse reports in one state (open by default), open ones with
// their decision forms.
func (s *Server) adminReports(c *fiber.Ctx) error {
	state := c.Query("state", models.ReportOpen)
	if state != models.ReportActioned && state != models.ReportDismissed {
		state = models.ReportOpen
	}
	ctx := c.UserContext()
	rs, err := s.store.Reports(ctx, state, 200)
	if err != nil {
		return err
	}
	var ids []uint
	for _, r := range rs {
		if r.DecidedBy != nil {
			ids = append(ids, *r.DecidedBy)
		}
	}
	actors, err := s.store.UserEmails(ctx, ids)
	if err != nil {
		return err
	}
	return render(c, views.AdminReportsPage(s.navPage(c, "Abuse reports", "admin-reports"), views.ReportsView{State: state, Reports: rs, Actors: actors}))
}
