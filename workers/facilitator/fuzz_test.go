package facilitator

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzVerify throws arbitrary bodies at /verify: it must never panic, answer
// only 200 or 400, and never call anything valid that is not the golden
// payment itself.
func FuzzVerify(f *testing.F) {
	golden, _ := json.Marshal(goldenRequest())
	f.Add(golden)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"x402Version":2,"paymentPayload":{"payload":{"authorization":{}}}}`))
	f.Add(bytes.Replace(golden, []byte(`"10000"`), []byte(`"1e4"`), 1))
	fac, err := New(Options{Now: func() time.Time { return goldenNow }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		fac.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/verify", bytes.NewReader(body)))
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		var out struct {
			IsValid bool   `json:"isValid"`
			Payer   string `json:"payer"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		if out.IsValid && out.Payer != goldenFrom {
			t.Fatalf("valid payment from %s: %q", out.Payer, body)
		}
	})
}
