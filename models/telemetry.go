package models

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TelemetryEvent is one request the dispatcher handled, stored as it arrived. AppID is nil
// when the slug named no app the portal knows (deleted meanwhile, or a stray event).
type TelemetryEvent struct {
	ID               uint   `gorm:"primaryKey"`
	AppID            *uint  `gorm:"index:idx_telemetry_events_app_ts,priority:1"`
	AppSlug          string `gorm:"size:64;not null;default:''"`
	TenantID         uint   `gorm:"not null;default:0"`
	WorkerName       string `gorm:"size:64;not null;default:''"`
	Route            string `gorm:"size:520;not null;default:''"`
	Method           string `gorm:"size:16;not null;default:''"`
	Host             string `gorm:"size:255;not null;default:''"`
	StatusCode       int    `gorm:"not null;default:0"`
	ErrorCode        string `gorm:"size:64;not null;default:''"`
	PaymentRequired  bool   `gorm:"not null;default:false"`
	PaymentSuccess   bool   `gorm:"not null;default:false"`
	Payer            string `gorm:"size:64;not null;default:''"`
	Nonce            string `gorm:"size:80;not null;default:''"`
	Amount           string `gorm:"size:80;not null;default:''"`
	Network          string `gorm:"size:64;not null;default:''"`
	Transaction      string `gorm:"size:100;not null;default:''"`
	VerifyResult     string `gorm:"size:100;not null;default:''"`
	SettlementResult string `gorm:"size:100;not null;default:''"`
	Simulated        bool   `gorm:"not null;default:false"`
	CPUMs            *float64
	Subrequests      *int
	DurationMs       int64     `gorm:"not null;default:0"`
	TS               time.Time `gorm:"column:ts;index:idx_telemetry_events_app_ts,priority:2;not null"`
	ReceivedAt       time.Time `gorm:"not null"`
}

// HasPayment reports whether the event carries a verify or settle outcome, which makes it a
// line of the payments ledger.
func (e *TelemetryEvent) HasPayment() bool {
	return e.VerifyResult != "" || e.SettlementResult != "" || e.PaymentSuccess || (e.Payer != "" && e.Amount != "")
}

// Payment is one line of an app's payments ledger: a verify or settle outcome on a priced route.
// Amount is in atomic units of the network's asset. Simulated marks the dev facilitator: no
// chain was involved and no money moved.
type Payment struct {
	ID               uint      `gorm:"primaryKey"`
	AppID            uint      `gorm:"index:idx_payments_app_at,priority:1;not null"`
	TenantID         uint      `gorm:"index;not null"`
	Route            string    `gorm:"size:520;not null;default:''"`
	Payer            string    `gorm:"size:64;not null;default:''"`
	Nonce            string    `gorm:"size:80;not null;default:''"`
	Amount           string    `gorm:"size:80;not null;default:''"`
	Network          string    `gorm:"size:64;not null;default:''"`
	Transaction      string    `gorm:"size:100;not null;default:''"`
	VerifyResult     string    `gorm:"size:100;not null;default:''"`
	SettlementResult string    `gorm:"size:100;not null;default:''"`
	Success          bool      `gorm:"not null;default:false"`
	Simulated        bool      `gorm:"not null;default:false"`
	At               time.Time `gorm:"index:idx_payments_app_at,priority:2;not null"`
}

// UsageRollup sums an app's requests per route and UTC hour. RevenueAtomic is the sum of the
// amounts of successful settlements in atomic units, kept as a decimal string: atomic amounts
// are uint256 on the wire and money is never a float.
type UsageRollup struct {
	ID            uint      `gorm:"primaryKey"`
	AppID         uint      `gorm:"uniqueIndex:idx_usage_rollups_key,priority:1;not null"`
	Route         string    `gorm:"uniqueIndex:idx_usage_rollups_key,priority:2;size:520;not null;default:''"`
	Hour          time.Time `gorm:"uniqueIndex:idx_usage_rollups_key,priority:3;not null"`
	Requests      int64     `gorm:"not null;default:0"`
	Paid          int64     `gorm:"not null;default:0"`
	RevenueAtomic string    `gorm:"size:80;not null;default:'0'"`
	Errors        int64     `gorm:"not null;default:0"`
	CPUMs         float64   `gorm:"not null;default:0"`
	Subrequests   int64     `gorm:"not null;default:0"`
	LimitHits     int64     `gorm:"not null;default:0"`
	UpdatedAt     time.Time
}

