package web

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

// adminRules lists the moderation rules with the new-rule form, the re-scan and the plans'
// review policies.
func (s *Server) adminRules(c *fiber.Ctx) error {
	return s.renderAdminRules(c, views.AdminRules{Saved: savedNotice(c.Query("saved"))}, fiber.StatusOK)
}

// savedNotice turns the redirect's ?saved= code into the notice shown after a good POST.
func savedNotice(code string) string {
	return map[string]string{
		"created":  "Rule created. Existing versions are not scanned against it until you re-scan.",
		"updated":  "Rule saved. Existing versions are not scanned against it until you re-scan.",
		"deleted":  "Rule deleted.",
		"policy":   "Review policy saved. It applies to versions saved from now on.",
		"rescan":   "Re-scan started.",
		"running":  "A re-scan is already running: its progress is below.",
		"disabled": "Rule disabled.",
		"enabled":  "Rule enabled.",
	}[code]
}

func (s *Server) renderAdminRules(c *fiber.Ctx, a views.AdminRules, status int) error {
	ctx := c.UserContext()
	var err error
	if a.Rules, err = s.store.ModerationRules(ctx); err != nil {
		return err
	}
	if a.Rescan, err = s.store.LatestRescan(ctx); err != nil {
		return err
	}
	if a.Plans, err = s.store.Plans(ctx); err != nil {
		return err
	}
	c.Status(status)
	return render(c, views.AdminRulesPage(s.navPage(c, "Moderation rules", "admin-rules"), a))
}

// ruleFromForm reads the rule form; the values come back for re-display on an error.
func ruleFromForm(c *fiber.Ctx) (models.ModerationRule, map[string]string) {
	v := map[string]string{}
	for _, k := range []string{"name", "kind", "pattern", "severity", "action", "message"} {
		v[k] = toValidUTF8(c.FormValue(k))
	}
	enabled := c.FormValue("enabled") == "1"
	v["enabled"] = "0"
	if enabled {
		v["enabled"] = "1"
	}
	return models.ModerationRule{Name: v["name"], Kind: v["kind"], Pattern: v["pattern"], Severity: v["severity"],
		Action: v["action"], Message: v["message"], Enabled: enabled}, v
}

// ruleFormError is the form re-rendered with the store's refusal.
func ruleFormError(err error, values map[string]string) (views.Form, bool) {
	fe, ok := models.AsFieldError(err)
	if !ok {
		return views.Form{}, false
	}
	echo := map[string]string{}
	for k, v := range values {
		echo[k] = sanitizeEcho(v)
	}
	return views.Form{Values: echo, Errors: map[string]string{fe.Field: fe.Message}, Message: "The rule was not saved: fix the field marked below."}, true
}

