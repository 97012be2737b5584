package models

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TelemetryEvent is one request the dispatcher handled and handed to the tenant's worker, stored
// as it arrived and kept for the retention setting (CLAW_TELEMETRY_RETENTION). Requests the edge
// refused (unknown app, no or a bad payment, a bad API key, a suspended app) are only counted,
// in the hourly rollups: anyone can send those, so none of them may cost a row of its own.
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
	TS               time.Time `gorm:"column:ts;index:idx_telemetry_events_app_ts,priority:2;index:idx_telemetry_events_ts;not null"`
	ReceivedAt       time.Time `gorm:"not null"`
	// Served says whether the dispatcher handed the request to the tenant's worker; nil for
	// events of a dispatcher older than the flag. Not a column: only served events are stored.
	Served *bool `gorm:"-"`
}

// served reports whether the event is one the tenant's worker saw, which makes it a row of its
// own. Events from a dispatcher without the flag are judged by their payment fields: a payment
// the edge refused is never one.
func (e *TelemetryEvent) served() bool {
	if e.Served != nil {
		return *e.Served
	}
	return !e.PaymentRequired || e.PaymentSuccess
}

// failureReason names why a payment attempt on a priced route did not end in a settlement, or
// returns "" for events without an attempt (free routes, unpaid challenges) and for settled ones.
func (e *TelemetryEvent) failureReason() string {
	switch {
	case e.PaymentSuccess:
		return ""
	case e.SettlementResult == "optimistic" || e.SettlementResult == "settlement_pending":
		// Not failed: settled after the answer, or broadcast and being confirmed. The
		// ledger row (the lock's outbox) carries the outcome.
		return ""
	case e.VerifyResult != "" && e.VerifyResult != "valid":
		return e.VerifyResult
	case e.SettlementResult != "" && e.SettlementResult != "success":
		return e.SettlementResult
	case e.VerifyResult == "valid":
		return "not_settled"
	}
	return ""
}

// challenge reports an unpaid 402: a priced route asked for a payment and none was attempted.
func (e *TelemetryEvent) challenge() bool {
	return e.PaymentRequired && !e.PaymentSuccess && e.VerifyResult == "" && e.SettlementResult == ""
}

// Settlement is a settlement as the PaymentLock Durable Object's outbox reports it
// (workers/dispatcher/outbox.js): at least once, until the portal acknowledges it. Unpaid marks
// one that is not (or not yet) paid, with Result saying why: settlement_pending (a later report
// of the same payment finishes the row), a facilitator's refusal after the tenant ran, or an
// optimistic route's loss ("optimistic_loss:…"). The zero value is a successful settlement, as
// the outbox of earlier dispatchers reports it.
type Settlement struct {
	AppSlug     string
	Route       string
	Payer       string
	Nonce       string
	Amount      string
	Network     string
	Transaction string
	Simulated   bool
	Unpaid      bool
	Result      string
	At          time.Time
}

// Payment is one line of an app's payments ledger: a payment the facilitator settled. Amount is
// in atomic units of the network's asset. Simulated marks the dev facilitator: no chain was
// involved and no money moved. A (network, nonce) pair is one row (unique index of migration
// 44): the outbox and the telemetry batch may both report the same settlement. Attempts that
// did not settle are counted in PaymentFailureRollup, not stored one row each.
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
// are uint256 on the wire and money is never a float. Requests counts every request the edge
// reported, refused ones included; Paid and RevenueAtomic count ledger rows as they are first
// inserted, so a settlement reported twice (outbox and telemetry) counts once, and one whose
// request event was lost counts too. PaymentFailures counts payment attempts that did not
// settle (by reason in PaymentFailureRollup); Challenges counts unpaid 402s.
type UsageRollup struct {
	ID              uint      `gorm:"primaryKey"`
	AppID           uint      `gorm:"uniqueIndex:idx_usage_rollups_key,priority:1;not null"`
	Route           string    `gorm:"uniqueIndex:idx_usage_rollups_key,priority:2;size:520;not null;default:''"`
	Hour            time.Time `gorm:"uniqueIndex:idx_usage_rollups_key,priority:3;not null"`
	Requests        int64     `gorm:"not null;default:0"`
	Paid            int64     `gorm:"not null;default:0"`
	RevenueAtomic   string    `gorm:"size:80;not null;default:'0'"`
	Errors          int64     `gorm:"not null;default:0"`
	CPUMs           float64   `gorm:"not null;default:0"`
	Subrequests     int64     `gorm:"not null;default:0"`
	LimitHits       int64     `gorm:"not null;default:0"`
	PaymentFailures int64     `gorm:"not null;default:0"`
	Challenges      int64     `gorm:"not null;default:0"`
	// Latency is a LatencySketch of the hour's request durations (MarshalText).
	Latency   string `gorm:"type:text;not null;default:''"`
	UpdatedAt time.Time

	sketch *LatencySketch // the batch's durations, merged into Latency on upsert
}

