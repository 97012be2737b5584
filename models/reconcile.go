package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ReconcileReport is what one reconcile found and did. A run the safety valve held back is
// Blocked, with BlockedReason saying why in the admin's words.
type ReconcileReport struct {
	ID             uint
	StartedAt      time.Time
	DurationMs     int64
	Checked        int // apps compared with the edge
	Pending        int // apps skipped: their sync job writes them
	MissingScripts int
	WrongScripts   int
	StrayScripts   int // deleted
	KVFixed        int
	KVStray        int // deleted
	Errors         int
	Listed         int    // our scripts the listing returned
	Reads          int    // per-script reads the listing's gaps needed
	Ignored        int    // listed items that cannot be ours (no name, another name)
	ListShape      string // what Cloudflare's listing answers looked like
	Blocked        bool
	BlockedReason  string
	// WouldDeleteScripts and WouldDeleteDocs are the deletions a blocked run held back;
	// DeleteLimit the most one run may delete without --allow-mass-delete.
	WouldDeleteScripts int
	WouldDeleteDocs    int
	DeleteLimit        int
	Forced             bool   // run with --allow-mass-delete or --allow-mass-upload
	Error              string // the run failed before repairing anything
}

// Drift is the number of differences the run repaired.
func (r ReconcileReport) Drift() int {
	return r.MissingScripts + r.WrongScripts + r.StrayScripts + r.KVFixed + r.KVStray
}

// keepReconcileReports is how many reports the table keeps.
const keepReconcileReports = 50

// SaveReconcileReport stores r and drops reports older than the last 50.
func (s *Store) SaveReconcileReport(ctx context.Context, r *ReconcileReport) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(r).Error; err != nil {
			return fmt.Errorf("store: unable to save the reconcile report: %w", err)
		}
		var cutoff uint
		err := tx.Model(&ReconcileReport{}).Order("id DESC").Offset(keepReconcileReports).Limit(1).Pluck("id", &cutoff).Error
		if err != nil {
			return fmt.Errorf("store: unable to prune reconcile reports: %w", err)
		}
		if cutoff > 0 {
			if err := tx.Where("id <= ?", cutoff).Delete(&ReconcileReport{}).Error; err != nil {
				return fmt.Errorf("store: unable to prune reconcile reports: %w", err)
			}
		}
		return nil
	})
}

// LastReconcileReport returns the newest report, nil when no reconcile ran yet.
func (s *Store) LastReconcileReport(ctx context.Context) (*ReconcileReport, error) {
	r, err := take[ReconcileReport](s.db.WithContext(ctx).Order("id DESC").Limit(1), "read the last reconcile report")
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return r, err
}
