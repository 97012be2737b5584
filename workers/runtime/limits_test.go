package runtime

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
)

// awayFromMinuteEnd waits out the last seconds of a UTC minute, so that a
// per-minute window cannot roll over in the middle of a test.
func awayFromMinuteEnd() {
	if s := time.Now().UTC().Second(); s >= 55 {
		time.Sleep(time.Duration(61-s) * time.Second)
	}
}

func TestCallerLimits(t *testing.T) {
	e := edge(t)
	e.deploy("limited", echoWorker, nil, func(c *appConfig) {
		c.Routes = []map[string]any{
			{"method": "GET", "path": "/open", "access": "public", "limits": map[string]any{"perMinute": 3}},
			{"method": "GET", "path": "/keyed", "access": "api_key", "limits": map[string]any{"perMinute": 5}},
			{"method": "GET", "path": "/daily", "access": "api_key", "limits": map[string]any{"perMinute": 10, "daily": 3}},
			{"method": "GET", "path": "/free", "access": "public"},
		}
		c.APIKeys = []string{sha("key-a"), sha("key-b"), sha("key-c")}
	})
	awayFromMinuteEnd()

	t.Run("perMinute=3: three answers, then 429 with the headers; another caller is not affected", func(t *testing.T) {
		ip := map[string]string{"CF-Connecting-IP": "203.0.113.7"}
		for i := 0; i < 3; i++ {
			r := e.do(t, "GET", "", "/limited/open", ip)
			if r.status != 200 {
				t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
			}
			if want := `"minute";r=` + string(rune('2'-i)) + `;t=`; !strings.HasPrefix(r.header.Get("RateLimit"), want) {
				t.Errorf("request %d: RateLimit %q, want %s…", i+1, r.header.Get("RateLimit"), want)
			}
		}
		r := e.do(t, "GET", "", "/limited/open", ip)
		if r.status != 429 || r.errorCode() != "rate_limited" {
			t.Fatalf("4th request: %d %s", r.status, r.body)
		}
		if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" || len(ra) > 2 {
			t.Errorf("Retry-After %q, want 1–60 seconds", ra)
		}
		if p := r.header.Get("RateLimit-Policy"); p != `"minute";q=3;w=60` {
			t.Errorf("RateLimit-Policy %q", p)
		}
		if l := r.header.Get("RateLimit"); !strings.HasPrefix(l, `"minute";r=0;t=`) {
			t.Errorf("RateLimit %q", l)
		}
		if !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "RateLimit") {
			t.Errorf("RateLimit headers not exposed to browsers: %q", r.header.Get("Access-Control-Expose-Headers"))
		}
		if r := e.do(t, "GET", "", "/limited/open", map[string]string{"CF-Connecting-IP": "198.51.100.9"}); r.status != 200 {
			t.Errorf("another IP: %d %s", r.status, r.body)
		}
		if r := e.do(t, "GET", "", "/limited/free", ip); r.status != 200 || r.header.Get("RateLimit") != "" {
			t.Errorf("route without limits: %d %s RateLimit %q", r.status, r.body, r.header.Get("RateLimit"))
		}
	})

	// The minute window is counted in the dispatcher's memory, the daily quota in the caller's
	// Durable Object; both are exact with 20 requests at once, and a request the quota refuses
	// uses none of the minute (so the second burst reaches the quota again, not the minute).
	for _, tc := range []struct {
		name, path, key string
		pass, quota     int // answers 200; at least this many 429 quota_exhausted (the rest: 429 rate_limited)
	}{
		{"perMinute=5 (memory)", "/limited/keyed", "key-a", 5, 0},
		// At least 10 pass the minute window and reach the quota, 3 of them pass it. The ones
		// it refuses are given back to the minute, so how many more reach the quota depends on
		// when they arrive.
		{"daily=3 under perMinute=10 (Durable Object)", "/limited/daily", "key-c", 3, 7},
	} {
		t.Run("20 concurrent callers on one key, "+tc.name+": exactly the allowed number pass", func(t *testing.T) {
			var mu sync.Mutex
			counts := map[string]int{}
			var wg sync.WaitGroup
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := e.do(t, "GET", "", tc.path, map[string]string{"X-API-Key": tc.key})
					mu.Lock()
					counts[fmt.Sprint(r.status)+" "+r.errorCode()]++
					mu.Unlock()
					if r.status == 429 && (r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Policy") == "") {
						t.Errorf("refusal without its headers: %s %v", r.body, r.header)
					}
				}()
			}
			wg.Wait()
			if counts["200 "] != tc.pass || counts["429 quota_exhausted"] < tc.quota ||
				counts["200 "]+counts["429 rate_limited"]+counts["429 quota_exhausted"] != 20 {
				t.Fatalf("answers %v, want %d×200, at least %d×quota_exhausted, the rest rate_limited", counts, tc.pass, tc.quota)
			}
			if tc.quota > 0 {
				// The refused requests used none of the minute: the next one reaches the quota again.
				r := e.do(t, "GET", "", tc.path, map[string]string{"X-API-Key": tc.key})
				if r.status != 429 || r.errorCode() != "quota_exhausted" || !strings.Contains(r.header.Get("RateLimit"), `"day";r=0;`) {
					t.Fatalf("after the burst: %d %s %v", r.status, r.body, r.header)
				}
			}
			if r := e.do(t, "GET", "", tc.path, map[string]string{"X-API-Key": "key-b"}); r.status != 200 {
				t.Errorf("another key: %d %s", r.status, r.body)
			}
		})
	}
}

