package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AnalyticsWatermark is how far the portal has read a Workers Analytics Engine dataset: every
// data point with a timestamp before Through is in the telemetry tables (migration 74). Rows
// counts the data points ingested; Sampled those Analytics Engine had sampled (a row standing
// for more than one request, counted once).
type AnalyticsWatermark struct {
	Dataset   string    `gorm:"primaryKey;size:64"`
	Through   time.Time `gorm:"not null"`
	RowCount  int64     `gorm:"not null;default:0"`
	Sampled   int64     `gorm:"not null;default:0"`
	UpdatedAt time.Time
}

// ErrWatermarkMoved means another reader ingested the window first: nothing was stored.
var ErrWatermarkMoved = errors.New("store: the dataset's watermark moved; the window was ingested already")

// AnalyticsWatermark returns the dataset's watermark, or ErrNotFound before the first window.
func (s *Store) AnalyticsWatermark(ctx context.Context, dataset string) (*AnalyticsWatermark, error) {
	return take[AnalyticsWatermark](s.db.WithContext(ctx).Where("dataset = ?", dataset), "read the analytics watermark")
}

// IngestAnalytics stores the events of the window [from, to) of a dataset and moves its
// watermark from from to to in one transaction, so that a window is ingested exactly once: a
// second call for the same window (a retry after a lost answer, a second portal) finds the
// watermark at to and returns ErrWatermarkMoved without storing anything. The first window
// (no watermark yet) starts wherever the caller says. Events go through the same path as the
// local edge's posts (IngestTelemetry); a successful event makes a ledger row only when it
// carries its nonce. sampled is how many of the events Analytics Engine had sampled.
func (s *Store) IngestAnalytics(ctx context.Context, dataset string, from, to time.Time, events []TelemetryEvent, sampled int) (IngestResult, error) {
	if !to.After(from) {
		return IngestResult{}, fmt.Errorf("store: analytics window %s..%s is empty", from, to)
	}
	var res IngestResult
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		seed := AnalyticsWatermark{Dataset: dataset, Through: from.UTC(), UpdatedAt: time.Now().UTC()}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&seed).Error; err != nil {
			return fmt.Errorf("store: unable to create the analytics watermark: %w", err)
		}
		var wm AnalyticsWatermark
		if err := lockForUpdate(tx).Where("dataset = ?", dataset).First(&wm).Error; err != nil {
			return fmt.Errorf("store: unable to read the analytics watermark: %w", err)
		}
		if !wm.Through.Equal(from.UTC()) {
			return ErrWatermarkMoved
		}
		slugs := map[string]bool{}
		for _, e := range events {
			if e.AppSlug != "" {
				slugs[e.AppSlug] = true
			}
		}
		names := make([]string, 0, len(slugs))
		for n := range slugs {
			names = append(names, n)
		}
		var err error
		if len(events) > 0 {
			if res, err = ingestTx(tx, events, nil, names, true); err != nil {
				return err
			}
		}
		return tx.Model(&AnalyticsWatermark{}).Where("dataset = ?", dataset).Updates(map[string]any{
			"through": to.UTC(), "row_count": gorm.Expr("row_count + ?", len(events)), "sampled": gorm.Expr("sampled + ?", sampled), "updated_at": time.Now().UTC(),
		}).Error
	})
	if err != nil {
		return IngestResult{}, err
	}
	return res, nil
}
