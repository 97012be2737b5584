package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/402claw/402claw/models/scan"
	"gorm.io/gorm"
)

// Review states of a version. "" means nothing to review: no flag rule matched and no policy
// asked for approval.
const (
	ReviewNone     = ""
	ReviewPending  = "pending"
	ReviewApproved = "approved"
	ReviewRejected = "rejected"
)

// Review policies of a plan or a tenant (a tenant's "" follows its plan).
const (
	PolicyOff    = "off"
	PolicyFirst  = "first"  // versions wait for an admin until one of the tenant's is approved
	PolicyAlways = "always" // every version waits for an admin
)

// ValidReviewPolicy reports whether p is a policy a plan or tenant may hold ("" included).
func ValidReviewPolicy(p string) bool {
	return p == "" || p == PolicyOff || p == PolicyFirst || p == PolicyAlways
}

// ModerationRule is an admin-editable scan rule (models/scan.Rule in the database).
type ModerationRule struct {
	ID        uint   `gorm:"primaryKey"`
	Name      string `gorm:"uniqueIndex;size:64;not null"`
	Kind      string `gorm:"size:16;not null"`
	Pattern   string `gorm:"type:text;not null"`
	Severity  string `gorm:"size:16;not null"`
	Action    string `gorm:"size:16;not null"`
	Message   string `gorm:"size:500;not null;default:''"`
	Enabled   bool   `gorm:"not null;default:true"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Rule is the scanner's form of the row.
func (r *ModerationRule) Rule() scan.Rule {
	return scan.Rule{Name: r.Name, Kind: r.Kind, Pattern: r.Pattern, Severity: r.Severity, Action: r.Action, Message: r.Message}
}

// BlockedError refuses a save: a "block" rule matched. Message is the rule's, for the tenant.
type BlockedError struct {
	Rule    string
	Message string
	Matches []scan.Match
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("refused by the moderation rule %q: %s", e.Rule, e.Message)
}

// ReviewError refuses a deploy of a version that waits for review or was rejected.
type ReviewError struct {
	Number int
	State  string
	Reason string
}

func (e *ReviewError) Error() string {
	if e.State == ReviewRejected {
		return fmt.Sprintf("version %d was rejected by a moderator and can never be deployed: %s", e.Number, e.Reason)
	}
	return fmt.Sprintf("version %d waits for a moderator's review before it can be deployed", e.Number)
}

// ErrReviewChanged answers a decision on a version whose review state changed since the
// reviewer loaded it (another admin decided, or a re-scan flagged it again).
var ErrReviewChanged = errors.New("the version's review state changed meanwhile")

// --- rules ---

// ModerationRules returns every rule, by name.
func (s *Store) ModerationRules(ctx context.Context) ([]ModerationRule, error) {
	var rs []ModerationRule
	if err := s.db.WithContext(ctx).Order("name").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list moderation rules: %w", err)
	}
	return rs, nil
}

// SaveModerationRule creates (ID 0) or updates a rule after validating it; a bad pattern is a
// FieldError on "pattern" that says where.
func (s *Store) SaveModerationRule(ctx context.Context, r *ModerationRule) error {
	r.Name = strings.TrimSpace(r.Name)
	r.Message = strings.TrimSpace(r.Message)
	switch {
	case !utf8.ValidString(r.Name) || len(r.Name) > 64:
		return fieldErr("name", "Use at most 64 characters of text.")
	case !utf8.ValidString(r.Message) || len(r.Message) > 500:
		return fieldErr("message", "Use at most 500 characters of text.")
	case !utf8.ValidString(r.Pattern):
		return fieldErr("pattern", "The pattern is not valid UTF-8.")
	}
	sr := r.Rule()
	if err := sr.Validate(); err != nil {
		var pe *scan.PatternError
		switch {
		case errors.As(err, &pe):
			return fieldErr("pattern", "Invalid pattern "+pe.Error())
		case strings.Contains(err.Error(), "check"):
			return fieldErr("pattern", err.Error())
		case strings.Contains(err.Error(), "name"):
			return fieldErr("name", err.Error())
		case strings.Contains(err.Error(), "action"):
			return fieldErr("action", err.Error())
		case strings.Contains(err.Error(), "severity"):
			return fieldErr("severity", err.Error())
		default:
			return fieldErr("kind", err.Error())
		}
	}
	db := s.db.WithContext(ctx)
	var err error
	if r.ID == 0 {
		err = db.Create(r).Error
	} else {
		res := db.Model(&ModerationRule{}).Where("id = ?", r.ID).Updates(map[string]any{
			"name": r.Name, "kind": r.Kind, "pattern": r.Pattern, "severity": r.Severity, "action": r.Action,
			"message": r.Message, "enabled": r.Enabled, "updated_at": time.Now()})
		err = res.Error
		if err == nil && res.RowsAffected == 0 {
			return ErrNotFound
		}
	}
	if isUniqueViolation(err) {
		return fieldErr("name", "Another rule already has this name.")
	}
	if err != nil {
		return fmt.Errorf("store: unable to save moderation rule %q: %w", r.Name, err)
	}
	return nil
}

// ModerationRuleByID returns one rule.
func (s *Store) ModerationRuleByID(ctx context.Context, id uint) (*ModerationRule, error) {
	return first[ModerationRule](s.db.WithContext(ctx), fmt.Sprintf("read moderation rule %d", id), id)
}

// DeleteModerationRule removes a rule; versions it flagged keep their matches.
func (s *Store) DeleteModerationRule(ctx context.Context, id uint) error {
	res := s.db.WithContext(ctx).Delete(&ModerationRule{}, id)
	if res.Error != nil {
		return fmt.Errorf("store: unable to delete moderation rule %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}

// enabledRules returns the enabled rules, compiled. A rule that no longer validates (a check
// removed from the binary) is skipped, as scan.Scan would.
func (s *Store) enabledRules(ctx context.Context) ([]scan.Rule, error) {
	var rows []ModerationRule
	if err := s.db.WithContext(ctx).Where("enabled = ?", true).Order("name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read moderation rules: %w", err)
	}
	rules := make([]scan.Rule, 0, len(rows))
	for i := range rows {
		r := rows[i].Rule()
		if r.Validate() == nil {
			rules = append(rules, r)
		}
	}
	return rules, nil
}

// ScanCode runs the enabled rules over a version's sources, then over its bundle for the rules
// the sources did not trigger (what the bundler pulled in). It returns every match; block is
// the first block rule that matched, if any.
func (s *Store) ScanCode(ctx context.Context, sources map[string]string, bundleName string, bundle []byte) (matches []scan.Match, block *scan.Rule, err error) {
	rules, err := s.enabledRules(ctx)
	if err != nil {
		return nil, nil, err
	}
	return scanWith(rules, sources, bundleName, bundle)
}

func scanWith(rules []scan.Rule, sources map[string]string, bundleName string, bundle []byte) ([]scan.Match, *scan.Rule, error) {
	matches := scan.Scan(rules, sources)
	hit := map[string]bool{}
	for _, m := range matches {
		hit[m.Rule] = true
	}
	if len(bundle) > 0 {
		rest := make([]scan.Rule, 0, len(rules))
		for _, r := range rules {
			if !hit[r.Name] {
				rest = append(rest, r)
			}
		}
		if bundleName == "" {
			bundleName = "worker.js"
		}
		if len(rest) > 0 {
			matches = append(matches, scan.Scan(rest, map[string]string{"(bundle) " + bundleName: string(bundle)})...)
		}
	}
	for _, m := range matches {
		for i := range rules {
			if rules[i].Name == m.Rule && rules[i].Action == scan.ActionBlock {
				return matches, &rules[i], nil
			}
		}
	}
	return matches, nil, nil
}

// reviewPolicy is the policy that applies to a tenant: its own, else its plan's.
func reviewPolicy(tenant, plan string) string {
	if tenant != "" {
		return tenant
	}
	if plan == "" {
		return PolicyOff
	}
	return plan
}

// needsApproval says whether a new version of the tenant waits for an admin under the policy.
func needsApproval(tx *gorm.DB, tenantID uint, policy string) (bool, error) {
	switch policy {
	case PolicyAlways:
		return true, nil
	case PolicyFirst:
		var n int64
		err := tx.Table("versions").Joins("JOIN apps ON apps.id = versions.app_id").
			Where("apps.tenant_id = ? AND versions.review_state = ?", tenantID, ReviewApproved).Count(&n).Error
		if err != nil {
			return false, fmt.Errorf("store: unable to count approved versions of tenant %d: %w", tenantID, err)
		}
		return n == 0, nil
	}
	return false, nil
}

type scanMatch = scan.Match

// mustJSON is the stored form of a version's matches (the column's JSON serializer, for updates
// by column name).
func mustJSON(ms []scan.Match) string {
	b, err := json.Marshal(ms)
	if err != nil {
		return "null"
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// SetTenantReviewPolicy sets a tenant's own policy ("" follows the plan).
func (s *Store) SetTenantReviewPolicy(ctx context.Context, tenantID uint, policy string) error {
	if !ValidReviewPolicy(policy) {
		return fieldErr("review_policy", "Choose the plan's policy, off, first or always.")
	}
	res := s.db.WithContext(ctx).Model(&Tenant{}).Where("id = ?", tenantID).Update("review_policy", policy)
	if res.Error != nil {
		return fmt.Errorf("store: unable to set the review policy of tenant %d: %w", tenantID, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	return nil
}
