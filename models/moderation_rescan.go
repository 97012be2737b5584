package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Rescan is one run of "re-scan every live version against the current rules".
type Rescan struct {
	ID         uint      `gorm:"primaryKey"`
	StartedAt  time.Time `gorm:"not null"`
	ActorID    *uint
	Total      int    `gorm:"not null;default:0"`
	Done       int    `gorm:"not null;default:0"`
	Flagged    int    `gorm:"not null;default:0"`
	Error      string `gorm:"size:2000;not null;default:''"`
	FinishedAt *time.Time
}

// TableName keeps the table's name explicit.
func (Rescan) TableName() string { return "moderation_rescans" }

// ErrRescanRunning refuses a second re-scan while one runs.
var ErrRescanRunning = errors.New("a re-scan is already running")

// rescanStale is how long an unfinished run blocks a new one (a run whose process died).
const rescanStale = time.Hour

// StartRescan records a new run with the number of live versions to scan; RunRescan does it.
func (s *Store) StartRescan(ctx context.Context, actor *uint) (*Rescan, error) {
	var r Rescan
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var running int64
		if err := tx.Model(&Rescan{}).Where("finished_at IS NULL AND started_at > ?", time.Now().Add(-rescanStale)).Count(&running).Error; err != nil {
			return err
		}
		if running > 0 {
			return ErrRescanRunning
		}
		ids, err := liveVersionIDs(tx)
		if err != nil {
			return err
		}
		r = Rescan{StartedAt: time.Now(), ActorID: actor, Total: len(ids)}
		return tx.Create(&r).Error
	})
	if err != nil {
		if errors.Is(err, ErrRescanRunning) {
			return nil, err
		}
		return nil, fmt.Errorf("store: unable to start a re-scan: %w", err)
	}
	return &r, nil
}

// liveVersionIDs are the versions the edge runs or is about to run.
func liveVersionIDs(tx *gorm.DB) ([]uint, error) {
	var rows []struct{ D, P *uint }
	if err := tx.Table("apps").Select("desired_version_id AS d, deployed_version_id AS p").
		Where("desired_version_id IS NOT NULL OR deployed_version_id IS NOT NULL").Scan(&rows).Error; err != nil {
		return nil, err
	}
	seen := map[uint]bool{}
	ids := []uint{}
	for _, r := range rows {
		for _, id := range []*uint{r.D, r.P} {
			if id != nil && !seen[*id] {
				seen[*id] = true
				ids = append(ids, *id)
			}
		}
	}
	return ids, nil
}

// RunRescan scans every live version against the enabled rules, recording progress as it goes.
// A version that matches a rule it was not approved with goes back to pending: it keeps
// running (taking it down is the reviewer's decision) but cannot be deployed again until
// approved. A block rule's match counts as a flag here: nothing is refused after the fact.
func (s *Store) RunRescan(ctx context.Context, id uint) error {
	db := s.db.WithContext(ctx)
	finish := func(runErr error) error {
		up := map[string]any{"finished_at": time.Now()}
		if runErr != nil {
			up["error"] = truncate(runErr.Error(), 2000)
		}
		if err := db.Model(&Rescan{}).Where("id = ?", id).Updates(up).Error; err != nil {
			return fmt.Errorf("store: unable to finish re-scan %d: %w", id, err)
		}
		return runErr
	}
	rules, err := s.enabledRules(ctx)
	if err != nil {
		return finish(err)
	}
	ids, err := liveVersionIDs(db)
	if err != nil {
		return finish(err)
	}
	if err := db.Model(&Rescan{}).Where("id = ?", id).Update("total", len(ids)).Error; err != nil {
		return finish(err)
	}
	done, flagged := 0, 0
	for _, vid := range ids {
		if err := ctx.Err(); err != nil {
			return finish(err)
		}
		v, err := first[Version](db, fmt.Sprintf("read version %d", vid), vid)
		if errors.Is(err, ErrNotFound) {
			done++
			continue
		}
		if err != nil {
			return finish(err)
		}
		matches, _, err := scanWith(rules, v.Sources, v.BundleName, v.Bundle)
		if err != nil {
			return finish(err)
		}
		if len(matches) > 0 && newRules(matches, v.ScanMatches, v.ReviewState) {
			res := db.Model(&Version{}).Where("id = ? AND review_state = ?", v.ID, v.ReviewState).
				Updates(map[string]any{"review_state": ReviewPending, "scan_matches": mustJSON(matches)})
			if res.Error != nil {
				return finish(res.Error)
			}
			if res.RowsAffected > 0 {
				flagged++
			}
		}
		done++
		if done%10 == 0 || done == len(ids) {
			if err := db.Model(&Rescan{}).Where("id = ?", id).Updates(map[string]any{"done": done, "flagged": flagged}).Error; err != nil {
				return finish(err)
			}
		}
	}
	if err := db.Model(&Rescan{}).Where("id = ?", id).Updates(map[string]any{"done": done, "flagged": flagged}).Error; err != nil {
		return finish(err)
	}
	return finish(nil)
}

// newRules reports whether a re-scan's matches should send a version back to review: always
// for a version nobody looked at; for an approved one only when a rule matched that it was not
// approved with. Pending and rejected versions stay as they are.
func newRules(now, before []scanMatch, state string) bool {
	switch state {
	case ReviewNone:
		return true
	case ReviewApproved:
		had := map[string]bool{}
		for _, m := range before {
			had[m.Rule] = true
		}
		for _, m := range now {
			if !had[m.Rule] {
				return true
			}
		}
	}
	return false
}

// LatestRescan is the newest re-scan run, nil if none ever ran.
func (s *Store) LatestRescan(ctx context.Context) (*Rescan, error) {
	var rs []Rescan
	if err := s.db.WithContext(ctx).Order("id DESC").Limit(1).Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read re-scans: %w", err)
	}
	if len(rs) == 0 {
		return nil, nil
	}
	return &rs[0], nil
}