func (s *Server) adminRuleCreate(c *fiber.Ctx) error {
	r, values := ruleFromForm(c)
	if err := s.store.SaveModerationRule(c.UserContext(), &r); err != nil {
		if f, ok := ruleFormError(err, values); ok {
			return s.renderAdminRules(c, views.AdminRules{New: f}, fiber.StatusUnprocessableEntity)
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, "moderation_rule_created", "rule:"+r.Name, fmt.Sprintf("%s %s %s: %s", r.Kind, r.Action, r.Severity, truncateRunes(r.Pattern, 300)))
	return c.Redirect("/admin/rules?saved=created", fiber.StatusSeeOther)
}

func (s *Server) ruleParam(c *fiber.Ctx) (*models.ModerationRule, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil || id == 0 {
		return nil, fiber.NewError(fiber.StatusNotFound, "No such rule.")
	}
	r, err := s.store.ModerationRuleByID(c.UserContext(), uint(id))
	if errors.Is(err, models.ErrNotFound) {
		return nil, fiber.NewError(fiber.StatusNotFound, "No such rule.")
	}
	return r, err
}

func ruleValues(r *models.ModerationRule) map[string]string {
	en := "0"
	if r.Enabled {
		en = "1"
	}
	return map[string]string{"name": r.Name, "kind": r.Kind, "pattern": r.Pattern, "severity": r.Severity, "action": r.Action, "message": r.Message, "enabled": en}
}

func (s *Server) adminRule(c *fiber.Ctx) error {
	r, err := s.ruleParam(c)
	if err != nil {
		return err
	}
	return render(c, views.AdminRulePage(s.navPage(c, "Rule "+r.Name, "admin-rules"), views.AdminRule{Rule: *r, Form: views.Form{Values: ruleValues(r)}}))
}

func (s *Server) adminRuleUpdate(c *fiber.Ctx) error {
	old, err := s.ruleParam(c)
	if err != nil {
		return err
	}
	r, values := ruleFromForm(c)
	r.ID = old.ID
	if err := s.store.SaveModerationRule(c.UserContext(), &r); err != nil {
		if f, ok := ruleFormError(err, values); ok {
			c.Status(fiber.StatusUnprocessableEntity)
			return render(c, views.AdminRulePage(s.navPage(c, "Rule "+old.Name, "admin-rules"), views.AdminRule{Rule: *old, Form: f}))
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, "moderation_rule_updated", "rule:"+r.Name,
		fmt.Sprintf("before: %s %s %s enabled=%v %s; after: %s %s %s enabled=%v %s", old.Kind, old.Action, old.Severity, old.Enabled, truncateRunes(old.Pattern, 200),
			r.Kind, r.Action, r.Severity, r.Enabled, truncateRunes(r.Pattern, 200)))
	return c.Redirect("/admin/rules?saved=updated", fiber.StatusSeeOther)
}

// adminRuleToggle enables or disables a rule; htmx swaps the row, a plain form comes back to
// the list.
func (s *Server) adminRuleToggle(c *fiber.Ctx) error {
	r, err := s.ruleParam(c)
	if err != nil {
		return err
	}
	r.Enabled = c.FormValue("enabled") == "1"
	if err := s.store.SaveModerationRule(c.UserContext(), r); err != nil {
		return err // the stored rule validated when it was saved
	}
	action := "moderation_rule_disabled"
	if r.Enabled {
		action = "moderation_rule_enabled"
	}
	s.audit(c, &currentUser(c).ID, action, "rule:"+r.Name, "")
	if isHTMX(c) {
		return render(c, views.RuleRow(csrfToken(c), *r))
	}
	return c.Redirect("/admin/rules?saved="+map[bool]string{true: "enabled", false: "disabled"}[r.Enabled], fiber.StatusSeeOther)
}

// adminRuleDeleteConfirm asks before deleting (a confirmation that works without JavaScript).
func (s *Server) adminRuleDeleteConfirm(c *fiber.Ctx) error {
	r, err := s.ruleParam(c)
	if err != nil {
		return err
	}
	back := fmt.Sprintf("/admin/rules/%d", r.ID)
	return render(c, views.ConfirmPage(s.navPage(c, "Delete rule "+r.Name, "admin-rules"), views.ConfirmAction{
		Heading: "Delete the rule " + r.Name + "?",
		What:    "New versions will no longer be scanned against it. Versions it flagged keep their matches and their review state. This cannot be undone; disabling the rule keeps it for later.",
		Action:  back + "/delete", Button: "Delete rule", Back: back,
	}))
}

func (s *Server) adminRuleDelete(c *fiber.Ctx) error {
	r, err := s.ruleParam(c)
	if err != nil {
		return err
	}
	if c.FormValue("confirm") != "yes" {
		return c.Redirect(fmt.Sprintf("/admin/rules/%d/delete", r.ID), fiber.StatusSeeOther)
	}
	if err := s.store.DeleteModerationRule(c.UserContext(), r.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	s.audit(c, &currentUser(c).ID, "moderation_rule_deleted", "rule:"+r.Name, truncateRunes(r.Pattern, 300))
	return c.Redirect("/admin/rules?saved=deleted", fiber.StatusSeeOther)
}

// adminRescanStart records a re-scan and runs it in the background; the page polls its progress.
func (s *Server) adminRescanStart(c *fiber.Ctx) error {
	actor := currentUser(c).ID
	r, err := s.store.StartRescan(c.UserContext(), &actor)
	if errors.Is(err, models.ErrRescanRunning) {
		return c.Redirect("/admin/rules?saved=running#rescan", fiber.StatusSeeOther)
	}
	if err != nil {
		return err
	}
	s.audit(c, &actor, "moderation_rescan_started", fmt.Sprintf("rescan:%d", r.ID), fmt.Sprintf("%d live versions", r.Total))
	go func(id uint) {
		ctx, cancel := context.WithTimeout(context.Background(), rescanTimeout)
		defer cancel()
		if err := s.store.RunRescan(ctx, id); err != nil {
			s.log.Warn("moderation re-scan failed", "rescan", id, "err", err)
		}
	}(r.ID)
	return c.Redirect("/admin/rules?saved=rescan#rescan", fiber.StatusSeeOther)
}

// rescanTimeout bounds one re-scan run (it records what it did when cut short).
const rescanTimeout = 30 * time.Minute

// adminRescanStatus is the re-scan card, polled by htmx while a run is going.
func (s *Server) adminRescanStatus(c *fiber.Ctx) error {
	r, err := s.store.LatestRescan(c.UserContext())
	if err != nil {
		return err
	}
	return render(c, views.RescanCard(csrfToken(c), r))
}

// adminPlanPolicy sets a plan's review policy.
func (s *Server) adminPlanPolicy(c *fiber.Ctx) error {
	key, policy := c.Params("key"), c.FormValue("review_policy")
	err := s.store.SetPlanReviewPolicy(c.UserContext(), key, policy)
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No such plan.")
	}
	if fe, ok := models.AsFieldError(err); ok {
		return s.renderAdminRules(c, views.AdminRules{Policy: views.Form{Message: "Plan " + key + ": " + fe.Message}}, fiber.StatusUnprocessableEntity)
	}
	if err != nil {
		return err
	}
	s.audit(c, &currentUser(c).ID, "review_policy_changed", "plan:"+key, "after: "+policy)
	return c.Redirect("/admin/rules?saved=policy#plan-policies", fiber.StatusSeeOther)
}

// truncateRunes cuts s to at most n bytes on a rune boundary.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// csrfToken is the request's CSRF token, for fragments rendered without a Page.
func csrfToken(c *fiber.Ctx) string {
	return reqctx.CSRF(c)
}