// Error codes of the dispatcher that mean a plan limit was hit.
var limitErrorCodes = map[string]bool{"cpu_limit_exceeded": true, "subrequest_limit_exceeded": true}

// IngestResult says what one ingest call stored.
type IngestResult struct {
	Events   int
	Payments int
	Rollups  int // distinct (app, route, hour) rows touched
}

// ingestBatch is how many rows one INSERT carries; it stays under SQLite's 32,766 bound
// variables with the 25 columns of an event.
const ingestBatch = 200

// IngestTelemetry stores a batch of events, the ledger lines they carry and their hourly
// rollups in one transaction, so a retried batch is either wholly there or wholly absent.
// Events are attributed to apps by slug; the tenant id is taken from the app row, not from the
// event, so a misconfigured dispatcher cannot credit one tenant's payment to another.
func (s *Store) IngestTelemetry(ctx context.Context, events []TelemetryEvent) (IngestResult, error) {
	var res IngestResult
	if len(events) == 0 {
		return res, nil
	}
	slugs := map[string]bool{}
	for _, e := range events {
		if e.AppSlug != "" {
			slugs[e.AppSlug] = true
		}
	}
	names := make([]string, 0, len(slugs))
	for s := range slugs {
		names = append(names, s)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var apps []App
		if len(names) > 0 {
			if err := tx.Select("id", "tenant_id", "slug").Where("slug IN ?", names).Find(&apps).Error; err != nil {
				return fmt.Errorf("store: unable to resolve apps of telemetry: %w", err)
			}
		}
		bySlug := map[string]App{}
		for _, a := range apps {
			bySlug[a.Slug] = a
		}
		now := time.Now().UTC()
		var payments []Payment
		roll := map[rollupKey]*UsageRollup{}
		for i := range events {
			e := &events[i]
			e.ID = 0
			e.ReceivedAt = now
			if e.TS.IsZero() {
				e.TS = now
			}
			e.TS = e.TS.UTC()
			a, ok := bySlug[e.AppSlug]
			if !ok {
				e.AppID = nil
				continue
			}
			id := a.ID
			e.AppID = &id
			e.TenantID = a.TenantID
			if e.HasPayment() {
				payments = append(payments, Payment{
					AppID: a.ID, TenantID: a.TenantID, Route: e.Route, Payer: e.Payer, Nonce: e.Nonce, Amount: e.Amount,
					Network: e.Network, Transaction: e.Transaction, VerifyResult: e.VerifyResult,
					SettlementResult: e.SettlementResult, Success: e.PaymentSuccess, Simulated: e.Simulated, At: e.TS,
				})
			}
			addToRollup(roll, a.ID, e)
		}
		if err := tx.CreateInBatches(events, ingestBatch).Error; err != nil {
			return fmt.Errorf("store: unable to store %d telemetry events: %w", len(events), err)
		}
		if len(payments) > 0 {
			if err := tx.CreateInBatches(payments, ingestBatch).Error; err != nil {
				return fmt.Errorf("store: unable to store %d payments: %w", len(payments), err)
			}
		}
		if err := upsertRollups(tx, roll); err != nil {
			return err
		}
		res = IngestResult{Events: len(events), Payments: len(payments), Rollups: len(roll)}
		return nil
	})
	if err != nil {
		return IngestResult{}, err
	}
	return res, nil
}

type rollupKey struct {
	app   uint
	route string
	hour  int64
}

