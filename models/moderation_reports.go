package models

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// AbuseReport is a report about an app from anyone (no account needed). It lands in the
// review queue until an admin closes it.
type AbuseReport struct {
	ID        uint   `gorm:"primaryKey"`
	AppSlug   string `gorm:"size:32;not null;index"`
	AppID     *uint  `gorm:"index"`
	TenantID  *uint  `gorm:"index"`
	Category  string `gorm:"size:32;not null"`
	Message   string `gorm:"size:4000;not null"`
	Email     string `gorm:"size:254;not null;default:''"`
	IP        string `gorm:"size:64;not null;default:'';index"`
	State     string `gorm:"size:16;not null;default:'open';index"`
	DecidedBy *uint
	DecidedAt *time.Time
	Note      string    `gorm:"size:1000;not null;default:''"`
	CreatedAt time.Time `gorm:"index"`
}

// Report states.
const (
	ReportOpen      = "open"
	ReportDismissed = "dismissed" // nothing to do
	ReportActioned  = "actioned"  // the admin acted (suspended, took down, rejected)
)

// ReportCategories are what a report may be about.
var ReportCategories = []string{"malware", "phishing", "fraud", "spam", "illegal", "copyright", "other"}

// Limits against report spam: a message's length, and how many reports one address may file
// per day (beyond the portal's per-minute rate limit).
const (
	ReportMinMessage  = 10
	ReportMaxMessage  = 4000
	ReportsPerIPDaily = 20
)

// ErrTooManyReports refuses a report from an address that filed ReportsPerIPDaily today.
var ErrTooManyReports = errors.New("too many reports from this address today")

// CreateReport validates and stores a report about the app with that slug. An unknown app is
// a FieldError on "app"; the same report (address, app, message) filed again within a day is
// not stored twice: the first one is returned.
func (s *Store) CreateReport(ctx context.Context, r *AbuseReport) error {
	r.AppSlug = strings.ToLower(strings.TrimSpace(r.AppSlug))
	r.Message = strings.TrimSpace(r.Message)
	r.Email = strings.TrimSpace(r.Email)
	switch {
	case r.AppSlug == "" || len(r.AppSlug) > 32 || ValidateAppSlug(r.AppSlug) != nil:
		return fieldErr("app", "Name the app: its slug, as in its URL.")
	case !slices.Contains(ReportCategories, r.Category):
		return fieldErr("category", "Choose one of: "+strings.Join(ReportCategories, ", ")+".")
	case !utf8.ValidString(r.Message) || strings.ContainsRune(r.Message, 0):
		return fieldErr("message", "The message must be text.")
	case utf8.RuneCountInString(r.Message) < ReportMinMessage:
		return fieldErr("message", fmt.Sprintf("Say what is wrong, in at least %d characters.", ReportMinMessage))
	case len(r.Message) > ReportMaxMessage:
		return fieldErr("message", fmt.Sprintf("Use at most %d bytes.", ReportMaxMessage))
	case len(r.Email) > 254:
		return fieldErr("email", "Use at most 254 characters.")
	}
	if r.Email != "" {
		if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email {
			return fieldErr("email", "Give a plain email address, or none.")
		}
	}
	db := s.db.WithContext(ctx)
	var app App
	if err := db.Where("slug = ? AND sync_state <> ?", r.AppSlug, SyncDeleting).Limit(1).Find(&app).Error; err != nil {
		return fmt.Errorf("store: unable to read app %q: %w", r.AppSlug, err)
	}
	if app.ID == 0 {
		return fieldErr("app", "No app is called "+r.AppSlug+".")
	}
	r.AppID, r.TenantID = &app.ID, &app.TenantID
	since := time.Now().Add(-24 * time.Hour)
	var dup []AbuseReport
	if err := db.Where("ip = ? AND app_slug = ? AND message = ? AND created_at > ?", r.IP, r.AppSlug, r.Message, since).Limit(1).Find(&dup).Error; err != nil {
		return fmt.Errorf("store: unable to read reports: %w", err)
	}
	if len(dup) > 0 {
		*r = dup[0]
		return nil
	}
	var n int64
	if err := db.Model(&AbuseReport{}).Where("ip = ? AND created_at > ?", r.IP, since).Count(&n).Error; err != nil {
		return fmt.Errorf("store: unable to count reports: %w", err)
	}
	if n >= ReportsPerIPDaily {
		return ErrTooManyReports
	}
	r.ID, r.State, r.CreatedAt = 0, ReportOpen, time.Now()
	if err := db.Create(r).Error; err != nil {
		return fmt.Errorf("store: unable to store the report: %w", err)
	}
	return nil
}

// Reports lists reports in a state, oldest open first (newest first for closed ones).
func (s *Store) Reports(ctx context.Context, state string, limit int) ([]AbuseReport, error) {
	var rs []AbuseReport
	q := s.db.WithContext(ctx).Where("state = ?", state)
	if state == ReportOpen {
		q = q.Order("id")
	} else {
		q = q.Order("id DESC")
	}
	if err := q.Limit(limit).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list reports: %w", err)
	}
	return rs, nil
}

// CloseReport records an admin's decision on an open report; a report already closed is
// ErrReviewChanged.
func (s *Store) CloseReport(ctx context.Context, id uint, state, note string, actor uint) (*AbuseReport, error) {
	note = strings.TrimSpace(note)
	var n int64
	if err := s.db.WithContext(ctx).Model(&AbuseReport{}).Where("id = ?", id).Count(&n).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read report %d: %w", id, err)
	}
	if n == 0 {
		return nil, ErrNotFound
	}
	switch {
	case state != ReportDismissed && state != ReportActioned:
		return nil, fieldErr("decision", "Choose dismiss or actioned.")
	case !utf8.ValidString(note) || len(note) > 1000:
		return nil, fieldErr("note", "Use at most 1,000 characters of text.")
	}
	db := s.db.WithContext(ctx)
	now := time.Now()
	res := db.Model(&AbuseReport{}).Where("id = ? AND state = ?", id, ReportOpen).
		Updates(map[string]any{"state": state, "note": note, "decided_by": actor, "decided_at": now})
	if res.Error != nil {
		return nil, fmt.Errorf("store: unable to close report %d: %w", id, res.Error)
	}
	var r AbuseReport
	if err := db.Where("id = ?", id).Limit(1).Find(&r).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read report %d: %w", id, err)
	}
	if r.ID == 0 {
		return nil, ErrNotFound
	}
	if res.RowsAffected == 0 {
		return nil, ErrReviewChanged
	}
	return &r, nil
}
