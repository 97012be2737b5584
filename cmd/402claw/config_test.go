package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadConfig(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(secretFile, []byte("sk_test_123\n"), 0o600)
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // the variable the one-line error must name
		check   func(*Config) bool
	}{
		{"defaults", nil, nil, "", func(c *Config) bool {
			return c.Addr == "127.0.0.1:8080" && c.EdgeAddr == "127.0.0.1:8787" && c.DataDir == "./data" && c.Signup == "open" &&
				c.BaseURL == "http://127.0.0.1:8080" && c.LocalEdge() && c.BillingGrace == 72*time.Hour && c.TelemetryRetention == 168*time.Hour
		}},
		{"retention", map[string]string{"CLAW_TELEMETRY_RETENTION": "720h"}, nil, "", func(c *Config) bool { return c.TelemetryRetention == 720*time.Hour }},
		{"retention in days", map[string]string{"CLAW_TELEMETRY_RETENTION": "7d"}, nil, "CLAW_TELEMETRY_RETENTION", nil},
		{"retention under an hour", nil, []string{"-telemetry-retention", "10m"}, "CLAW_TELEMETRY_RETENTION", nil},
		{"flag wins over env", map[string]string{"CLAW_ADDR": "127.0.0.1:1"}, []string{"-addr", "127.0.0.1:2"}, "", func(c *Config) bool { return c.Addr == "127.0.0.1:2" }},
		{"secret from file", map[string]string{"CLAW_STRIPE_SECRET_KEY_FILE": secretFile, "CLAW_STRIPE_WEBHOOK_SECRET": "whsec_x"}, nil, "", func(c *Config) bool { return c.StripeSecretKey == "sk_test_123" }},
		{"both var and file", map[string]string{"CLAW_STRIPE_SECRET_KEY": "a", "CLAW_STRIPE_SECRET_KEY_FILE": secretFile}, nil, "CLAW_STRIPE_SECRET_KEY", nil},
		{"missing file", map[string]string{"CLAW_DATABASE_URL_FILE": "/nonexistent/x"}, nil, "CLAW_DATABASE_URL_FILE", nil},
		{"bad signup", map[string]string{"CLAW_SIGNUP": "maybe"}, nil, "CLAW_SIGNUP", nil},
		{"bad addr", map[string]string{"CLAW_ADDR": "8080"}, nil, "CLAW_ADDR", nil},
		{"bad database url", map[string]string{"CLAW_DATABASE_URL": "mysql://x"}, nil, "CLAW_DATABASE_URL", nil},
		{"sqlite url", map[string]string{"CLAW_DATABASE_URL": "sqlite:/tmp/x.db"}, nil, "", func(c *Config) bool { return c.DatabaseURL == "sqlite:/tmp/x.db" }},
		{"bad duration", map[string]string{"CLAW_SESSION_IDLE": "soon"}, nil, "CLAW_SESSION_IDLE", nil},
		{"idle longer than max", map[string]string{"CLAW_SESSION_IDLE": "800h"}, nil, "CLAW_SESSION_IDLE", nil},
		{"bad secret key", map[string]string{"CLAW_SECRET_KEY": "short"}, nil, "CLAW_SECRET_KEY", nil},
		{"token without account", map[string]string{"CLAW_CF_API_TOKEN": "t"}, nil, "CLAW_CF_ACCOUNT_ID", nil},
		{"stripe without webhook secret", map[string]string{"CLAW_STRIPE_SECRET_KEY": "sk"}, nil, "CLAW_STRIPE_WEBHOOK_SECRET", nil},
		{"bad flag value", nil, []string{"-auth-rate", "lots"}, "CLAW_AUTH_RATE", nil},
		{"stray argument", nil, []string{"extra"}, "unexpected argument", nil},
		{"trusted proxies", map[string]string{"CLAW_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.1 ,2001:db8::/32"}, nil, "", func(c *Config) bool {
			return len(c.TrustedProxies) == 3 && c.TrustedProxies[0].String() == "10.0.0.0/8" && c.TrustedProxies[1].String() == "192.168.1.1/32" && c.TrustedProxies[2].String() == "2001:db8::/32"
		}},
		{"no trusted proxies by default", nil, nil, "", func(c *Config) bool { return len(c.TrustedProxies) == 0 }},
		{"bad trusted proxy", map[string]string{"CLAW_TRUSTED_PROXIES": "10.0.0.0/8,everyone"}, nil, "CLAW_TRUSTED_PROXIES", nil},
		{"trusted proxy with host bits", map[string]string{"CLAW_TRUSTED_PROXIES": "10.1.2.3/8"}, nil, "CLAW_TRUSTED_PROXIES", nil},
		{"old trust-proxy switch", map[string]string{"CLAW_TRUST_PROXY": "true"}, nil, "CLAW_TRUSTED_PROXIES", nil},
		{"old trust-proxy switch off is harmless", map[string]string{"CLAW_TRUST_PROXY": "false"}, nil, "", func(c *Config) bool { return len(c.TrustedProxies) == 0 }},
		{"billing off by default", nil, nil, "", func(c *Config) bool { return c.Billing == "off" }},
		{"private egress off by default", nil, nil, "", func(c *Config) bool { return !c.PrivateEgress }},
		{"private egress allowed", map[string]string{"CLAW_EDGE_PRIVATE_EGRESS": "allow"}, nil, "", func(c *Config) bool { return c.PrivateEgress }},
		{"bad private egress", map[string]string{"CLAW_EDGE_PRIVATE_EGRESS": "yes"}, nil, "CLAW_EDGE_PRIVATE_EGRESS", nil},
		{"dev facilitator fast by default", nil, nil, "", func(c *Config) bool { return c.DevVerifyDelay == 0 && c.DevSettleDelay == 0 && len(c.DevFaults) == 0 }},
		{"dev facilitator like a chain", map[string]string{"CLAW_DEV_FACILITATOR_VERIFY_DELAY": "40ms", "CLAW_DEV_FACILITATOR_SETTLE_DELAY": "1.5s", "CLAW_DEV_FACILITATOR_FAULTS": "settlement_pending:0.2,5xx:0.01"}, nil, "", func(c *Config) bool {
			return c.DevVerifyDelay == 40*time.Millisecond && c.DevSettleDelay == 1500*time.Millisecond && c.DevFaults["settlement_pending"] == 0.2 && c.DevFaults["5xx"] == 0.01
		}},
		{"optimistic refusal an hour by default", nil, nil, "", func(c *Config) bool { return c.OptimisticRefuse == time.Hour }},
		{"optimistic refusal configured", map[string]string{"CLAW_OPTIMISTIC_REFUSE": "15m"}, nil, "", func(c *Config) bool { return c.OptimisticRefuse == 15*time.Minute }},
		{"optimistic refusal off", map[string]string{"CLAW_OPTIMISTIC_REFUSE": "0s"}, nil, "", func(c *Config) bool { return c.OptimisticRefuse == 0 }},
		{"optimistic refusal too long", map[string]string{"CLAW_OPTIMISTIC_REFUSE": "1000h"}, nil, "CLAW_OPTIMISTIC_REFUSE", nil},
		{"optimistic refusal negative", map[string]string{"CLAW_OPTIMISTIC_REFUSE": "-1s"}, nil, "CLAW_OPTIMISTIC_REFUSE", nil},
		{"dev facilitator delay too long", map[string]string{"CLAW_DEV_FACILITATOR_SETTLE_DELAY": "2h"}, nil, "CLAW_DEV_FACILITATOR_SETTLE_DELAY", nil},
		{"dev facilitator unknown fault", map[string]string{"CLAW_DEV_FACILITATOR_FAULTS": "explode:0.1"}, nil, "CLAW_DEV_FACILITATOR_FAULTS", nil},
		{"billing stripe with a key", map[string]string{"CLAW_STRIPE_SECRET_KEY": "sk", "CLAW_STRIPE_WEBHOOK_SECRET": "whsec_x"}, nil, "", func(c *Config) bool { return c.Billing == "stripe" }},
		{"billing demo only when asked", map[string]string{"CLAW_BILLING": "demo"}, nil, "", func(c *Config) bool { return c.Billing == "demo" }},
		{"billing demo with a key", map[string]string{"CLAW_BILLING": "demo", "CLAW_STRIPE_SECRET_KEY": "sk", "CLAW_STRIPE_WEBHOOK_SECRET": "whsec_x"}, nil, "CLAW_BILLING", nil},
		{"billing stripe without a key", map[string]string{"CLAW_BILLING": "stripe"}, nil, "CLAW_BILLING", nil},
		{"bad billing", map[string]string{"CLAW_BILLING": "free"}, nil, "CLAW_BILLING", nil},
		{"https base url", map[string]string{"CLAW_BASE_URL": "https://portal.example.com/"}, nil, "", func(c *Config) bool { return c.BaseURL == "https://portal.example.com" }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := LoadConfig(c.args, env(c.env), &stderr)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %v, want one line naming %s", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Fatalf("config %+v", cfg)
			}
		})
	}
}

