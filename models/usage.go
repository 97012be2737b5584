package models

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrorRollup counts an app's failed requests per route, UTC hour and error code: the
// dispatcher's error_code (cpu_limit_exceeded, worker_exception, …) or, when the tenant's code
// answered an error itself, "http_<status>". A 402 is the paywall, not an error.
type ErrorRollup struct {
	ID        uint      `gorm:"primaryKey"`
	AppID     uint      `gorm:"uniqueIndex:idx_error_rollups_key,priority:1;not null"`
	Route     string    `gorm:"uniqueIndex:idx_error_rollups_key,priority:2;size:520;not null;default:''"`
	Hour      time.Time `gorm:"uniqueIndex:idx_error_rollups_key,priority:3;index;not null"`
	Code      string    `gorm:"uniqueIndex:idx_error_rollups_key,priority:4;size:64;not null;default:''"`
	Count     int64     `gorm:"not null;default:0"`
	UpdatedAt time.Time
}

// RevenueRollup sums an app's settled payments per route, UTC hour and network (the asset is the
// network's USDC, the only asset routes are priced in). Simulated settlements (the dev
// facilitator) are kept apart so that test money never reads as income.
type RevenueRollup struct {
	ID            uint      `gorm:"primaryKey"`
	AppID         uint      `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:1;not null"`
	Route         string    `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:2;size:520;not null;default:''"`
	Hour          time.Time `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:3;index;not null"`
	Network       string    `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:4;size:64;not null;default:''"`
	Simulated     bool      `gorm:"uniqueIndex:idx_revenue_rollups_key,priority:5;not null;default:false"`
	Payments      int64     `gorm:"not null;default:0"`
	RevenueAtomic string    `gorm:"size:80;not null;default:'0'"`
	UpdatedAt     time.Time
}

// RollupRetention is how long hourly rollups (and the per-code, per-network and per-reason
// rows beside them) are kept: 13 months, so that a month can be compared with the same month a
// year before.
const RollupRetention = 396 * 24 * time.Hour

type errorKey struct {
	app   uint
	route string
	hour  int64
	code  string
}

type revenueKey struct {
	app     uint
	route   string
	hour    int64
	network string
	sim     bool
}

// errorCode names why a request failed, or "" when it did not; it counts exactly the requests
// that UsageRollup.Errors counts.
func (e *TelemetryEvent) errorCode() string {
	if e.StatusCode < 400 || e.StatusCode == 402 {
		return ""
	}
	if e.ErrorCode != "" {
		return cut(e.ErrorCode, 64)
	}
	return "http_" + strconv.Itoa(e.StatusCode)
}

// addLatency counts the event's duration into its rollup's sketch.
func addLatency(r *UsageRollup, e *TelemetryEvent) {
	if r.sketch == nil {
		r.sketch = new(LatencySketch)
	}
	r.sketch.Add(float64(e.DurationMs))
}

// mergedLatency is the stored sketch with the batch's added, as text for the row; a damaged
// stored sketch is replaced rather than failing the batch.
func mergedLatency(stored string, add *LatencySketch) string {
	var s LatencySketch
	_ = s.UnmarshalText([]byte(stored))
	if add != nil {
		s.Merge(add)
	}
	b, _ := s.MarshalText()
	return string(b)
}

func addRevenue(revs map[revenueKey]*RevenueRollup, p *Payment) {
	hour := p.At.UTC().Truncate(time.Hour)
	k := revenueKey{p.AppID, p.Route, hour.Unix(), p.Network, p.Simulated}
	r := revs[k]
	if r == nil {
		r = &RevenueRollup{AppID: p.AppID, Route: p.Route, Hour: hour, Network: p.Network, Simulated: p.Simulated, RevenueAtomic: "0"}
		revs[k] = r
	}
	r.Payments++
	r.RevenueAtomic = AddAtomic(r.RevenueAtomic, p.Amount)
}

