package web

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// adminReview lists the versions in one review state (pending by default).
func (s *Server) adminReview(c *fiber.Ctx) error {
	state := c.Query("state", models.ReviewPending)
	if state != models.ReviewPending && state != models.ReviewApproved && state != models.ReviewRejected {
		state = models.ReviewPending
	}
	items, err := s.store.ReviewQueue(c.UserContext(), state, 200)
	if err != nil {
		return err
	}
	reports, err := s.store.Reports(c.UserContext(), models.ReportOpen, 200)
	if err != nil {
		return err
	}
	return render(c, views.AdminReviewPage(s.navPage(c, "Review queue", "admin-review"), views.ReviewQueue{State: state, Items: items, Reports: reports}))
}

func reviewVersionID(c *fiber.Ctx) (uint, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil || id == 0 {
		return 0, fiber.NewError(fiber.StatusNotFound, "No such version.")
	}
	return uint(id), nil
}

func (s *Server) adminReviewItem(c *fiber.Ctx) error {
	return s.renderReviewItem(c, views.Form{}, fiber.StatusOK)
}

// renderReviewItem shows one version: the matched rules with their lines, the diff against the
// last approved version, the tenant's review history and the decision form.
func (s *Server) renderReviewItem(c *fiber.Ctx, f views.Form, status int) error {
	id, err := reviewVersionID(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	it, err := s.store.ReviewVersion(ctx, id)
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No such version.")
	} else if err != nil {
		return err
	}
	prev, err := s.store.LastApprovedVersion(ctx, it.App.ID, it.Version.Number)
	if err != nil {
		return err
	}
	old := map[string]string{}
	if prev != nil {
		old = prev.Sources
	}
	history, err := s.store.TenantReviewHistory(ctx, it.Tenant.ID, 50)
	if err != nil {
		return err
	}
	d := views.ReviewDetail{Item: *it, Previous: prev, Diff: viewDiff(old, it.Version.Sources), History: history, Form: f}
	c.Status(status)
	return render(c, views.AdminReviewItemPage(s.navPage(c, fmt.Sprintf("Review %s v%d", it.App.Slug, it.Version.Number), "admin-review"), d))
}

// adminReviewDecision approves or rejects. The form carries the state the reviewer saw: if the
// version moved on meanwhile (another admin, a re-scan), the answer is 409 and nothing changes.
func (s *Server) adminReviewDecision(c *fiber.Ctx) error {
	id, err := reviewVersionID(c)
	if err != nil {
		return err
	}
	approve := false
	switch c.FormValue("decision") {
	case "approve":
		approve = true
	case "reject":
	default:
		return s.renderReviewItem(c, views.Form{Message: "Choose approve or reject."}, fiber.StatusUnprocessableEntity)
	}
	reason := toValidUTF8(c.FormValue("reason"))
	if !approve && strings.TrimSpace(reason) != "" && c.FormValue("confirm") != "yes" {
		// A rejection is final: say so and ask once more (works without JavaScript).
		return s.showConfirm(c, views.ConfirmAction{Heading: "Reject this version?",
			What:   "A rejected version can never be deployed; the tenant reads your reason on its Versions tab. Approving it later is still possible.",
			Action: fmt.Sprintf("/admin/review/%d/decision", id), Button: "Reject version", Back: fmt.Sprintf("/admin/review/%d", id), Reason: true,
			Hidden: [][2]string{{"decision", "reject"}, {"from", c.FormValue("from")}}}, fiber.StatusOK)
	}
	actor := currentUser(c).ID
	v, err := s.store.DecideReview(c.UserContext(), id, c.FormValue("from"), approve, reason, actor)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "No such version.")
	case errors.Is(err, models.ErrReviewChanged):
		return s.renderReviewItem(c, views.Form{Message: "Someone decided on this version (or a re-scan flagged it) since you opened it: nothing was changed. Read the page again, then decide.",
			Values: map[string]string{"reason": sanitizeEcho(reason)}}, fiber.StatusConflict)
	case err != nil:
		if fe, ok := models.AsFieldError(err); ok {
			return s.renderReviewItem(c, views.Form{Message: fe.Message, Values: map[string]string{"reason": sanitizeEcho(reason)}}, fiber.StatusUnprocessableEntity)
		}
		return err
	}
	action := "moderation_rejected"
	if approve {
		action = "moderation_approved"
	}
	s.audit(c, &actor, action, fmt.Sprintf("version:%d", v.ID), reason)
	return c.Redirect("/admin/review", fiber.StatusSeeOther)
}
