package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
)

// TestBillingSwitch: demo billing upgrades anyone for free, so it runs only
// when the operator says CLAW_BILLING=demo — not because a local install
// has no Stripe key (the Docker image's default), as it used to.
func TestBillingSwitch(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		mode    billing.Mode
		upgrade bool // POST /billing/demo-checkout plan=pro makes the tenant pro
	}{
		{"default: no key, local edge", nil, billing.ModeOff, false},
		{"explicit off", map[string]string{"CLAW_BILLING": "off"}, billing.ModeOff, false},
		{"off with a key", map[string]string{"CLAW_BILLING": "off", "CLAW_STRIPE_SECRET_KEY": "sk_test_x", "CLAW_STRIPE_WEBHOOK_SECRET": "whsec_x"}, billing.ModeOff, false},
		{"a key", map[string]string{"CLAW_STRIPE_SECRET_KEY": "sk_test_x", "CLAW_STRIPE_WEBHOOK_SECRET": "whsec_x"}, billing.ModeStripe, false},
		{"asked for demo", map[string]string{"CLAW_BILLING": "demo"}, billing.ModeDemo, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"CLAW_BASE_URL": "http://" + ln.Addr().String()}
			for k, v := range c.env {
				env[k] = v
			}
			cfg, err := LoadConfig(nil, func(k string) string { return env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			store := models.NewStore(modeltest.SQLite(t).Gorm)
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			svc, err := newBilling(cfg, store, log)
			if err != nil {
				t.Fatal(err)
			}
			if svc.Mode() != c.mode {
				t.Fatalf("billing mode %s, want %s", svc.Mode(), c.mode)
			}
			app, _, err := web.New(web.Options{Store: store, Logger: log, BaseURL: cfg.BaseURL, SignupOpen: true, AuthRate: 1000,
				SecretKey: make([]byte, 32), Billing: svc})
			if err != nil {
				t.Fatal(err)
			}
			go app.Listener(ln)
			t.Cleanup(func() { app.ShutdownWithContext(context.Background()) })

			jar, _ := cookiejar.New(nil)
			hc := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			post := func(path string, form url.Values) int {
				res, err := hc.Get(cfg.BaseURL + "/")
				if err != nil {
					t.Fatal(err)
				}
				page, _ := io.ReadAll(res.Body)
				res.Body.Close()
				m := regexp.MustCompile(`hx-headers="([^"]*)"`).FindSubmatch(page)
				var h struct {
					Token string `json:"X-Csrf-Token"`
				}
				if m == nil || json.Unmarshal([]byte(strings.ReplaceAll(string(m[1]), "&#34;", `"`)), &h) != nil {
					t.Fatalf("no csrf token on the page")
				}
				form.Set("_csrf", h.Token)
				res, err = hc.PostForm(cfg.BaseURL+path, form)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res.StatusCode
			}
			if s := post("/signup", url.Values{"email": {"t@example.com"}, "password": {"a good long password"}, "tenant": {"T"}}); s != http.StatusSeeOther {
				t.Fatalf("sign up: %d", s)
			}
			status := post("/billing/demo-checkout", url.Values{"plan": {"pro"}})
			u, err := store.UserByEmail(context.Background(), "t@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if pro := u.Tenant.PlanKey == "pro"; pro != c.upgrade {
				t.Fatalf("after POST /billing/demo-checkout (%d) the tenant is on %s", status, u.Tenant.PlanKey)
			}
			if !c.upgrade && status != http.StatusNotFound {
				t.Fatalf("POST /billing/demo-checkout: %d, want 404 (no such route)", status)
			}
		})
	}
}