func upsertErrors(tx *gorm.DB, errs map[errorKey]int64, now time.Time) error {
	keys := make([]errorKey, 0, len(errs))
	for k := range errs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.app != b.app {
			return a.app < b.app
		}
		if a.route != b.route {
			return a.route < b.route
		}
		if a.hour != b.hour {
			return a.hour < b.hour
		}
		return a.code < b.code
	})
	for _, k := range keys {
		row := ErrorRollup{AppID: k.app, Route: k.route, Hour: time.Unix(k.hour, 0).UTC(), Code: k.code, Count: errs[k], UpdatedAt: now}
		err := tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "app_id"}, {Name: "route"}, {Name: "hour"}, {Name: "code"}},
			DoUpdates: clause.Assignments(map[string]any{
				"count":      gorm.Expr("error_rollups.count + ?", row.Count),
				"updated_at": now,
			}),
		}).Create(&row).Error
		if err != nil {
			return fmt.Errorf("store: unable to count errors %d %q %s %q: %w", k.app, k.route, row.Hour, k.code, err)
		}
	}
	return nil
}

// upsertRevenue adds the batch's settlements per network; amounts are decimal strings, so the
// rows are read under lock and added with big integers, as in upsertRollups.
func upsertRevenue(tx *gorm.DB, revs map[revenueKey]*RevenueRollup, now time.Time) error {
	keys := make([]revenueKey, 0, len(revs))
	for k := range revs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.app != b.app {
			return a.app < b.app
		}
		if a.route != b.route {
			return a.route < b.route
		}
		if a.hour != b.hour {
			return a.hour < b.hour
		}
		if a.network != b.network {
			return a.network < b.network
		}
		return !a.sim && b.sim
	})
	for _, k := range keys {
		r := revs[k]
		seed := RevenueRollup{AppID: r.AppID, Route: r.Route, Hour: r.Hour, Network: r.Network, Simulated: r.Simulated, RevenueAtomic: "0", UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&seed).Error; err != nil {
			return fmt.Errorf("store: unable to create revenue rollup %d %q %s: %w", r.AppID, r.Route, r.Hour, err)
		}
		var cur RevenueRollup
		if err := lockForUpdate(tx).Where("app_id = ? AND route = ? AND hour = ? AND network = ? AND simulated = ?", r.AppID, r.Route, r.Hour, r.Network, r.Simulated).First(&cur).Error; err != nil {
			return fmt.Errorf("store: unable to read revenue rollup %d %q %s: %w", r.AppID, r.Route, r.Hour, err)
		}
		err := tx.Model(&RevenueRollup{}).Where("id = ?", cur.ID).Updates(map[string]any{
			"payments":       gorm.Expr("payments + ?", r.Payments),
			"revenue_atomic": AddAtomic(cur.RevenueAtomic, r.RevenueAtomic),
			"updated_at":     now,
		}).Error
		if err != nil {
			return fmt.Errorf("store: unable to update revenue rollup %d %q %s: %w", r.AppID, r.Route, r.Hour, err)
		}
	}
	return nil
}

// Granularity is the width of a usage bucket.
type Granularity string

const (
	Hourly Granularity = "hour"
	Daily  Granularity = "day"
)

// MaxUsageRange bounds one usage query.
const MaxUsageRange = 400 * 24 * time.Hour

// ErrUsageRange is a usage query whose range is empty, reversed or too long.
var ErrUsageRange = errors.New("from must be before to, and at most 400 days apart")

// UsageQuery selects rollups: apps (at least one), an optional route, a range [From, To) and
// the bucket width. From and To are truncated to the granularity (To rounded up).
type UsageQuery struct {
	AppIDs      []uint
	Route       string
	From, To    time.Time
	Granularity Granularity
}

