package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/web"
)

// TestConsolePayOnlyWhereDevFacilitatorSettles: the test console offers "pay with the dev
// wallet" on a 402 only where the dev facilitator is the one that would settle it: a local edge
// whose default facilitator is the portal's own /dev-facilitator, and no configured facilitator
// for the network. Elsewhere the dev wallet's signature would go to a real facilitator.
func TestConsolePayOnlyWhereDevFacilitatorSettles(t *testing.T) {
	const network = "eip155:84532"
	hdr, err := x402.EncodeHeader(x402.PaymentRequired{X402Version: 2, Accepts: []x402.Requirements{{Scheme: x402.SchemeExact, Network: network,
		Amount: "10000", Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PayTo: "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", MaxTimeoutSeconds: 60,
		Extra: map[string]string{"name": "USDC", "version": "2"}}}})
	if err != nil {
		t.Fatal(err)
	}
	edge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(x402.HeaderPaymentRequired, hdr)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusPaymentRequired)
		w.Write([]byte(`{"error":{"code":"payment_required","message":"pay"}}`))
	}))
	defer edge.Close()
	dev := func(o *web.Options) {
		o.EdgeInfo = web.EdgeInfo{Local: true, EdgeURL: edge.URL}
		o.DefaultFacilitatorURL = o.BaseURL + "/dev-facilitator"
		o.Mounts = []web.Mount{{Prefix: "/dev-facilitator", Handler: http.NotFoundHandler()}}
	}
	for _, tc := range []struct {
		name   string
		opts   []func(*web.Options)
		other  bool // a configured facilitator settles the network
		canPay bool
	}{
		{"dev facilitator", []func(*web.Options){dev}, false, true},
		{"a real default facilitator", []func(*web.Options){dev, func(o *web.Options) { o.DefaultFacilitatorURL = "https://facilitator.example" }}, false, false},
		{"a configured facilitator for the network", []func(*web.Options){dev}, true, false},
		{"Cloudflare edge", []func(*web.Options){dev, func(o *web.Options) { o.EdgeInfo.Local = false }}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPortal(t, tc.opts...)
			b, _ := tenantApp(t, p, "pay@example.com", "Pay Co", "payme")
			if tc.other {
				f := &models.Facilitator{URL: "https://settler.example", Networks: network, AuthType: models.FacilitatorAuthNone}
				if err := p.Store.SaveFacilitator(context.Background(), f, nil, "", make([]byte, 32)); err != nil {
					t.Fatal(err)
				}
			}
			r := b.htmxPost("/apps/payme/console", url.Values{"method": {"GET"}, "path": {"/paid"}})
			if r.Status != 200 || !strings.Contains(r.Body, "402") {
				t.Fatalf("console: %d %.500s", r.Status, r.Body)
			}
			if got := strings.Contains(r.Body, `class="console-pay`); got != tc.canPay {
				t.Errorf("pay button shown = %v, want %v", got, tc.canPay)
			}
		})
	}
}
