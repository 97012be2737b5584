package models

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models/x402"
	"gorm.io/gorm/clause"
)

// EconomicsSettings is the operator's economics configuration (one row, id 1; migration 73): the
// Workers price list the cost estimates use and the platform fee taken on tenants' x402
// revenue, in basis points (1% = 100). Money is in micro-dollars.
type EconomicsSettings struct {
	ID                   uint  `gorm:"primaryKey"`
	MonthlyMinimumMicros int64 `gorm:"not null;default:5000000"`
	IncludedRequests     int64 `gorm:"not null;default:10000000"`
	PerMillionRequests   int64 `gorm:"not null;default:300000"`
	IncludedCPUMs        int64 `gorm:"column:included_cpu_ms;not null;default:30000000"`
	PerMillionCPUMs      int64 `gorm:"column:per_million_cpu_ms;not null;default:20000"`
	PlatformFeeBps       int64 `gorm:"not null;default:0"`
	UpdatedAt            time.Time
}

// DefaultEconomicsSettings are Cloudflare's published Workers Paid prices and no platform fee.
func DefaultEconomicsSettings() EconomicsSettings {
	p := DefaultWorkersPrices
	return EconomicsSettings{ID: 1, MonthlyMinimumMicros: p.MonthlyMinimum, IncludedRequests: p.IncludedRequests,
		PerMillionRequests: p.PerMillionRequests, IncludedCPUMs: p.IncludedCPUMs, PerMillionCPUMs: p.PerMillionCPUMs}
}

// Prices is the settings' price list.
func (e EconomicsSettings) Prices() WorkersPrices {
	return WorkersPrices{MonthlyMinimum: e.MonthlyMinimumMicros, IncludedRequests: e.IncludedRequests,
		PerMillionRequests: e.PerMillionRequests, IncludedCPUMs: e.IncludedCPUMs, PerMillionCPUMs: e.PerMillionCPUMs}
}

// PlatformFee is the fee on revenue micro-dollars at the settings' rate, rounded half up.
func (e EconomicsSettings) PlatformFee(revenue int64) int64 {
	if revenue <= 0 || e.PlatformFeeBps <= 0 {
		return 0
	}
	return mulDiv(revenue, e.PlatformFeeBps, 10_000) + boolInt(mulMod(revenue, e.PlatformFeeBps, 10_000)*2 >= 10_000)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// mulMod is a×b mod c for 0 ≤ a, b and 0 < c.
func mulMod(a, b, c int64) int64 {
	return new(big.Int).Mod(new(big.Int).Mul(big.NewInt(a), big.NewInt(b)), big.NewInt(c)).Int64()
}

// EconomicsInput is the admin form as typed: dollars with up to 6 decimals, counts, a percent
// with up to 2 decimals.
type EconomicsInput struct {
	MonthlyMinimum, IncludedRequests, PerMillionRequests, IncludedCPUMs, PerMillionCPUMs, PlatformFee string
}

// Bounds of the settings: far above any real price list, low enough that no product overflows.
const (
	maxEconomicsDollars = 1_000_000 * 1_000_000 // $1,000,000 in micro-dollars
	maxEconomicsCount   = 1_000_000_000_000_000 // 10^15 requests or CPU ms
)

// ParseEconomics checks the form; a bad field is a *FieldError naming it.
func ParseEconomics(in EconomicsInput) (EconomicsSettings, error) {
	e := EconomicsSettings{ID: 1}
	var err error
	dollars := []struct {
		field, label, v string
		dst             *int64
	}{
		{"monthly_minimum", "The monthly minimum", in.MonthlyMinimum, &e.MonthlyMinimumMicros},
		{"per_million_requests", "The price per million requests", in.PerMillionRequests, &e.PerMillionRequests},
		{"per_million_cpu_ms", "The price per million CPU ms", in.PerMillionCPUMs, &e.PerMillionCPUMs},
	}
	for _, d := range dollars {
		if *d.dst, err = ParseDollars(d.v); err != nil {
			return e, fieldErr(d.field, d.label+" "+err.Error())
		}
	}
	counts := []struct {
		field, label, v string
		dst             *int64
	}{
		{"included_requests", "Included requests", in.IncludedRequests, &e.IncludedRequests},
		{"included_cpu_ms", "Included CPU ms", in.IncludedCPUMs, &e.IncludedCPUMs},
	}
	for _, d := range counts {
		s := strings.NewReplacer(",", "", "_", "", " ", "").Replace(strings.TrimSpace(d.v))
		n, perr := strconv.ParseInt(s, 10, 64)
		if s == "" || perr != nil || n < 0 || n > maxEconomicsCount || strings.HasPrefix(s, "+") {
			return e, fieldErr(d.field, d.label+": enter a whole number from 0 to 10^15, like 10000000.")
		}
		*d.dst = n
	}
	fee := strings.TrimSuffix(strings.TrimSpace(in.PlatformFee), "%")
	if fee == "" {
		fee = "0"
	}
	bps, ferr := parseFixed(strings.TrimSpace(fee), 2)
	if ferr != nil || bps > 10_000 {
		return e, fieldErr("platform_fee", "The platform fee is a percent from 0 to 100 with at most 2 decimals, like 2.5.")
	}
	e.PlatformFeeBps = bps
	return e, nil
}

// ParseDollars reads an amount of US dollars ("5", "0.30", "$0.02") into micro-dollars.
func ParseDollars(s string) (int64, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "$")
	n, err := parseFixed(strings.ReplaceAll(s, ",", ""), 6)
	if err != nil {
		return 0, fmt.Errorf("is an amount of dollars with at most 6 decimals, like 0.30")
	}
	if n > maxEconomicsDollars {
		return 0, fmt.Errorf("is at most $1,000,000")
	}
	return n, nil
}