// UsageBucket is one hour or one UTC day of usage.
type UsageBucket struct {
	Start           time.Time
	Requests        int64
	Paid            int64
	Errors          int64
	LimitHits       int64
	Challenges      int64
	PaymentFailures int64
	Subrequests     int64
	CPUMs           float64
	// RevenueAtomic is the bucket's real revenue (simulated settlements excluded), in atomic
	// units summed over networks: every network's USDC has 6 decimals.
	RevenueAtomic string
	Latency       LatencySketch
}

// P50, P95 and P99 read the bucket's latency sketch (ms, within 10%).
func (b *UsageBucket) P50() float64 { return b.Latency.Quantile(0.50) }
func (b *UsageBucket) P95() float64 { return b.Latency.Quantile(0.95) }
func (b *UsageBucket) P99() float64 { return b.Latency.Quantile(0.99) }

func (b *UsageBucket) add(r *UsageRollup) {
	b.Requests += r.Requests
	b.Paid += r.Paid
	b.Errors += r.Errors
	b.LimitHits += r.LimitHits
	b.Challenges += r.Challenges
	b.PaymentFailures += r.PaymentFailures
	b.Subrequests += r.Subrequests
	b.CPUMs += r.CPUMs
	var s LatencySketch
	if s.UnmarshalText([]byte(r.Latency)) == nil {
		b.Latency.Merge(&s)
	}
}

// NetworkRevenue is what a range earned on one network.
type NetworkRevenue struct {
	Network   string
	Simulated bool
	Payments  int64
	Atomic    string
}

// CodeCount is a count per error code or payment failure reason.
type CodeCount struct {
	Code  string
	Count int64
}

// UsageReport is a usage query's answer: one bucket per hour or day of the range (empty ones
// included, so a chart's x axis is the range), their total, and the breakdowns.
type UsageReport struct {
	Query    UsageQuery
	Buckets  []UsageBucket
	Total    UsageBucket
	Routes   []string // routes with any request in the range, sorted
	Revenue  []NetworkRevenue
	Errors   []CodeCount // by code, most first
	Failures []CodeCount // failed payments by reason, most first
}

// Normalize checks a query and truncates its range to whole buckets.
func (q UsageQuery) Normalize() (UsageQuery, error) {
	step := time.Hour
	switch q.Granularity {
	case Hourly, "":
		q.Granularity = Hourly
	case Daily:
		step = 24 * time.Hour
	default:
		return q, fmt.Errorf("granularity must be hour or day, not %q", string(q.Granularity))
	}
	if !q.To.After(q.From) || q.To.Sub(q.From) > MaxUsageRange {
		return q, ErrUsageRange
	}
	from, to := q.From.UTC().Truncate(step), q.To.UTC()
	if t := to.Truncate(step); t.Before(to) {
		to = t.Add(step)
	}
	q.From, q.To = from, to
	return q, nil
}

func (q UsageQuery) step() time.Duration {
	if q.Granularity == Daily {
		return 24 * time.Hour
	}
	return time.Hour
}

