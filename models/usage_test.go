package models_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// TestUsageRollupsMatchRawEvents ingests a generated stream (50,000 events by default;
// CLAW_USAGE_EVENTS=1000000 for the full run) and checks that the rollups read back per hour,
// per day, per route and per network equal what the raw stream holds, and that percentiles
// merged from hours into days are within the sketch's stated 10%.
func TestUsageRollupsMatchRawEvents(t *testing.T) {
	total := 50_000
	if v, err := strconv.Atoi(os.Getenv("CLAW_USAGE_EVENTS")); err == nil && v > 0 {
		total = v
	}
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Roller")
		app, err := s.CreateApp(ctx, tn, "roller", "R")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		const hours = 72
		routes := []string{"GET /a", "GET /b", "POST /c"}
		networks := []string{"eip155:8453", "eip155:84532"}
		rng := rand.New(rand.NewPCG(1, 2))
		type key struct {
			hour  int
			route string
		}
		type want struct {
			requests, errs, limits, paid int64
			cpu                          float64
			durations                    []float64
			revenue                      *big.Int
		}
		exp := map[key]*want{}
		netRev := map[string]*big.Int{}
		codes := map[string]int64{}
		yes := true
		batch := make([]models.TelemetryEvent, 0, 1000)
		flush := func() {
			if len(batch) == 0 {
				return
			}
			if _, err := s.IngestTelemetry(ctx, models.TelemetryBatch{Events: batch}); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
		for i := range total {
			h := rng.IntN(hours)
			route := routes[rng.IntN(len(routes))]
			// Skewed durations: most fast, a long tail.
			dur := int64(math.Exp(rng.NormFloat64()*1.2 + 3))
			cpu := float64(rng.IntN(20)) + 0.5
			e := models.TelemetryEvent{AppSlug: "roller", Route: route, Method: "GET", StatusCode: 200, DurationMs: dur,
				TS: start.Add(time.Duration(h)*time.Hour + time.Duration(rng.IntN(3600))*time.Second), CPUMs: &cpu, Served: &yes}
			k := key{h, route}
			w := exp[k]
			if w == nil {
				w = &want{revenue: new(big.Int)}
				exp[k] = w
			}
			switch r := rng.IntN(100); {
			case r < 3:
				e.StatusCode, e.ErrorCode = 503, "cpu_limit_exceeded"
				w.errs++
				w.limits++
				codes["cpu_limit_exceeded"]++
			case r < 6:
				e.StatusCode = 500
				w.errs++
				codes["http_500"]++
			case r < 20:
				net := networks[rng.IntN(len(networks))]
				amount := int64(1000 + rng.IntN(9000))
				e.PaymentRequired, e.PaymentSuccess, e.VerifyResult, e.SettlementResult = true, true, "valid", "success"
				e.Network, e.Amount, e.Nonce, e.Payer = net, strconv.FormatInt(amount, 10), fmt.Sprintf("0x%064x", i), "0xabc"
				w.paid++
				w.revenue.Add(w.revenue, big.NewInt(amount))
				if netRev[net] == nil {
					netRev[net] = new(big.Int)
				}
				netRev[net].Add(netRev[net], big.NewInt(amount))
			}
			w.requests++
			w.cpu += cpu
			w.durations = append(w.durations, float64(dur))
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				flush()
			}
		}
		flush()

		quantile := func(d []float64, q float64) float64 {
			d = slices.Clone(d)
			slices.Sort(d)
			return d[max(int(math.Ceil(q*float64(len(d))))-1, 0)]
		}
		near := func(got, want float64) bool {
			// The sketch's bound, plus its first bucket (everything under 0.5 ms).
			return math.Abs(got-want) <= 0.1*want+0.5
		}
		check := func(t *testing.T, g models.Granularity, route string) {
			rep, err := s.Usage(ctx, models.UsageQuery{AppIDs: []uint{app.ID}, Route: route, From: start, To: start.Add(hours * time.Hour), Granularity: g})
			if err != nil {
				t.Fatal(err)
			}
			per := 1
			if g == models.Daily {
				per = 24
			}
			if len(rep.Buckets) != hours/per {
				t.Fatalf("%d buckets, want %d", len(rep.Buckets), hours/per)
			}
			var all []float64
			for bi, b := range rep.Buckets {
				var w want
				w.revenue = new(big.Int)
				for h := bi * per; h < (bi+1)*per; h++ {
					for _, r := range routes {
						if route != "" && r != route {
							continue
						}
						if x := exp[key{h, r}]; x != nil {
							w.requests += x.requests
							w.errs += x.errs
							w.limits += x.limits
							w.paid += x.paid
							w.cpu += x.cpu
							w.revenue.Add(w.revenue, x.revenue)
							w.durations = append(w.durations, x.durations...)
						}
					}
				}
				all = append(all, w.durations...)
				if b.Requests != w.requests || b.Errors != w.errs || b.LimitHits != w.limits || b.Paid != w.paid || b.RevenueAtomic != w.revenue.String() || math.Abs(b.CPUMs-w.cpu) > 1e-6 {
					t.Fatalf("bucket %s: got requests %d errors %d limits %d paid %d revenue %s cpu %.1f; want %d %d %d %d %s %.1f",
						b.Start, b.Requests, b.Errors, b.LimitHits, b.Paid, b.RevenueAtomic, b.CPUMs, w.requests, w.errs, w.limits, w.paid, w.revenue, w.cpu)
				}
				if w.requests > 0 {
					for _, q := range []float64{0.5, 0.95, 0.99} {
						if got, want := b.Latency.Quantile(q), quantile(w.durations, q); !near(got, want) {
							t.Errorf("bucket %s p%v = %.1f, want %.1f ±10%%", b.Start, q*100, got, want)
						}
					}
				}
			}
			for _, q := range []float64{0.5, 0.95, 0.99} {
				if got, want := rep.Total.Latency.Quantile(q), quantile(all, q); !near(got, want) {
					t.Errorf("total p%v = %.1f, want %.1f ±10%%", q*100, got, want)
				}
			}
		}
		for _, g := range []models.Granularity{models.Hourly, models.Daily} {
			for _, r := range append([]string{""}, routes...) {
				t.Run(string(g)+" "+r, func(t *testing.T) { check(t, g, r) })
			}
		}
		rep, err := s.Usage(ctx, models.UsageQuery{AppIDs: []uint{app.ID}, From: start, To: start.Add(hours * time.Hour), Granularity: models.Daily})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Total.Requests != int64(total) {
			t.Errorf("total requests %d, want %d", rep.Total.Requests, total)
		}
		if !slices.Equal(rep.Routes, routes) {
			t.Errorf("routes %v, want %v", rep.Routes, routes)
		}
		if len(rep.Revenue) != len(networks) {
			t.Fatalf("revenue %+v, want %d networks", rep.Revenue, len(networks))
		}
		for _, r := range rep.Revenue {
			if r.Atomic != netRev[r.Network].String() {
				t.Errorf("revenue on %s = %s, want %s", r.Network, r.Atomic, netRev[r.Network])
			}
		}
		gotCodes := map[string]int64{}
		var sum int64
		for _, c := range rep.Errors {
			gotCodes[c.Code] = c.Count
			sum += c.Count
		}
		if len(gotCodes) != len(codes) || gotCodes["cpu_limit_exceeded"] != codes["cpu_limit_exceeded"] || gotCodes["http_500"] != codes["http_500"] {
			t.Errorf("errors by code %v, want %v", gotCodes, codes)
		}
		if sum != rep.Total.Errors {
			t.Errorf("errors by code sum to %d, errors %d", sum, rep.Total.Errors)
		}

		// Retention: rollups before a cut are gone, later ones stay.
		if _, err := s.DeleteRollupsBefore(ctx, start.Add(24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		rep, err = s.Usage(ctx, models.UsageQuery{AppIDs: []uint{app.ID}, From: start, To: start.Add(hours * time.Hour), Granularity: models.Daily})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Buckets[0].Requests != 0 || rep.Buckets[1].Requests == 0 {
			t.Errorf("after retention: day 1 %d requests (want 0), day 2 %d (want > 0)", rep.Buckets[0].Requests, rep.Buckets[1].Requests)
		}
	})
}

