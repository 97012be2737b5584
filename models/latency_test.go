package models

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestLatencySketch: percentiles within the stated 10% of the exact ones on skewed data, hours
// that merge into a day exactly, and a lossless text form.
func TestLatencySketch(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var day LatencySketch
	var all []float64
	hours := make([]LatencySketch, 24)
	for h := range hours {
		for range 5000 {
			// Log-normal around 20 ms with a long tail, plus some very fast and very slow ones.
			ms := math.Exp(rng.NormFloat64()*1.2 + 3)
			switch rng.IntN(100) {
			case 0:
				ms = rng.Float64() * 0.4
			case 1:
				ms = 2000 + rng.Float64()*40000
			}
			hours[h].Add(ms)
			all = append(all, ms)
		}
	}
	for h := range hours {
		day.Merge(&hours[h])
	}
	var direct LatencySketch
	for _, ms := range all {
		direct.Add(ms)
	}
	if day != direct {
		t.Fatal("24 merged hours differ from the day counted directly")
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.95, 0.99} {
		exact := all[int(math.Ceil(q*float64(len(all))))-1]
		got := day.Quantile(q)
		if math.Abs(got-exact)/exact > 0.10 {
			t.Errorf("p%g = %.3f ms, exact %.3f ms: off by more than 10%%", q*100, got, exact)
		}
	}
	text, _ := day.MarshalText()
	var back LatencySketch
	if err := back.UnmarshalText(text); err != nil || back != day {
		t.Fatalf("text round trip: %v", err)
	}
	if err := back.UnmarshalText([]byte("damaged")); err == nil {
		t.Error("a damaged sketch was read")
	}
	var empty LatencySketch
	if empty.Quantile(0.5) != 0 || empty.Count() != 0 {
		t.Error("an empty sketch has a median")
	}
	// Bucket edges: every value lands in a bucket whose bounds hold it.
	for _, ms := range []float64{0, 0.5, 0.6, 1, 1.2, 100, 51_000, 1e9} {
		var s LatencySketch
		s.Add(ms)
		got := s.Quantile(0.5)
		if ms >= 0.5 && ms < 51_000 && math.Abs(got-ms)/ms > 0.10 {
			t.Errorf("%g ms reads back as %g", ms, got)
		}
	}
}