// PaymentFailureRollup counts an app's failed payment attempts per route, UTC hour and reason
// (the facilitator's invalidReason, or the edge's: invalid_payment_header,
// no_matching_requirements, payment_already_used, facilitator_unreachable, not_settled_status_500,
// …). Rows merge into days by summing Attempts.
type PaymentFailureRollup struct {
	ID        uint      `gorm:"primaryKey"`
	AppID     uint      `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:1;not null"`
	Route     string    `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:2;size:520;not null;default:''"`
	Hour      time.Time `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:3;not null"`
	Reason    string    `gorm:"uniqueIndex:idx_payment_failure_rollups_key,priority:4;size:100;not null;default:''"`
	Attempts  int64     `gorm:"not null;default:0"`
	UpdatedAt time.Time
}

// TelemetryCounter is a platform-wide count per UTC hour of what ingest dropped instead of
// storing: events and settlements of apps the portal does not know (a flood of made-up app
// names is one row per hour, not one per request, and not one per name).
type TelemetryCounter struct {
	ID        uint      `gorm:"primaryKey"`
	Hour      time.Time `gorm:"uniqueIndex:idx_telemetry_counters_key,priority:1;not null"`
	Name      string    `gorm:"uniqueIndex:idx_telemetry_counters_key,priority:2;size:64;not null"`
	Total     int64     `gorm:"not null;default:0"`
	UpdatedAt time.Time
}

// Names of TelemetryCounter rows.
const (
	CounterUnknownApp           = "unknown_app"
	CounterUnknownAppSettlement = "unknown_app_settlement"
)

// Error codes of the dispatcher that mean a limit was hit: a plan's (CPU, subrequests) or a
// route's per-caller limit (workers/dispatcher/quota.js: 429 rate_limited, quota_exhausted,
// spend_cap_reached).
var limitErrorCodes = map[string]bool{"cpu_limit_exceeded": true, "subrequest_limit_exceeded": true,
	"rate_limited": true, "quota_exhausted": true, "spend_cap_reached": true}

// TelemetryBatch is one post of the dispatcher: request events and settlement records.
type TelemetryBatch struct {
	Events      []TelemetryEvent
	Settlements []Settlement
}

// IngestResult says what one ingest call did.
type IngestResult struct {
	Events     int // raw events stored (served requests)
	Counted    int // events of known apps only counted (refused at the edge)
	Dropped    int // events and settlements of unknown apps, counted per hour
	Payments   int // new ledger rows
	Duplicates int // settlements the ledger already held
	Rollups    int // distinct (app, route, hour) rows touched
}

// ingestBatch is how many rows one INSERT carries; it stays under SQLite's 32,766 bound
// variables with the 25 columns of an event.
const ingestBatch = 200

// IngestTelemetry stores a batch of events, the ledger lines they and the settlements carry and
// their hourly rollups in one transaction, so a retried batch is either wholly there or wholly
// absent. Events are attributed to apps by slug; the tenant id is taken from the app row, not
// from the event, so a misconfigured dispatcher cannot credit one tenant's payment to another.
// Ledger rows are inserted one by one with ON CONFLICT DO NOTHING: whichever report of a
// settlement comes first makes the row and adds to revenue, later ones change nothing (on
// PostgreSQL a concurrent duplicate waits for the first transaction, then does nothing).
func (s *Store) IngestTelemetry(ctx context.Context, b TelemetryBatch) (IngestResult, error) {
	var res IngestResult
	events := b.Events
	if len(events) == 0 && len(b.Settlements) == 0 {
		return res, nil
	}
	slugs := map[string]bool{}
	for _, e := range events {
		if e.AppSlug != "" {
			slugs[e.AppSlug] = true
		}
	}
	for _, st := range b.Settlements {
		if st.AppSlug != "" {
			slugs[st.AppSlug] = true
		}
	}
	names := make([]string, 0, len(slugs))
	for s := range slugs {
		names = append(names, s)
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		res, err = ingestTx(tx, events, b.Settlements, names, false)
		return err
	})
	if err != nil {
		return IngestResult{}, err
	}
	return res, nil
}