// Usage reads the rollups of a query into buckets. Days are merged from hours, which the
// latency sketch allows exactly.
func (s *Store) Usage(ctx context.Context, q UsageQuery) (UsageReport, error) {
	q, err := q.Normalize()
	if err != nil {
		return UsageReport{}, err
	}
	rep := UsageReport{Query: q}
	step := q.step()
	n := int(q.To.Sub(q.From) / step)
	rep.Buckets = make([]UsageBucket, n)
	rev := make([]*big.Int, n)
	for i := range rep.Buckets {
		rep.Buckets[i].Start = q.From.Add(time.Duration(i) * step)
		rev[i] = new(big.Int)
	}
	if len(q.AppIDs) == 0 {
		for i := range rep.Buckets {
			rep.Buckets[i].RevenueAtomic = "0"
		}
		rep.Total.RevenueAtomic = "0"
		return rep, nil
	}
	scope := func(db *gorm.DB) *gorm.DB {
		db = db.Where("app_id IN ? AND hour >= ? AND hour < ?", q.AppIDs, q.From, q.To)
		if q.Route != "" {
			db = db.Where("route = ?", q.Route)
		}
		return db
	}
	db := s.db.WithContext(ctx)
	index := func(t time.Time) int { return int(t.UTC().Sub(q.From) / step) }
	routes := map[string]bool{}
	var batch []UsageRollup
	err = scope(db.Model(&UsageRollup{})).FindInBatches(&batch, 2000, func(*gorm.DB, int) error {
		for i := range batch {
			r := &batch[i]
			if j := index(r.Hour); j >= 0 && j < n {
				rep.Buckets[j].add(r)
				rep.Total.add(r)
				if r.Requests > 0 {
					routes[r.Route] = true
				}
			}
		}
		return nil
	}).Error
	if err != nil {
		return rep, fmt.Errorf("store: unable to read usage: %w", err)
	}
	for r := range routes {
		rep.Routes = append(rep.Routes, r)
	}
	sort.Strings(rep.Routes)

	var revs []RevenueRollup
	if err := scope(db).Find(&revs).Error; err != nil {
		return rep, fmt.Errorf("store: unable to read revenue: %w", err)
	}
	type nk struct {
		network string
		sim     bool
	}
	byNet := map[nk]*NetworkRevenue{}
	total := new(big.Int)
	for _, r := range revs {
		v, ok := new(big.Int).SetString(r.RevenueAtomic, 10)
		if !ok || v.Sign() < 0 {
			continue
		}
		k := nk{r.Network, r.Simulated}
		if byNet[k] == nil {
			byNet[k] = &NetworkRevenue{Network: r.Network, Simulated: r.Simulated, Atomic: "0"}
		}
		byNet[k].Payments += r.Payments
		byNet[k].Atomic = AddAtomic(byNet[k].Atomic, r.RevenueAtomic)
		if r.Simulated {
			continue
		}
		if j := index(r.Hour); j >= 0 && j < n {
			rev[j].Add(rev[j], v)
			total.Add(total, v)
		}
	}
	for i := range rep.Buckets {
		rep.Buckets[i].RevenueAtomic = rev[i].String()
	}
	rep.Total.RevenueAtomic = total.String()
	for _, v := range byNet {
		rep.Revenue = append(rep.Revenue, *v)
	}
	sort.Slice(rep.Revenue, func(i, j int) bool {
		a, b := rep.Revenue[i], rep.Revenue[j]
		if a.Network != b.Network {
			return a.Network < b.Network
		}
		return !a.Simulated && b.Simulated
	})

	if rep.Errors, err = countBy(scope(db.Model(&ErrorRollup{})), "code", "count"); err != nil {
		return rep, fmt.Errorf("store: unable to read errors by code: %w", err)
	}
	if rep.Failures, err = countBy(scope(db.Model(&PaymentFailureRollup{})), "reason", "attempts"); err != nil {
		return rep, fmt.Errorf("store: unable to read failed payments: %w", err)
	}
	return rep, nil
}

func countBy(db *gorm.DB, key, sum string) ([]CodeCount, error) {
	var out []CodeCount
	err := db.Select(key + " AS code, SUM(" + sum + ") AS count").Group(key).Order("count DESC, code").Scan(&out).Error
	return out, err
}

// DeleteRollupsBefore deletes hourly rollups (usage, errors, revenue, failed payments and the
// platform counters) older than before, past RollupRetention. The payments ledger is kept.
func (s *Store) DeleteRollupsBefore(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for _, t := range []string{"usage_rollups", "error_rollups", "revenue_rollups", "payment_failure_rollups", "telemetry_counters"} {
		q := s.db.WithContext(ctx).Exec("DELETE FROM "+t+" WHERE hour < ?", before.UTC())
		if q.Error != nil {
			return total, fmt.Errorf("store: unable to delete %s before %s: %w", t, before.UTC().Format(time.RFC3339), q.Error)
		}
		total += q.RowsAffected
	}
	return total, nil
}
