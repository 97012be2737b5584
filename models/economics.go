package models

import (
	"math"
	"math/bits"
	"sort"
)

// Money here is in micro-dollars (millionths of a US dollar): exact integers, no floats.

// WorkersPrices is Cloudflare Workers' price list (Workers Paid), an operator setting: the
// defaults are the published prices — $5 a month, 10 million requests and 30 million CPU
// milliseconds included, then $0.30 per million requests and $0.02 per million CPU ms.
type WorkersPrices struct {
	MonthlyMinimum     int64 // micro-dollars
	IncludedRequests   int64
	PerMillionRequests int64 // micro-dollars
	IncludedCPUMs      int64
	PerMillionCPUMs    int64 // micro-dollars
}

// DefaultWorkersPrices are Cloudflare's published Workers Paid prices.
var DefaultWorkersPrices = WorkersPrices{
	MonthlyMinimum: 5_000_000, IncludedRequests: 10_000_000, PerMillionRequests: 300_000,
	IncludedCPUMs: 30_000_000, PerMillionCPUMs: 20_000,
}

// perMillion is n units at price per million, rounded half up to a micro-dollar.
func perMillion(n, price int64) int64 {
	if n <= 0 {
		return 0
	}
	return (n*price + 500_000) / 1_000_000
}

// Invoice is what the account pays Cloudflare for a month with these totals.
func (p WorkersPrices) Invoice(requests, cpuMs int64) int64 {
	return p.MonthlyMinimum + perMillion(requests-p.IncludedRequests, p.PerMillionRequests) + perMillion(cpuMs-p.IncludedCPUMs, p.PerMillionCPUMs)
}

// TenantUsageMonth is one tenant's usage of the edge in a month.
type TenantUsageMonth struct {
	TenantID uint
	Requests int64
	CPUMs    int64
}

// TenantCosts splits the account's invoice over its tenants by what each one's usage would cost
// at list price (requests and CPU, before the included amounts): the minimum and the overage
// are shared in the same proportion, so the costs add up to the invoice exactly (the last
// micro-dollars of rounding go to the largest users). A month without usage costs nobody.
func (p WorkersPrices) TenantCosts(usage []TenantUsageMonth) map[uint]int64 {
	out := make(map[uint]int64, len(usage))
	var totalReq, totalCPU int64
	weights := make([]int64, len(usage))
	var totalWeight int64
	for i, u := range usage {
		totalReq += max(u.Requests, 0)
		totalCPU += max(u.CPUMs, 0)
		weights[i] = max(u.Requests, 0)*p.PerMillionRequests + max(u.CPUMs, 0)*p.PerMillionCPUMs
		totalWeight += weights[i]
		out[u.TenantID] = 0
	}
	if totalWeight == 0 {
		return out
	}
	invoice := p.Invoice(totalReq, totalCPU)
	order := make([]int, len(usage))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return weights[order[a]] > weights[order[b]] })
	var given int64
	for _, i := range order {
		// invoice × weight / total without overflow: split the product.
		share := mulDiv(invoice, weights[i], totalWeight)
		out[usage[i].TenantID] += share
		given += share
	}
	for k := 0; given < invoice; k++ {
		out[usage[order[k%len(order)]].TenantID]++
		given++
	}
	return out
}

// mulDiv is a×b/c rounded down, for 0 ≤ a, b and 0 < c, with a 128-bit product (a×b
// overflows int64 at a few million requests).
func mulDiv(a, b, c int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi >= uint64(c) {
		return math.MaxInt64 // a share larger than the whole: cannot happen for b ≤ c
	}
	q, _ := bits.Div64(hi, lo, uint64(c))
	return int64(q)
}

// Margin is what a tenant brings in minus what it costs, in micro-dollars: its subscription for
// the month plus the platform's fee on its x402 revenue, less its share of the invoice.
func Margin(subscription, platformFee, cost int64) int64 {
	return subscription + platformFee - cost
}
