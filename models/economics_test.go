package models

import "testing"

// Invoices computed by hand from Cloudflare's published prices.
func TestInvoice(t *testing.T) {
	p := DefaultWorkersPrices
	cases := []struct {
		name          string
		requests, cpu int64
		want          int64 // micro-dollars
	}{
		{"nothing used: the minimum", 0, 0, 5_000_000},
		{"inside the included amounts", 10_000_000, 30_000_000, 5_000_000},
		{"25M requests: 15M over at $0.30", 25_000_000, 0, 5_000_000 + 4_500_000},
		{"80M CPU ms: 50M over at $0.02", 0, 80_000_000, 5_000_000 + 1_000_000},
		{"both over", 110_000_000, 130_000_000, 5_000_000 + 30_000_000 + 2_000_000},
		{"one request over rounds to a micro-dollar", 10_000_004, 0, 5_000_000 + 1},
	}
	for _, c := range cases {
		if got := p.Invoice(c.requests, c.cpu); got != c.want {
			t.Errorf("%s: %d µ$, want %d", c.name, got, c.want)
		}
	}
}

func TestTenantCosts(t *testing.T) {
	p := DefaultWorkersPrices
	// Tenant 1: 20M requests, 10M CPU ms; tenant 2: 5M requests, 50M CPU ms; tenant 3 idle.
	// Invoice: 25M requests (15M over: $4.50), 60M CPU ms (30M over: $0.60) → $10.10.
	// List-price weights: 1: 20×0.30 + 10×0.02 = $6.20; 2: 5×0.30 + 50×0.02 = $2.50.
	// Shares: 1: 10.10 × 6.2/8.7 = $7.197701…; 2: 10.10 × 2.5/8.7 = $2.902298…
	costs := p.TenantCosts([]TenantUsageMonth{{1, 20_000_000, 10_000_000}, {2, 5_000_000, 50_000_000}, {3, 0, 0}})
	if costs[1] != 7_197_702 || costs[2] != 2_902_298 || costs[3] != 0 {
		t.Fatalf("costs %v", costs)
	}
	if costs[1]+costs[2] != p.Invoice(25_000_000, 60_000_000) {
		t.Error("the shares do not add up to the invoice")
	}
	if got := p.TenantCosts(nil); len(got) != 0 {
		t.Errorf("no tenants: %v", got)
	}
	if got := p.TenantCosts([]TenantUsageMonth{{7, 0, 0}}); got[7] != 0 {
		t.Errorf("an idle month: %v", got)
	}
	// A tenant that pays $5 a month and costs $7.20 is a loss of $2.20.
	if m := Margin(5_000_000, 0, costs[1]); m != -2_197_702 {
		t.Errorf("margin %d", m)
	}
}