// ingestTx is IngestTelemetry's transaction. With nonceOnly, a successful event makes a ledger
// row only when it carries the payment's nonce (Analytics Engine rows of a dispatcher older than
// blob14 do not: their settlements reach the ledger through the outbox alone).
func ingestTx(tx *gorm.DB, events []TelemetryEvent, settlements []Settlement, names []string, nonceOnly bool) (IngestResult, error) {
	var res IngestResult
	err := func() error {
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
		var keep []TelemetryEvent
		roll := map[rollupKey]*UsageRollup{}
		fails := map[failureKey]int64{}
		counters := map[counterKey]int64{}
		errs := map[errorKey]int64{}
		revs := map[revenueKey]*RevenueRollup{}
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
				counters[counterKey{e.TS.Truncate(time.Hour).Unix(), CounterUnknownApp}]++
				res.Dropped++
				continue
			}
			id := a.ID
			e.AppID = &id
			e.TenantID = a.TenantID
			addToRollup(roll, a.ID, e)
			if code := e.errorCode(); code != "" {
				errs[errorKey{a.ID, e.Route, e.TS.Truncate(time.Hour).Unix(), code}]++
			}
			if reason := e.failureReason(); reason != "" {
				fails[failureKey{a.ID, e.Route, e.TS.Truncate(time.Hour).Unix(), cut(reason, 100)}]++
			}
			if e.PaymentSuccess && (e.Nonce != "" || !nonceOnly) {
				payments = append(payments, Payment{
					AppID: a.ID, TenantID: a.TenantID, Route: e.Route, Payer: e.Payer, Nonce: strings.ToLower(e.Nonce), Amount: e.Amount,
					Network: e.Network, Transaction: e.Transaction, VerifyResult: e.VerifyResult,
					SettlementResult: e.SettlementResult, Success: true, Simulated: e.Simulated, At: e.TS,
				})
			}
			if e.served() {
				keep = append(keep, *e)
			} else {
				res.Counted++
			}
		}
		for _, st := range settlements {
			at := st.At.UTC()
			if at.IsZero() {
				at = now
			}
			a, ok := bySlug[st.AppSlug]
			if !ok {
				counters[counterKey{at.Truncate(time.Hour).Unix(), CounterUnknownAppSettlement}]++
				res.Dropped++
				continue
			}
			result := "success"
			if st.Unpaid {
				result = cut(st.Result, 100)
				if result == "" || result == "success" {
					result = "settlement_failed"
				}
			}
			payments = append(payments, Payment{
				AppID: a.ID, TenantID: a.TenantID, Route: st.Route, Payer: st.Payer, Nonce: strings.ToLower(st.Nonce), Amount: st.Amount,
				Network: st.Network, Transaction: st.Transaction, VerifyResult: "valid", SettlementResult: result,
				Success: !st.Unpaid, Simulated: st.Simulated, At: at,
			})
		}
		// One order for every batch: two transactions inserting the same two nonces in
		// opposite orders would deadlock on PostgreSQL.
		sort.SliceStable(payments, func(i, j int) bool {
			if payments[i].Network != payments[j].Network {
				return payments[i].Network < payments[j].Network
			}
			return payments[i].Nonce < payments[j].Nonce
		})
		for i := range payments {
			p := &payments[i]
			q := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(p)
			if q.Error != nil {
				return fmt.Errorf("store: unable to store payment %s %s of app %d: %w", p.Network, p.Nonce, p.AppID, q.Error)
			}
			if q.RowsAffected == 0 {
				// The row exists. A final report finishes a pending row (settled, or failed
				// for good); anything else is a duplicate.
				finished, err := finishPending(tx, p)
				if err != nil {
					return err
				}
				if !finished || !p.Success {
					res.Duplicates++
					continue
				}
			} else if !p.Success {
				continue
			}
			res.Payments++
			r := rollupFor(roll, p.AppID, p.Route, p.At)
			r.Paid++
			r.RevenueAtomic = AddAtomic(r.RevenueAtomic, p.Amount)
			addRevenue(revs, p)
		}
		if len(keep) > 0 {
			if err := tx.CreateInBatches(keep, ingestBatch).Error; err != nil {
				return fmt.Errorf("store: unable to store %d telemetry events: %w", len(keep), err)
			}
		}
		if err := upsertRollups(tx, roll); err != nil {
			return err
		}
		if err := upsertFailures(tx, fails, now); err != nil {
			return err
		}
		if err := upsertCounters(tx, counters, now); err != nil {
			return err
		}
		if err := upsertErrors(tx, errs, now); err != nil {
			return err
		}
		if err := upsertRevenue(tx, revs, now); err != nil {
			return err
		}
		res.Events, res.Rollups = len(keep), len(roll)
		return nil
	}()
	return res, err
}

// cut bounds a string to n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

type failureKey struct {
	app    uint
	route  string
	hour   int64
	reason string
}

type counterKey struct {
	hour int64
	name string
}