// parseFixed reads a non-negative decimal with at most decimals digits after the point, scaled
// by 10^decimals.
func parseFixed(s string, decimals int) (int64, error) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" && frac == "" || len(frac) > decimals || len(whole) > 12 {
		return 0, fmt.Errorf("bad number %q", s)
	}
	for _, r := range whole + frac {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("bad number %q", s)
		}
	}
	frac += strings.Repeat("0", decimals-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if whole == "" {
		n, err = strconv.ParseInt(frac, 10, 64)
	}
	return n, err
}

// EconomicsSettings returns the operator's settings, or the defaults when none were saved.
func (s *Store) EconomicsSettings(ctx context.Context) (EconomicsSettings, error) {
	e, err := take[EconomicsSettings](s.db.WithContext(ctx).Where("id = 1"), "read economics settings")
	if errors.Is(err, ErrNotFound) {
		return DefaultEconomicsSettings(), nil
	}
	if err != nil {
		return EconomicsSettings{}, err
	}
	return *e, nil
}

// SaveEconomicsSettings writes the settings (checked by ParseEconomics) as row 1.
func (s *Store) SaveEconomicsSettings(ctx context.Context, e EconomicsSettings) error {
	e.ID = 1
	e.UpdatedAt = time.Now().UTC()
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"monthly_minimum_micros", "included_requests", "per_million_requests", "included_cpu_ms", "per_million_cpu_ms", "platform_fee_bps", "updated_at"}),
	}).Create(&e).Error
	if err != nil {
		return fmt.Errorf("store: unable to save economics settings: %w", err)
	}
	return nil
}

// TenantEconomics is one tenant's month: its usage of the edge, what that costs the operator
// (its share of the Workers invoice, TenantCosts), what it pays (the monthly price of its active
// subscription's plan) and the platform fee on its x402 revenue. Money in micro-dollars.
type TenantEconomics struct {
	TenantID     uint
	Slug, Name   string
	PlanKey      string
	Requests     int64
	CPUMs        int64
	Cost         int64
	Subscription int64
	X402Revenue  int64 // settled, not simulated, in dollars of USDC
	PlatformFee  int64
	Margin       int64
}

// Economics is the operator's month: one row per tenant with usage or income, sorted by margin
// (the largest loss first), and their totals.
type Economics struct {
	Month    time.Time // first instant of the UTC month
	Settings EconomicsSettings
	Invoice  int64 // the Workers invoice for the month's total usage
	Tenants  []TenantEconomics
	Totals   TenantEconomics
	Losses   int // tenants whose margin is below zero
}