func addToRollup(roll map[rollupKey]*UsageRollup, appID uint, e *TelemetryEvent) {
	hour := e.TS.Truncate(time.Hour)
	k := rollupKey{appID, e.Route, hour.Unix()}
	r := roll[k]
	if r == nil {
		r = &UsageRollup{AppID: appID, Route: e.Route, Hour: hour, RevenueAtomic: "0"}
		roll[k] = r
	}
	r.Requests++
	// A 402 is the paywall doing its job, not an error.
	if e.StatusCode >= 400 && e.StatusCode != 402 {
		r.Errors++
	}
	if limitErrorCodes[e.ErrorCode] {
		r.LimitHits++
	}
	if e.CPUMs != nil && *e.CPUMs > 0 {
		r.CPUMs += *e.CPUMs
	}
	if e.Subrequests != nil && *e.Subrequests > 0 {
		r.Subrequests += int64(*e.Subrequests)
	}
	if e.PaymentSuccess {
		r.Paid++
		r.RevenueAtomic = AddAtomic(r.RevenueAtomic, e.Amount)
	}
}

// upsertRollups adds the batch's sums to the stored rows. Counters are added in SQL; revenue is
// a decimal string, so those rows are read under lock and added with big integers. Inserting the
// missing keys first (ON CONFLICT DO NOTHING) lets concurrent batches meet on an existing row
// instead of racing to create it.
func upsertRollups(tx *gorm.DB, roll map[rollupKey]*UsageRollup) error {
	keys := make([]rollupKey, 0, len(roll))
	for k := range roll {
		keys = append(keys, k)
	}
	// A fixed order keeps two batches from locking the same rows in opposite orders.
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.app != b.app {
			return a.app < b.app
		}
		if a.route != b.route {
			return a.route < b.route
		}
		return a.hour < b.hour
	})
	now := time.Now().UTC()
	for _, k := range keys {
		r := roll[k]
		seed := UsageRollup{AppID: r.AppID, Route: r.Route, Hour: r.Hour, RevenueAtomic: "0", UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&seed).Error; err != nil {
			return fmt.Errorf("store: unable to create rollup %d %q %s: %w", r.AppID, r.Route, r.Hour, err)
		}
		var cur UsageRollup
		if err := lockForUpdate(tx).Where("app_id = ? AND route = ? AND hour = ?", r.AppID, r.Route, r.Hour).First(&cur).Error; err != nil {
			return fmt.Errorf("store: unable to read rollup %d %q %s: %w", r.AppID, r.Route, r.Hour, err)
		}
		err := tx.Model(&UsageRollup{}).Where("id = ?", cur.ID).Updates(map[string]any{
			"requests":       gorm.Expr("requests + ?", r.Requests),
			"paid":           gorm.Expr("paid + ?", r.Paid),
			"errors":         gorm.Expr("errors + ?", r.Errors),
			"cpu_ms":         gorm.Expr("cpu_ms + ?", r.CPUMs),
			"subrequests":    gorm.Expr("subrequests + ?", r.Subrequests),
			"limit_hits":     gorm.Expr("limit_hits + ?", r.LimitHits),
			"revenue_atomic": AddAtomic(cur.RevenueAtomic, r.RevenueAtomic),
			"updated_at":     now,
		}).Error
		if err != nil {
			return fmt.Errorf("store: unable to update rollup %d %q %s: %w", r.AppID, r.Route, r.Hour, err)
		}
	}
	return nil
}

// AddAtomic adds two atomic amounts written as decimal strings. Anything that is not a
// non-negative whole number counts as zero: a corrupt amount must not poison a running sum.
func AddAtomic(a, b string) string {
	x, okA := new(big.Int).SetString(strings.TrimSpace(a), 10)
	y, okB := new(big.Int).SetString(strings.TrimSpace(b), 10)
	if !okA || x.Sign() < 0 {
		x = new(big.Int)
	}
	if !okB || y.Sign() < 0 {
		y = new(big.Int)
	}
	return x.Add(x, y).String()
}

