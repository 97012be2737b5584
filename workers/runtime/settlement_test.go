package runtime

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
)

// waitSettlement polls the ingest for an outbox record of the payment lock matching pred.
func (s *ingestServer) waitSettlement(t *testing.T, d time.Duration, pred func(map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		for _, r := range s.settlements {
			if pred(r) {
				s.mu.Unlock()
				return r
			}
		}
		s.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.Fatalf("no matching settlement record arrived; have %v", s.settlements)
	return nil
}

// nonceOf reads the authorization nonce of a PAYMENT-SIGNATURE value.
func nonceOf(t *testing.T, sig string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Payload struct {
			Authorization struct{ Nonce string } `json:"authorization"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	return strings.ToLower(p.Payload.Authorization.Nonce)
}

// Settlement modes and pending settlements through the dispatcher in workerd, paid by the
// official client: the tenant runs once and the payer is charged at most once whatever the
// facilitator answers.
func TestSettlementModes(t *testing.T) {
	c := newConformance(t)
	if r := c.pay("/paid"); r.Status != 200 {
		t.Fatalf("warm-up payment: %+v", r)
	}
	forNonce := func(nonce string, success bool, result string) func(map[string]any) bool {
		return func(r map[string]any) bool {
			return strings.EqualFold(r["nonce"].(string), nonce) && r["success"] == success && r["settlement_result"] == result
		}
	}

	t.Run("settlement_pending is retried once with the same payment", func(t *testing.T) {
		for _, path := range []string{"/pending/once", "/pending-before/once"} {
			before := c.fac.settles.Load()
			c.fac.pendingLeft.Store(1)
			sig := c.sign(c.challengeFor(path, nil))[0]
			r := c.send(path, sig)
			var s x402.SettlementResponse
			if r.status != 200 || x402.DecodeHeader(r.header.Get("PAYMENT-RESPONSE"), &s) != nil || !s.Success {
				t.Errorf("%s: %d %s receipt %+v", path, r.status, r.body, s)
			}
			if n := c.fac.settles.Load() - before; n != 1 {
				t.Errorf("%s: %d settlements reached the chain, want 1", path, n)
			}
			if n := c.runs(path); n != 1 {
				t.Errorf("%s: tenant ran %d times, want 1", path, n)
			}
			c.ingest.waitSettlement(t, 10*time.Second, forNonce(nonceOf(t, sig), true, "success"))
		}
	})

	t.Run("still pending: served once, pending in the ledger, settled in the background", func(t *testing.T) {
		for _, path := range []string{"/pending/twice", "/pending-before/twice"} {
			before := c.fac.settles.Load()
			c.fac.pendingLeft.Store(2)
			sig := c.sign(c.challengeFor(path, nil))[0]
			r := c.send(path, sig)
			var s x402.SettlementResponse
			if r.status != 200 || !strings.Contains(r.body, `"ok":true`) || x402.DecodeHeader(r.header.Get("PAYMENT-RESPONSE"), &s) != nil || s.ErrorReason != "settlement_pending" || s.Transaction == "" {
				t.Errorf("%s: %d %s receipt %+v", path, r.status, r.body, s)
			}
			nonce := nonceOf(t, sig)
			c.ingest.waitSettlement(t, 10*time.Second, forNonce(nonce, false, "settlement_pending"))
			c.ingest.waitSettlement(t, 15*time.Second, forNonce(nonce, true, "success"))
			if n := c.fac.settles.Load() - before; n != 1 {
				t.Errorf("%s: %d settlements reached the chain, want 1", path, n)
			}
			if n := c.runs(path); n != 1 {
				t.Errorf("%s: tenant ran %d times, want 1", path, n)
			}
			// The same payment again: used (the lock or, once settled, the facilitator says so).
			if r := c.send(path, sig); r.status != 402 || !strings.Contains(r.body, "already_used") {
				t.Errorf("%s replayed: %d %s", path, r.status, r.body)
			}
		}
	})

	t.Run("optimistic: answered at once, settled after", func(t *testing.T) {
		before := c.fac.settles.Load()
		r := c.pay("/optimistic/a")
		if r.Error != "" || r.Status != 200 || !strings.Contains(r.Body, `"ok":true`) || r.Cache != "private" {
			t.Fatalf("optimistic with the official client: %+v", r)
		}
		c.ingest.waitSettlement(t, 10*time.Second, func(m map[string]any) bool {
			return m["route"] == "GET /optimistic/*" && m["success"] == true && m["settlement_result"] == "success"
		})
		if n := c.fac.settles.Load() - before; n != 1 {
			t.Errorf("%d settlements, want 1", n)
		}
	})

	t.Run("optimistic loss refuses the payer on optimistic routes only", func(t *testing.T) {
		c.fac.mode.Store(facSettleFails)
		sig := c.sign(c.challengeFor("/optimistic/b", nil))[0]
		r := c.send("/optimistic/b", sig)
		if r.status != 200 || !strings.Contains(r.body, `"ok":true`) {
			t.Fatalf("optimistic answer: %d %s", r.status, r.body)
		}
		c.ingest.waitSettlement(t, 10*time.Second, forNonce(nonceOf(t, sig), false, "optimistic_loss:invalid_exact_evm_insufficient_balance"))
		c.fac.mode.Store(facOK)
		sig = c.sign(c.challengeFor("/optimistic/c", nil))[0]
		if r := c.send("/optimistic/c", sig); r.status != 402 || r.errorCode() != "payer_refused" {
			t.Errorf("refused payer: %d %s", r.status, r.body)
		}
		if n := c.runs("/optimistic/c"); n != 0 {
			t.Errorf("tenant ran %d times for a refused payer", n)
		}
		if r := c.pay("/paid"); r.Status != 200 {
			t.Errorf("the payer on an after-mode route: %+v", r)
		}
	})

	t.Run("an answer that breaks off is never settled", func(t *testing.T) {
		before := c.fac.settles.Load()
		sig := c.sign(c.challengeFor("/broken/a", nil))[0]
		r := c.send("/broken/a", sig)
		if r.status != 502 || r.errorCode() != "answer_broken" || r.header.Get("PAYMENT-RESPONSE") != "" {
			t.Errorf("broken answer: %d %s receipt %q, want 502 answer_broken without a receipt", r.status, r.body, r.header.Get("PAYMENT-RESPONSE"))
		}
		if n := c.fac.settles.Load() - before; n != 0 {
			t.Errorf("%d settlements for an answer the payer never got", n)
		}
		if n := c.runs("/broken/a"); n != 1 {
			t.Errorf("tenant ran %d times, want 1", n)
		}
		// It ran code, so the same payment never runs again.
		if r := c.send("/broken/a", sig); r.status != 402 || r.errorCode() != "payment_already_used" {
			t.Errorf("the same payment again: %d %s", r.status, r.body)
		}
	})

	t.Run("the 402 page says what the mode means", func(t *testing.T) {
		for path, want := range map[string]string{"/optimistic/x": "answers at once", "/pending-before/x": "settled before", "/paid": "only after"} {
			r := c.e.do(t, "GET", "", "/shop"+path, map[string]string{"Accept": "text/html"})
			if r.status != 402 || !strings.Contains(r.body, want) {
				t.Errorf("%s page lacks %q: %d", path, want, r.status)
			}
		}
	})
}

// TestOptimisticRefusalDuration: how long a payer whose optimistic settlement failed is
// refused is the route's own refusal time where the tenant set one (Route.RefuseSeconds →
// refuse_s), else the operator's (CLAW_OPTIMISTIC_REFUSE → Options.OptimisticRefuse → the
// dispatcher's OPTIMISTIC_REFUSE_S, an hour by default); 0 refuses nobody.
func TestOptimisticRefusalDuration(t *testing.T) {
	c := newConformance(t)
	lose := func(path string) {
		t.Helper()
		c.fac.mode.Store(facSettleFails)
		sig := c.sign(c.challengeFor(path, nil))[0]
		if r := c.send(path, sig); r.status != 200 {
			t.Fatalf("optimistic answer: %d %s", r.status, r.body)
		}
		c.ingest.waitSettlement(t, 10*time.Second, func(m map[string]any) bool {
			return strings.EqualFold(m["nonce"].(string), nonceOf(t, sig)) && m["success"] == false
		})
		c.fac.mode.Store(facOK)
	}
	// Signed ahead: the client takes a second or more on a busy machine.
	sigs := map[string]string{}
	for _, p := range []string{"/optimistic/short-refused", "/optimistic/short-after", "/optimistic/zero-after",
		"/never/after", "/optimistic/after-never", "/optimistic/quick-refused", "/quick/after"} {
		sigs[p] = c.sign(c.challengeFor(p, nil))[0]
	}
	// Every route here is optimistic: a 200 leaves before its settlement, which must be
	// over before the next lose() makes the facilitator fail, or that settlement fails too
	// and refuses the payer on the edge's default time.
	status := func(path string) int {
		t.Helper()
		st := c.send(path, sigs[path]).status
		if st == 200 {
			c.ingest.waitSettlement(t, 10*time.Second, func(m map[string]any) bool {
				return strings.EqualFold(m["nonce"].(string), nonceOf(t, sigs[path])) && m["success"] == true
			})
		}
		return st
	}
	restart := func(d time.Duration) {
		c.stop()
		c.opts.OptimisticRefuse = &d
		c.start()
	}

	// The edge's default is an hour; a route's own time wins. /never/* refuses nobody...
	lose("/never/loss")
	if st := status("/never/after"); st != 200 {
		t.Errorf("after a loss on a route that refuses nobody: %d, want 200", st)
	}
	if st := status("/optimistic/after-never"); st != 200 {
		t.Errorf("another optimistic route after a loss on a route that refuses nobody: %d, want 200", st)
	}
	// ...and a loss on /quick/* (3 s) refuses the payer on the app's optimistic routes for 3 s,
	// not the edge's hour.
	lose("/quick/loss")
	quick := time.Now()
	if st := status("/optimistic/quick-refused"); st != 402 {
		t.Errorf("right after a loss on a 3 s route: %d, want 402 payer_refused", st)
	}
	time.Sleep(time.Until(quick.Add(4 * time.Second)))
	if st := status("/quick/after"); st != 200 {
		t.Errorf("after the route's 3 s refusal: %d, want 200 (the edge's hour applied?)", st)
	}

	restart(4 * time.Second)
	lose("/optimistic/short-loss")
	lost := time.Now()
	if st := status("/optimistic/short-refused"); st != 402 {
		t.Errorf("right after the loss: %d, want 402 payer_refused", st)
	}
	time.Sleep(time.Until(lost.Add(5 * time.Second)))
	if st := status("/optimistic/short-after"); st != 200 {
		t.Errorf("after the 4 s refusal: %d, want 200", st)
	}

	restart(0)
	lose("/optimistic/zero-loss")
	if st := status("/optimistic/zero-after"); st != 200 {
		t.Errorf("with no refusal configured: %d, want 200", st)
	}
}