func TestUsageQueryRange(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		q       models.UsageQuery
		buckets int
		err     bool
	}{
		{"hours rounded out", models.UsageQuery{From: t0, To: t0.Add(2 * time.Hour)}, 3, false},
		{"days", models.UsageQuery{From: t0, To: t0.Add(48 * time.Hour), Granularity: models.Daily}, 3, false},
		{"reversed", models.UsageQuery{From: t0.Add(time.Hour), To: t0}, 0, true},
		{"empty", models.UsageQuery{From: t0, To: t0}, 0, true},
		{"over 400 days", models.UsageQuery{From: t0, To: t0.Add(402 * 24 * time.Hour), Granularity: models.Daily}, 0, true},
		{"400 days", models.UsageQuery{From: t0, To: t0.Add(400 * 24 * time.Hour), Granularity: models.Daily}, 401, false},
		{"bad granularity", models.UsageQuery{From: t0, To: t0.Add(time.Hour), Granularity: "week"}, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := tt.q.Normalize()
			if (err != nil) != tt.err {
				t.Fatalf("err %v, want error %v", err, tt.err)
			}
			if tt.err {
				return
			}
			step := time.Hour
			if q.Granularity == models.Daily {
				step = 24 * time.Hour
			}
			if n := int(q.To.Sub(q.From) / step); n != tt.buckets {
				t.Errorf("%d buckets, want %d", n, tt.buckets)
			}
		})
	}
	if _, err := (models.UsageQuery{From: t0.Add(time.Hour), To: t0}).Normalize(); !errors.Is(err, models.ErrUsageRange) {
		t.Errorf("reversed range: %v, want ErrUsageRange", err)
	}
}
