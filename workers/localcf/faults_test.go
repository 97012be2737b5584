package localcf

import (
	"fmt"
	"math"
	"net/http"
	"testing"
)

func TestFaultsFollowTheConfiguredRates(t *testing.T) {
	ts := newTestServer(t, Options{Faults: Faults{ErrorRate: 0.2, RateLimitRate: 0.1, DropRate: 0.05, Seed: 7}})
	// A fresh connection per request: a dropped one cannot be reused.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	outcomes := func() []string {
		var out []string
		for range 1000 {
			req, _ := http.NewRequest("GET", ts.url+base+"workers/dispatch/namespaces", nil)
			req.Header.Set("Authorization", "Bearer "+testToken)
			res, err := client.Do(req)
			if err != nil {
				out = append(out, "drop")
				continue
			}
			res.Body.Close()
			if res.StatusCode == 429 && res.Header.Get("Retry-After") != "1" {
				t.Errorf("429 without Retry-After: 1")
			}
			out = append(out, fmt.Sprint(res.StatusCode))
		}
		return out
	}
	first := outcomes()
	count := map[string]int{}
	for _, o := range first {
		count[o]++
	}
	stats := ts.FaultStats()
	if stats.Requests != 1000 || stats.Dropped != count["drop"] || stats.RateLimited != count["429"] || stats.Errors != count["500"]+count["503"] {
		t.Errorf("stats %+v disagree with what clients saw %v", stats, count)
	}
	// Binomial(1000, p) stays within 5 standard deviations of 1000p for any sane seed.
	for _, c := range []struct {
		name string
		got  int
		p    float64
	}{{"errors", stats.Errors, 0.2}, {"rate limits", stats.RateLimited, 0.1}, {"drops", stats.Dropped, 0.05}} {
		mean, sd := 1000*c.p, math.Sqrt(1000*c.p*(1-c.p))
		if math.Abs(float64(c.got)-mean) > 5*sd {
			t.Errorf("%s: %d of 1000, want about %.0f", c.name, c.got, mean)
		}
	}
	if count["500"] == 0 || count["503"] == 0 {
		t.Errorf("both 500 and 503 should occur: %v", count)
	}
	ts.SetFaults(Faults{ErrorRate: 0.2, RateLimitRate: 0.1, DropRate: 0.05, Seed: 7})
	if again := outcomes(); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("the same seed gave another sequence")
	}
}

func TestFaultsSpareTheRuntimeAndNeverHalfApply(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.mustNamespace(t, "prod")
	ts.upload(t, "prod", "a", nil)
	ts.SetFaults(Faults{ErrorRate: 1, Seed: 1})
	if r := ts.upload(t, "prod", "b", nil); r.status < 500 || r.env.Success || len(r.env.Errors) == 0 {
		t.Errorf("upload under ErrorRate 1: %d %s", r.status, r.body)
	}
	for range 20 {
		if r := ts.call(t, "GET", "/runtime/namespaces/prod/scripts/a", "", nil); r.status != 200 {
			t.Fatalf("runtime endpoint faulted: %d", r.status)
		}
	}
	ts.SetFaults(Faults{})
	if r := ts.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts/b", "", nil); r.status != 404 {
		t.Errorf("a faulted upload was stored: %d", r.status)
	}
}