// A payer over the route's limit gets a 429 before anything is settled, and
// the daily quota (the caller's Durable Object) holds across a restart of
// workerd; the minute window (the dispatcher's memory) starts afresh.
func TestCallerLimitsPaid(t *testing.T) {
	c := newConformance(t)
	if r := c.pay("/paid"); r.Status != 200 {
		t.Fatalf("warm-up payment: %+v", r)
	}
	doc, _ := json.Marshal(map[string]any{"v": 1, "config_version": 1, "slug": "lim", "script": "app-shop", "etag": "v1", "tenant_id": 7,
		"status": "active", "plan": map[string]any{"cpuMs": 50, "subRequests": 10}, "api_keys": []any{}, "egress": []any{},
		"routes": []any{map[string]any{"method": "GET", "path": "/limited", "access": "x402", "settle": "before", "requirements": c.req,
			"limits": map[string]any{"perMinute": 1, "daily": 1, "challengesPerMinute": 2}}}})
	c.api("PUT", "storage/kv/namespaces/"+c.cfgNS+"/values/app:lim", "application/octet-stream", doc, nil)
	pr := x402.PaymentRequired{X402Version: 2, Resource: &x402.Resource{URL: c.e.rt.URL() + "/lim/limited"}, Accepts: []x402.Requirements{c.req}}
	sigs := c.sign(pr, pr, pr)
	awayFromMinuteEnd()

	send := func(sig string) result {
		return c.e.do(t, "GET", "", "/lim/limited", map[string]string{"PAYMENT-SIGNATURE": sig})
	}
	before := c.fac.settles.Load()
	if r := send(sigs[0]); r.status != 200 || r.header.Get("PAYMENT-RESPONSE") == "" || !strings.HasPrefix(r.header.Get("RateLimit"), `"minute";r=0;`) ||
		!strings.Contains(r.header.Get("RateLimit"), `"day";r=0;`) {
		t.Fatalf("first payment: %d %s %v", r.status, r.body, r.header)
	}
	r := send(sigs[1])
	if r.status != 429 || r.errorCode() != "rate_limited" || r.header.Get("Retry-After") == "" || r.header.Get("PAYMENT-RESPONSE") != "" {
		t.Fatalf("second payment: %d %s %v", r.status, r.body, r.header)
	}
	if n := c.fac.settles.Load() - before; n != 1 {
		t.Errorf("%d settlements, want 1: the limited payer was charged", n)
	}
	if n := c.runs("/limited"); n != 1 {
		t.Errorf("tenant ran %d times, want 1", n)
	}

	// This edge trusts no proxy in front (the default): CF-Connecting-IP is the peer's address,
	// whatever the consumer sends, so changing the header does not buy a fresh bucket.
	t.Run("unpaid challenges per IP; a spoofed CF-Connecting-IP does not reset the limit", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if r := c.e.do(t, "GET", "", "/lim/limited", map[string]string{"CF-Connecting-IP": fmt.Sprintf("192.0.2.%d", i+1)}); r.status != 402 {
				t.Fatalf("challenge %d: %d %s", i+1, r.status, r.body)
			}
		}
		for _, h := range []map[string]string{nil, {"CF-Connecting-IP": "192.0.2.3"}, {"cf-connecting-ip": "198.51.100.1, 192.0.2.4"}} {
			if r := c.e.do(t, "GET", "", "/lim/limited", h); r.status != 429 || r.header.Get("RateLimit-Policy") != `"minute";q=2;w=60` {
				t.Fatalf("3rd challenge with %v: %d %s %v", h, r.status, r.body, r.header)
			}
		}
	})

	t.Run("the daily quota survives a restart", func(t *testing.T) {
		c.stop()
		c.start()
		if r := send(sigs[2]); r.status != 429 || r.errorCode() != "quota_exhausted" || r.header.Get("PAYMENT-RESPONSE") != "" {
			t.Fatalf("after the restart: %d %s", r.status, r.body)
		}
		if n := c.fac.settles.Load() - before; n != 1 {
			t.Errorf("%d settlements, want 1", n)
		}
	})
}
