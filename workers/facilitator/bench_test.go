package facilitator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
)

func BenchmarkVerify(b *testing.B) {
	f, err := New(Options{Now: func() time.Time { return goldenNow }})
	if err != nil {
		b.Fatal(err)
	}
	body, _ := json.Marshal(goldenRequest())
	for b.Loop() {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/verify", bytes.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Body)
		}
	}
}

// BenchmarkSettle includes the fsync of the nonce store, which dominates.
func BenchmarkSettle(b *testing.B) {
	now := time.Unix(1_800_000_000, 0)
	f, err := New(Options{NoncePath: filepath.Join(b.TempDir(), "nonces"), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	key, _ := DevWallet()
	req := goldenRequirements()
	var bodies [][]byte
	for i := range b.N {
		var nonce [32]byte
		nonce[0], nonce[1], nonce[2] = byte(i), byte(i>>8), byte(i>>16)
		p, err := SignPayment(key, req, nil, now.Add(-time.Minute), now.Add(time.Minute), nonce)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := json.Marshal(x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: req})
		bodies = append(bodies, body)
	}
	b.ResetTimer()
	for i := range b.N {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/settle", bytes.NewReader(bodies[i])))
		if !bytes.Contains(rec.Body.Bytes(), []byte(`"success":true`)) {
			b.Fatal(rec.Body)
		}
	}
}