// PaymentsPage is one page of an app's ledger, newest first.
type PaymentsPage struct {
	List    []Payment
	Page    int // 1-based
	PerPage int
	Total   int64
}

// Pages is the number of pages of the ledger (at least 1).
func (p PaymentsPage) Pages() int {
	if p.PerPage <= 0 || p.Total == 0 {
		return 1
	}
	return int((p.Total + int64(p.PerPage) - 1) / int64(p.PerPage))
}

// Payments returns one page of an app's ledger, newest first.
func (s *Store) Payments(ctx context.Context, appID uint, page, perPage int) (PaymentsPage, error) {
	if page < 1 {
		page = 1
	}
	if perPage <= 0 || perPage > 500 {
		perPage = 50
	}
	out := PaymentsPage{Page: page, PerPage: perPage}
	db := s.db.WithContext(ctx)
	if err := db.Model(&Payment{}).Where("app_id = ?", appID).Count(&out.Total).Error; err != nil {
		return out, fmt.Errorf("store: unable to count payments of app %d: %w", appID, err)
	}
	if err := db.Where("app_id = ?", appID).Order("at DESC, id DESC").Offset((page - 1) * perPage).Limit(perPage).Find(&out.List).Error; err != nil {
		return out, fmt.Errorf("store: unable to list payments of app %d: %w", appID, err)
	}
	return out, nil
}

// RouteRevenue is what one route earned on one network: successful settlements only, real and
// simulated kept apart so that test money never reads as income.
type RouteRevenue struct {
	Route     string
	Network   string
	Simulated bool
	Payments  int64
	Atomic    string
}

// RevenueByRoute sums an app's successful settlements per route, network and simulated flag.
// Amounts are decimal strings, so the sum is done here with big integers rather than in SQL.
func (s *Store) RevenueByRoute(ctx context.Context, appID uint) ([]RouteRevenue, error) {
	rows, err := s.db.WithContext(ctx).Model(&Payment{}).Select("route", "network", "simulated", "amount").
		Where("app_id = ? AND success = ?", appID, true).Rows()
	if err != nil {
		return nil, fmt.Errorf("store: unable to read revenue of app %d: %w", appID, err)
	}
	defer rows.Close()
	type key struct {
		route, network string
		sim            bool
	}
	sums := map[key]*big.Int{}
	counts := map[key]int64{}
	for rows.Next() {
		var k key
		var amount string
		if err := rows.Scan(&k.route, &k.network, &k.sim, &amount); err != nil {
			return nil, fmt.Errorf("store: unable to read revenue of app %d: %w", appID, err)
		}
		v, ok := new(big.Int).SetString(amount, 10)
		if !ok || v.Sign() < 0 {
			continue
		}
		if sums[k] == nil {
			sums[k] = new(big.Int)
		}
		sums[k].Add(sums[k], v)
		counts[k]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unable to read revenue of app %d: %w", appID, err)
	}
	out := make([]RouteRevenue, 0, len(sums))
	for k, v := range sums {
		out = append(out, RouteRevenue{Route: k.route, Network: k.network, Simulated: k.sim, Payments: counts[k], Atomic: v.String()})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Route != b.Route {
			return a.Route < b.Route
		}
		if a.Network != b.Network {
			return a.Network < b.Network
		}
		return !a.Simulated && b.Simulated
	})
	return out, nil
}

// UsageRollups returns an app's hourly rollups in [from, to), oldest first.
func (s *Store) UsageRollups(ctx context.Context, appID uint, from, to time.Time) ([]UsageRollup, error) {
	if !to.After(from) {
		return nil, errors.New("store: usage range is empty")
	}
	var out []UsageRollup
	err := s.db.WithContext(ctx).Where("app_id = ? AND hour >= ? AND hour < ?", appID, from.UTC(), to.UTC()).
		Order("hour, route").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to read usage of app %d: %w", appID, err)
	}
	return out, nil
}