// MonthStart is the first instant of t's UTC month.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// Economics computes the month that starts at month (MonthStart) from the usage and revenue
// rollups: requests and CPU ms of every app of a tenant, its settled non-simulated x402 revenue
// (USDC on every network: atomic units over the network's decimals) and the plan price of its
// active subscription (trialing, past-due or ended subscriptions pay nothing). Apps deleted
// since are not attributed (their rollups no longer name a tenant).
func (s *Store) Economics(ctx context.Context, month time.Time) (Economics, error) {
	month = MonthStart(month)
	end := month.AddDate(0, 1, 0)
	settings, err := s.EconomicsSettings(ctx)
	if err != nil {
		return Economics{}, err
	}
	out := Economics{Month: month, Settings: settings}
	db := s.db.WithContext(ctx)
	rows := map[uint]*TenantEconomics{}
	row := func(id uint) *TenantEconomics {
		r := rows[id]
		if r == nil {
			r = &TenantEconomics{TenantID: id}
			rows[id] = r
		}
		return r
	}
	var usage []struct {
		TenantID uint
		Requests int64
		CPU      float64
	}
	if err := db.Table("usage_rollups").Select("apps.tenant_id AS tenant_id, SUM(usage_rollups.requests) AS requests, SUM(usage_rollups.cpu_ms) AS cpu").
		Joins("JOIN apps ON apps.id = usage_rollups.app_id").Where("usage_rollups.hour >= ? AND usage_rollups.hour < ?", month, end).
		Group("apps.tenant_id").Scan(&usage).Error; err != nil {
		return out, fmt.Errorf("store: unable to sum usage per tenant: %w", err)
	}
	for _, u := range usage {
		r := row(u.TenantID)
		r.Requests, r.CPUMs = u.Requests, int64(u.CPU+0.5)
	}
	var revs []struct {
		TenantID      uint
		Network       string
		RevenueAtomic string
	}
	if err := db.Table("revenue_rollups").Select("apps.tenant_id AS tenant_id, revenue_rollups.network AS network, revenue_rollups.revenue_atomic AS revenue_atomic").
		Joins("JOIN apps ON apps.id = revenue_rollups.app_id").Where("revenue_rollups.hour >= ? AND revenue_rollups.hour < ? AND revenue_rollups.simulated = ?", month, end, false).
		Scan(&revs).Error; err != nil {
		return out, fmt.Errorf("store: unable to read revenue per tenant: %w", err)
	}
	atomic := map[uint]map[string]string{}
	for _, r := range revs {
		if atomic[r.TenantID] == nil {
			atomic[r.TenantID] = map[string]string{}
		}
		atomic[r.TenantID][r.Network] = AddAtomic(atomic[r.TenantID][r.Network], r.RevenueAtomic)
	}
	for id, nets := range atomic {
		var sum int64
		for net, amt := range nets {
			sum += atomicToMicros(amt, net)
		}
		row(id).X402Revenue = sum
	}
	var subs []struct {
		TenantID          uint
		MonthlyPriceCents int64
		LastEventAt       time.Time
	}
	if err := db.Table("subscriptions").Select("subscriptions.tenant_id AS tenant_id, plans.monthly_price_cents AS monthly_price_cents, subscriptions.last_event_at AS last_event_at").
		Joins("JOIN plans ON plans.key = subscriptions.plan_key").Where("subscriptions.status = ?", SubActive).
		Order("subscriptions.last_event_at").Scan(&subs).Error; err != nil {
		return out, fmt.Errorf("store: unable to read subscriptions: %w", err)
	}
	for _, sub := range subs { // the newest active subscription of a tenant wins
		row(sub.TenantID).Subscription = sub.MonthlyPriceCents * 10_000
	}
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]uint, 0, len(rows))
	for id := range rows {
		ids = append(ids, id)
	}
	var tenants []Tenant
	if err := db.Select("id", "slug", "name", "plan_key").Where("id IN ?", ids).Find(&tenants).Error; err != nil {
		return out, fmt.Errorf("store: unable to read tenants: %w", err)
	}
	names := map[uint]Tenant{}
	for _, t := range tenants {
		names[t.ID] = t
	}
	prices := settings.Prices()
	var months []TenantUsageMonth
	for id, r := range rows {
		months = append(months, TenantUsageMonth{TenantID: id, Requests: r.Requests, CPUMs: r.CPUMs})
		out.Totals.Requests += r.Requests
		out.Totals.CPUMs += r.CPUMs
	}
	costs := prices.TenantCosts(months)
	if out.Totals.Requests > 0 || out.Totals.CPUMs > 0 {
		out.Invoice = prices.Invoice(out.Totals.Requests, out.Totals.CPUMs)
	}
	for id, r := range rows {
		t, ok := names[id]
		if !ok {
			continue // a tenant deleted since
		}
		r.Slug, r.Name, r.PlanKey = t.Slug, t.Name, t.PlanKey
		r.Cost = costs[id]
		r.PlatformFee = settings.PlatformFee(r.X402Revenue)
		r.Margin = Margin(r.Subscription, r.PlatformFee, r.Cost)
		out.Tenants = append(out.Tenants, *r)
		out.Totals.Cost += r.Cost
		out.Totals.Subscription += r.Subscription
		out.Totals.X402Revenue += r.X402Revenue
		out.Totals.PlatformFee += r.PlatformFee
		out.Totals.Margin += r.Margin
		if r.Margin < 0 {
			out.Losses++
		}
	}
	sort.Slice(out.Tenants, func(i, j int) bool {
		a, b := out.Tenants[i], out.Tenants[j]
		if a.Margin != b.Margin {
			return a.Margin < b.Margin
		}
		return a.Slug < b.Slug
	})
	return out, nil
}

// LossMaking returns the tenants of e whose margin is below zero, the largest loss first.
func (e Economics) LossMaking() []TenantEconomics {
	var out []TenantEconomics
	for _, t := range e.Tenants {
		if t.Margin < 0 {
			out = append(out, t)
		}
	}
	return out
}

// atomicToMicros converts an atomic amount of a network's USDC to micro-dollars (1 USDC = $1):
// USDC has 6 decimals on every network 402claw prices, so this is usually the identity. An
// unknown network is taken at 6 decimals.
func atomicToMicros(atomic, network string) int64 {
	n, ok := new(big.Int).SetString(atomic, 10)
	if !ok || n.Sign() <= 0 {
		return 0
	}
	dec := 6
	if nw, ok := x402.NetworkByCAIP2(network); ok {
		dec = nw.Decimals
	}
	switch {
	case dec > 6:
		n.Quo(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(dec-6)), nil))
	case dec < 6:
		n.Mul(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(6-dec)), nil))
	}
	if !n.IsInt64() {
		return 0
	}
	return n.Int64()
}

// TableName keeps the migration's name.
func (EconomicsSettings) TableName() string { return "economics_settings" }
