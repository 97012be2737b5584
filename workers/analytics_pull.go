package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
)

// AnalyticsSource reads the data points of a window (*Cloudflare.AnalyticsEvents).
type AnalyticsSource interface {
	AnalyticsEvents(ctx context.Context, dataset string, from, to time.Time, limit int) ([]AnalyticsEvent, error)
}

// AnalyticsStore keeps the watermark and ingests a window (*models.Store).
type AnalyticsStore interface {
	AnalyticsWatermark(ctx context.Context, dataset string) (*models.AnalyticsWatermark, error)
	IngestAnalytics(ctx context.Context, dataset string, from, to time.Time, events []models.TelemetryEvent, sampled int) (models.IngestResult, error)
}

// AnalyticsPuller reads a Workers Analytics Engine dataset on a schedule into the telemetry
// tables the local edge feeds. Windows are half-open [from, to) in whole seconds, the watermark
// moves in the same transaction as the ingest (models.Store.IngestAnalytics), so every data
// point is ingested once whatever fails or runs twice. Lag keeps the window's end behind the
// clock: Analytics Engine makes a data point queryable a little after its timestamp.
type AnalyticsPuller struct {
	Source  AnalyticsSource
	Store   AnalyticsStore
	Dataset string
	// Interval between pulls (default 1 minute); Lag behind now (default 2 minutes); MaxWindow
	// per query (default 1 hour, halved while a window holds Limit rows or more); Backfill is how
	// far back the first pull starts (default 24 hours); Limit rows per query (default 10,000).
	Interval, Lag, MaxWindow, Backfill time.Duration
	Limit                              int
	Logger                             *slog.Logger
	Now                                func() time.Time
}

func (p *AnalyticsPuller) defaults() {
	if p.Interval <= 0 {
		p.Interval = time.Minute
	}
	if p.Lag <= 0 {
		p.Lag = 2 * time.Minute
	}
	if p.MaxWindow <= 0 {
		p.MaxWindow = time.Hour
	}
	if p.Backfill <= 0 {
		p.Backfill = 24 * time.Hour
	}
	if p.Limit <= 0 {
		p.Limit = 10_000
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
}

// PullResult sums what one pull ingested.
type PullResult struct {
	Windows int
	Rows    int
	Sampled int
	Through time.Time
	models.IngestResult
}

// Pull ingests every window from the watermark up to now minus the lag.
func (p *AnalyticsPuller) Pull(ctx context.Context) (PullResult, error) {
	p.defaults()
	var res PullResult
	end := p.Now().Add(-p.Lag).UTC().Truncate(time.Second)
	wm, err := p.Store.AnalyticsWatermark(ctx, p.Dataset)
	var from time.Time
	switch {
	case errors.Is(err, models.ErrNotFound):
		from = end.Add(-p.Backfill)
	case err != nil:
		return res, err
	default:
		from = wm.Through.UTC()
	}
	res.Through = from
	for from.Before(end) {
		to := from.Add(p.MaxWindow)
		if to.After(end) {
			to = end
		}
		var events []AnalyticsEvent
		for {
			events, err = p.Source.AnalyticsEvents(ctx, p.Dataset, from, to, p.Limit)
			if !errors.Is(err, ErrWindowFull) {
				break
			}
			half := (to.Sub(from) / 2).Truncate(time.Second)
			if half < time.Second {
				return res, fmt.Errorf("analytics: one second at %s holds %d rows or more; raise the limit", from, p.Limit)
			}
			to = from.Add(half)
		}
		if err != nil {
			return res, err
		}
		rows, sampled := TelemetryFromAnalytics(events)
		ir, err := p.Store.IngestAnalytics(ctx, p.Dataset, from, to, rows, sampled)
		if errors.Is(err, models.ErrWatermarkMoved) {
			// Someone else ingested this window: carry on from where it is now.
			wm, err := p.Store.AnalyticsWatermark(ctx, p.Dataset)
			if err != nil {
				return res, err
			}
			if !wm.Through.After(from) {
				return res, fmt.Errorf("analytics: the watermark of %s moved back to %s", p.Dataset, wm.Through)
			}
			from = wm.Through.UTC()
			res.Through = from
			continue
		}
		if err != nil {
			return res, err
		}
		res.Windows++
		res.Rows += len(events)
		res.Sampled += sampled
		res.Events += ir.Events
		res.Counted += ir.Counted
		res.Dropped += ir.Dropped
		res.Payments += ir.Payments
		res.Duplicates += ir.Duplicates
		from, res.Through = to, to
	}
	return res, nil
}

// Run pulls every Interval until ctx ends.
func (p *AnalyticsPuller) Run(ctx context.Context) {
	p.defaults()
	t := time.NewTicker(p.Interval)
	defer t.Stop()
	for {
		res, err := p.Pull(ctx)
		if err != nil && ctx.Err() == nil {
			p.Logger.Error("analytics pull failed", "dataset", p.Dataset, "through", res.Through, "err", err)
		} else if res.Rows > 0 {
			p.Logger.Info("analytics pulled", "dataset", p.Dataset, "rows", res.Rows, "sampled", res.Sampled, "stored", res.Events,
				"counted", res.Counted, "dropped", res.Dropped, "payments", res.Payments, "through", res.Through)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// TelemetryFromAnalytics turns data points into the events the ingest stores, and counts those
// Analytics Engine had sampled (each is ingested once: the raw events and rollups undercount by
// the sample interval minus one).
func TelemetryFromAnalytics(in []AnalyticsEvent) ([]models.TelemetryEvent, int) {
	out := make([]models.TelemetryEvent, 0, len(in))
	sampled := 0
	for _, a := range in {
		if a.SampleInterval > 1 {
			sampled++
		}
		cpu := a.CPUMs
		sub := int(a.Subrequests)
		served := a.Served
		// Bounded to the columns, as the ingest endpoint does: a dispatcher bug must not make the
		// database refuse a window.
		out = append(out, models.TelemetryEvent{
			AppSlug: clipTo(a.App, 64), WorkerName: clipTo(a.WorkerName, 64), Route: clipTo(a.Route, 520),
			Method: clipTo(strings.ToUpper(a.Method), 16), Host: clipTo(a.Host, 255), StatusCode: a.StatusCode,
			ErrorCode: clipTo(a.ErrorCode, 64), PaymentRequired: a.PaymentRequired, PaymentSuccess: a.PaymentSuccess,
			Payer: clipTo(a.Payer, 64), Nonce: clipTo(a.Nonce, 80), Amount: clipTo(a.Amount, 80), Network: clipTo(a.Network, 64),
			Transaction: clipTo(a.Transaction, 100), VerifyResult: clipTo(a.VerifyResult, 100),
			SettlementResult: clipTo(a.SettlementResult, 100), Simulated: a.Simulated,
			CPUMs: &cpu, Subrequests: &sub, DurationMs: int64(a.DurationMs), TS: a.TS, Served: &served,
		})
	}
	return out, sampled
}

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
