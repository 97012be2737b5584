package facilitator

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func withBehaviour(t *testing.T, b Behaviour) *Facilitator {
	t.Helper()
	f, err := New(Options{Now: func() time.Time { return goldenNow }, Behaviour: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestParseFaults(t *testing.T) {
	good, err := ParseFaults(" settlement_pending:0.2, insufficient_funds:0.05,timeout:0,5xx:0.01 ")
	if err != nil || good[FaultPending] != 0.2 || good[FaultInsufficientFunds] != 0.05 || good[FaultServerError] != 0.01 {
		t.Fatalf("%v %v", good, err)
	}
	if (Behaviour{Faults: good}).String() != "5xx:0.01,insufficient_funds:0.05,settlement_pending:0.2" {
		t.Errorf("String() = %q", Behaviour{Faults: good}.String())
	}
	for _, bad := range []string{"pending:0.1", "settlement_pending", "timeout:2", "5xx:-0.1", "timeout:x", "timeout:0.6,5xx:0.6"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// TestFaultRates: over many payments each fault takes its share, and a payment always meets
// the same one (a retry sees what the first attempt saw).
func TestFaultRates(t *testing.T) {
	b := Behaviour{Faults: map[Fault]float64{FaultPending: 0.2, FaultInsufficientFunds: 0.1, FaultServerError: 0.05}}
	counts := map[Fault]int{}
	const n = 20000
	for i := range n {
		key := fmt.Sprintf("eip155:84532|0xpayer|0x%064x", i)
		f := b.faultFor(key)
		if b.faultFor(key) != f {
			t.Fatal("a payment's fault changed between calls")
		}
		counts[f]++
	}
	for f, rate := range b.Faults {
		if got := float64(counts[f]) / n; math.Abs(got-rate) > 0.015 {
			t.Errorf("%s: %.3f of payments, want %.2f", f, got, rate)
		}
	}
}

func TestPendingThenSettled(t *testing.T) {
	f := withBehaviour(t, Behaviour{Faults: map[Fault]float64{FaultPending: 1}})
	wantTx := SimulatedTransaction("eip155:84532", goldenFrom, goldenNonce)
	rec, out := post(t, f, "/settle", goldenRequest())
	if rec.Code != 200 || out["success"] != false || out["errorReason"] != ReasonPending || out["transaction"] != wantTx {
		t.Fatalf("first settle: %d %s", rec.Code, rec.Body)
	}
	// The same payload again: the broadcast confirmed, the same transaction, no second charge.
	rec, out = post(t, f, "/settle", goldenRequest())
	if rec.Code != 200 || out["success"] != true || out["transaction"] != wantTx || out["payer"] != goldenFrom {
		t.Fatalf("retried settle: %d %s", rec.Code, rec.Body)
	}
	// The nonce is spent: a new verify of the same payment fails.
	if _, out := post(t, f, "/verify", goldenRequest()); out["isValid"] != false || out["invalidReason"] != ReasonNonceUsed {
		t.Errorf("verify after the pending settlement: %v", out)
	}
}

func TestInsufficientFundsAndServerErrors(t *testing.T) {
	f := withBehaviour(t, Behaviour{Faults: map[Fault]float64{FaultInsufficientFunds: 1}})
	if _, out := post(t, f, "/verify", goldenRequest()); out["isValid"] != false || out["invalidReason"] != ReasonInsufficientFunds {
		t.Errorf("verify: %v", out)
	}
	if _, out := post(t, f, "/settle", goldenRequest()); out["success"] != false || out["errorReason"] != ReasonInsufficientFunds {
		t.Errorf("settle: %v", out)
	}
	// Insufficient funds consumes nothing: without the fault the payment settles.
	f5 := withBehaviour(t, Behaviour{Faults: map[Fault]float64{FaultServerError: 1}})
	for _, path := range []string{"/verify", "/settle"} {
		if rec, _ := post(t, f5, path, goldenRequest()); rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s with 5xx faults: %d", path, rec.Code)
		}
	}
}

func TestLatencyAndTimeout(t *testing.T) {
	f := withBehaviour(t, Behaviour{VerifyDelay: 40 * time.Millisecond, SettleDelay: 150 * time.Millisecond})
	start := time.Now()
	post(t, f, "/verify", goldenRequest())
	verify := time.Since(start)
	start = time.Now()
	if _, out := post(t, f, "/settle", goldenRequest()); out["success"] != true {
		t.Fatalf("settle: %v", out)
	}
	settle := time.Since(start)
	if verify < 40*time.Millisecond || settle < 150*time.Millisecond {
		t.Errorf("verify took %s (want ≥ 40 ms), settle %s (want ≥ 150 ms)", verify, settle)
	}
	ft := withBehaviour(t, Behaviour{Faults: map[Fault]float64{FaultTimeout: 1}, HangFor: 200 * time.Millisecond})
	srv := httptest.NewServer(ft)
	defer srv.Close()
	client := &http.Client{Timeout: 50 * time.Millisecond}
	if _, err := client.Post(srv.URL+"/settle", "application/json", strings.NewReader(mustJSON(goldenRequest()))); err == nil {
		t.Error("a timeout fault answered within 50 ms")
	}
}
