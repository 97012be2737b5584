package models

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	"github.com/402claw/402claw/models/x402"
)

// RevenueDecimals are those of the usage rollups' revenue: every network 402claw prices on
// settles USDC, which has 6 decimals.
const RevenueDecimals = 6

// FormatRevenue writes an atomic revenue amount of the rollups as a decimal ("0.01"), so the
// portal's pages format money without knowing the x402 tables.
func FormatRevenue(atomic string) string {
	return x402.FormatAmount(atomic, RevenueDecimals)
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