// upsertFailures adds the batch's failed attempts to their hourly rows in one statement per
// row, in a fixed order (no two batches lock rows in opposite orders).
func upsertFailures(tx *gorm.DB, fails map[failureKey]int64, now time.Time) error {
	keys := make([]failureKey, 0, len(fails))
	for k := range fails {
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
		return a.reason < b.reason
	})
	for _, k := range keys {
		row := PaymentFailureRollup{AppID: k.app, Route: k.route, Hour: time.Unix(k.hour, 0).UTC(), Reason: k.reason, Attempts: fails[k], UpdatedAt: now}
		err := tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "app_id"}, {Name: "route"}, {Name: "hour"}, {Name: "reason"}},
			DoUpdates: clause.Assignments(map[string]any{
				"attempts":   gorm.Expr("payment_failure_rollups.attempts + ?", row.Attempts),
				"updated_at": now,
			}),
		}).Create(&row).Error
		if err != nil {
			return fmt.Errorf("store: unable to count failed payments %d %q %s %q: %w", k.app, k.route, row.Hour, k.reason, err)
		}
	}
	return nil
}

func upsertCounters(tx *gorm.DB, counters map[counterKey]int64, now time.Time) error {
	keys := make([]counterKey, 0, len(counters))
	for k := range counters {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].hour != keys[j].hour {
			return keys[i].hour < keys[j].hour
		}
		return keys[i].name < keys[j].name
	})
	for _, k := range keys {
		row := TelemetryCounter{Hour: time.Unix(k.hour, 0).UTC(), Name: k.name, Total: counters[k], UpdatedAt: now}
		err := tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "hour"}, {Name: "name"}},
			DoUpdates: clause.Assignments(map[string]any{
				"total":      gorm.Expr("telemetry_counters.total + ?", row.Total),
				"updated_at": now,
			}),
		}).Create(&row).Error
		if err != nil {
			return fmt.Errorf("store: unable to count %s at %s: %w", k.name, row.Hour, err)
		}
	}
	return nil
}

type rollupKey struct {
	app   uint
	route string
	hour  int64
}

func rollupFor(roll map[rollupKey]*UsageRollup, appID uint, route string, ts time.Time) *UsageRollup {
	hour := ts.UTC().Truncate(time.Hour)
	k := rollupKey{appID, route, hour.Unix()}
	r := roll[k]
	if r == nil {
		r = &UsageRollup{AppID: appID, Route: route, Hour: hour, RevenueAtomic: "0"}
		roll[k] = r
	}
	return r
}

// addToRollup counts one request. Paid and revenue are not counted here but where the ledger
// row is inserted.
func addToRollup(roll map[rollupKey]*UsageRollup, appID uint, e *TelemetryEvent) {
	r := rollupFor(roll, appID, e.Route, e.TS)
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
	if e.failureReason() != "" {
		r.PaymentFailures++
	}
	if e.challenge() {
		r.Challenges++
	}
	addLatency(r, e)
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
			"requests":         gorm.Expr("requests + ?", r.Requests),
			"paid":             gorm.Expr("paid + ?", r.Paid),
			"errors":           gorm.Expr("errors + ?", r.Errors),
			"cpu_ms":           gorm.Expr("cpu_ms + ?", r.CPUMs),
			"subrequests":      gorm.Expr("subrequests + ?", r.Subrequests),
			"limit_hits":       gorm.Expr("limit_hits + ?", r.LimitHits),
			"payment_failures": gorm.Expr("payment_failures + ?", r.PaymentFailures),
			"challenges":       gorm.Expr("challenges + ?", r.Challenges),
			"revenue_atomic":   AddAtomic(cur.RevenueAtomic, r.RevenueAtomic),
			"latency":          mergedLatency(cur.Latency, r.sketch),
			"updated_at":       now,
		}).Error
		if err != nil {
			return fmt.Errorf("store: unable to update rollup %d %q %s: %w", r.AppID, r.Route, r.Hour, err)
		}
	}
	return nil
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

// DeleteTelemetryBefore deletes up to limit raw events older than before and returns how many
// it deleted; the retention job calls it until a batch comes back short, pausing in between so
// that a long backlog never holds SQLite's one write lock for long. Rollups, counters and the
// payments ledger are not raw events and are kept.
func (s *Store) DeleteTelemetryBefore(ctx context.Context, before time.Time, limit int) (int64, error) {
	q := s.db.WithContext(ctx).Exec("DELETE FROM telemetry_events WHERE id IN (SELECT id FROM telemetry_events WHERE ts < ? ORDER BY ts LIMIT ?)", before.UTC(), limit)
	if q.Error != nil {
		return 0, fmt.Errorf("store: unable to delete telemetry events before %s: %w", before.UTC().Format(time.RFC3339), q.Error)
	}
	return q.RowsAffected, nil
}