// The README's configuration table is generated from the option table;
// this fails when they drift apart.
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), MarkdownTable()) {
		t.Fatalf("README.md's configuration table is stale; paste the output of `go run ./cmd/402claw config-table`:\n%s", MarkdownTable())
	}
}

func TestHelpListsEverySetting(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"serve", "--help"}, env(nil), &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, o := range options {
		if !strings.Contains(out.String(), o.env) || !strings.Contains(out.String(), "-"+o.flag) {
			t.Errorf("--help lacks %s / -%s", o.env, o.flag)
		}
	}
}

func TestSameSiteWarning(t *testing.T) {
	cases := []struct {
		portal, baseDomain, edge string
		warn                     bool
	}{
		{"http://127.0.0.1:8080", "localhost", "http://127.0.0.1:8787", true}, // make run: cookies ignore ports
		{"https://portal.example.com", "apps.example.com", "https://apps.example.com", true},
		{"https://example.com", "example.com", "https://example.com", true},
		{"https://portal.example.co.uk", "apps.example.co.uk", "https://apps.example.co.uk", true},
		{"https://portal.example.com", "example-apps.com", "https://example-apps.com", false},
		{"https://example.co.uk", "other.co.uk", "https://other.co.uk", false}, // co.uk is a public suffix
		{"http://localhost:8080", "localhost", "http://127.0.0.1:8787", true},
		{"http://portal.localhost:8080", "apps.test", "http://apps.test:8787", false},
		{"https://PORTAL.Example.com.", "apps.example.com", "", true},
	}
	for _, c := range cases {
		if got := sameSiteWarning(c.portal, c.baseDomain, c.edge) != ""; got != c.warn {
			t.Errorf("portal %s, apps %s, edge %s: warning %v, want %v", c.portal, c.baseDomain, c.edge, got, c.warn)
		}
	}
}
