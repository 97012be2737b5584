package runtime

import (
	"strings"
	"sync"
	"testing"

	"github.com/402claw/402claw/models/x402"
)

// signWithID has the official client (with @x402/extensions) sign the edge's own 402 for path,
// adding the payment-identifier id.
func (c *conformance) signWithID(path, id string) string {
	c.t.Helper()
	pr := decodeRequired(c.t, c.e.do(c.t, "GET", "", "/shop"+path, nil))
	var r struct {
		Header  string         `json:"header"`
		Payload map[string]any `json:"payload"`
		Error   string         `json:"error"`
	}
	c.client(&r, pr, "sign", id)
	if r.Error != "" || r.Header == "" {
		c.t.Fatalf("client could not sign with id %q: %s", id, r.Error)
	}
	ext, _ := r.Payload["extensions"].(map[string]any)
	pi, _ := ext["payment-identifier"].(map[string]any)
	info, _ := pi["info"].(map[string]any)
	if info["id"] != id {
		c.t.Fatalf("the official client did not echo the id: extensions %v", ext)
	}
	return r.Header
}

// TestPaymentIdentifier: idempotent retries with x402's payment-identifier extension through
// the real edge and the official client. The 402 declares the extension; a payment retried with
// the same id gets the first answer again (one tenant run, one settlement, no "already used"),
// concurrently too; the same id on another payment or request is 409, as is a malformed id.
func TestPaymentIdentifier(t *testing.T) {
	c := newConformance(t)

	t.Run("the 402 declares the extension", func(t *testing.T) {
		pr := decodeRequired(t, c.e.do(t, "GET", "", "/shop/paid", nil))
		pi, _ := pr.Extensions["payment-identifier"].(map[string]any)
		info, _ := pi["info"].(map[string]any)
		if info == nil || info["required"] != false || pi["schema"] == nil {
			t.Fatalf("extensions = %v", pr.Extensions)
		}
	})

	t.Run("the official client pays with an id", func(t *testing.T) {
		var r payResult
		c.client(&r, nil, "pay", c.e.rt.URL()+"/shop/replay/client-id", "pay_client_0123456789abcdef")
		if r.Error != "" || r.Status != 200 || r.Receipt == nil || !r.Receipt.Success {
			t.Fatalf("%+v", r)
		}
	})

	t.Run("same id, same payment: the first answer again, charged once", func(t *testing.T) {
		id := "pay_retry_0123456789abcdef"
		sig := c.signWithID("/replay/idem", id)
		settles := c.fac.settles.Load()
		first := c.send("/replay/idem", sig)
		var s x402.SettlementResponse
		if first.status != 200 || x402.DecodeHeader(first.header.Get("PAYMENT-RESPONSE"), &s) != nil || !s.Success {
			t.Fatalf("first: %d %s", first.status, first.body)
		}
		for i := range 3 {
			again := c.send("/replay/idem", sig)
			if again.status != 200 || again.body != first.body || again.header.Get("PAYMENT-RESPONSE") != first.header.Get("PAYMENT-RESPONSE") ||
				again.header.Get("Payment-Identifier-Replay") != "true" {
				t.Errorf("retry %d: %d %s %v, want the first answer", i, again.status, again.body, again.header)
			}
		}
		if n := c.runs("/replay/idem"); n != 1 {
			t.Errorf("tenant ran %d times, want 1", n)
		}
		if n := c.fac.settles.Load() - settles; n != 1 {
			t.Errorf("%d settlements, want 1", n)
		}
		// Without the id the same authorization is a replay: 402 as before.
		plain := c.sign(c.challengeFor("/replay/idem-plain", nil))[0]
		c.send("/replay/idem-plain", plain)
		if r := c.send("/replay/idem-plain", plain); r.status != 402 || !strings.Contains(r.body, "already_used") {
			t.Errorf("a replay without an id: %d %s", r.status, r.body)
		}
	})

	t.Run("concurrent retries with one id run the tenant once", func(t *testing.T) {
		sig := c.signWithID("/replay/idem-par", "pay_parallel_0123456789ab")
		settles := c.fac.settles.Load()
		var wg sync.WaitGroup
		res := make([]result, 8)
		for i := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i] = c.send("/replay/idem-par", sig)
			}()
		}
		wg.Wait()
		for _, r := range res {
			// The first answers 200; others get it kept, or 409 in progress while it runs.
			if r.status != 200 && !(r.status == 409 && r.errorCode() == "payment_identifier_in_progress" && r.header.Get("Retry-After") != "") {
				t.Errorf("concurrent retry: %d %s", r.status, r.body)
			}
		}
		if n := c.runs("/replay/idem-par"); n != 1 {
			t.Errorf("tenant ran %d times, want 1", n)
		}
		if n := c.fac.settles.Load() - settles; n != 1 {
			t.Errorf("%d settlements, want 1", n)
		}
		if r := c.send("/replay/idem-par", sig); r.status != 200 {
			t.Errorf("retry after the first finished: %d %s", r.status, r.body)
		}
	})

	t.Run("same id on another payment or request: 409", func(t *testing.T) {
		id := "pay_conflict_0123456789ab"
		sig := c.signWithID("/replay/conflict-a", id)
		if r := c.send("/replay/conflict-a", sig); r.status != 200 {
			t.Fatalf("first: %d %s", r.status, r.body)
		}
		settles := c.fac.settles.Load()
		other := c.signWithID("/replay/conflict-a", id) // a new authorization, same id
		if r := c.send("/replay/conflict-a", other); r.status != 409 || r.errorCode() != "payment_identifier_conflict" {
			t.Errorf("another payment with the id: %d %s", r.status, r.body)
		}
		if r := c.send("/replay/conflict-b", sig); r.status != 409 || r.errorCode() != "payment_identifier_conflict" {
			t.Errorf("the payment on another request: %d %s", r.status, r.body)
		}
		if c.fac.settles.Load() != settles || c.runs("/replay/conflict-a") != 1 || c.runs("/replay/conflict-b") != 0 {
			t.Error("a conflicting payment ran or was charged")
		}
	})

	t.Run("malformed ids: 409, not run", func(t *testing.T) {
		sig := c.signWithID("/replay/bad-id", "pay_good_0123456789abcdef")
		for name, id := range map[string]string{"too long": strings.Repeat("a", 129), "too short": "short", "bad characters": "pay 0123456789abcdef!"} {
			bad := withExtensionID(t, sig, id)
			if r := c.send("/replay/bad-id", bad); r.status != 409 || r.errorCode() != "payment_identifier_invalid" {
				t.Errorf("%s: %d %s", name, r.status, r.body)
			}
		}
		if n := c.runs("/replay/bad-id"); n != 0 {
			t.Errorf("tenant ran %d times", n)
		}
	})

	t.Run("a payment refused before the tenant ran keeps nothing", func(t *testing.T) {
		sig := c.signWithID("/down", "pay_down_0123456789abcdef")
		c.fac.mode.Store(facError)
		r := c.send("/down", sig)
		c.fac.mode.Store(facOK)
		if r.status != 503 {
			t.Fatalf("facilitator down: %d %s", r.status, r.body)
		}
		if r := c.send("/down", sig); r.status != 200 || r.header.Get("Payment-Identifier-Replay") != "" {
			t.Errorf("the retry once the facilitator is back: %d %s", r.status, r.body)
		}
	})
}

// withExtensionID replaces the payment-identifier id of a PAYMENT-SIGNATURE value.
func withExtensionID(t *testing.T, header, id string) string {
	t.Helper()
	var p map[string]any
	if err := x402.DecodeHeader(header, &p); err != nil {
		t.Fatal(err)
	}
	p["extensions"].(map[string]any)["payment-identifier"].(map[string]any)["info"].(map[string]any)["id"] = id
	out, err := x402.EncodeHeader(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
