package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/workers/facilitator"
)

// Config is everything `402claw serve` reads from the environment and flags.
type Config struct {
	Addr        string
	EdgeAddr    string
	DataDir     string
	DatabaseURL string
	BaseURL     string
	BaseDomain  string
	Signup      string
	SecretKey   string
	SessionIdle time.Duration
	SessionMax  time.Duration
	AuthRate    int
	// TrustedProxies are the operator's proxies (CLAW_TRUSTED_PROXIES).
	TrustedProxies []netip.Prefix
	LogLevel       string
	LogFormat      string

	CFAPIToken   string
	CFAccountID  string
	CFBaseURL    string
	CFNamespace  string
	CFKVConfigID string
	// CFAnalyticsDataset is the Workers Analytics Engine dataset the dispatcher writes its
	// telemetry to and the portal reads back every AnalyticsInterval (empty: telemetry is posted).
	CFAnalyticsDataset string
	AnalyticsInterval  time.Duration
	LocalCFAddr        string
	WorkerdPath        string
	IngestToken        string
	// PrivateEgress lets tenant code on the local edge reach loopback and
	// private addresses (CLAW_EDGE_PRIVATE_EGRESS=allow).
	PrivateEgress bool
	// TrustClientIP keeps the CF-Connecting-IP a request reaches the local edge with (a
	// reverse proxy in front writes it); otherwise the edge writes the peer's address there.
	TrustClientIP bool

	FacilitatorURL string
	MetricsToken   string
	// The dev facilitator's latency and faults (local mode).
	DevVerifyDelay, DevSettleDelay time.Duration
	// OptimisticRefuse is how long a payer whose optimistic settlement failed is refused on the
	// app's optimistic routes (0: never).
	OptimisticRefuse   time.Duration
	DevFaults          map[facilitator.Fault]float64
	TelemetryRetention time.Duration

	StripeSecretKey     string
	StripeWebhookSecret string
	StripeBaseURL       string
	BillingGrace        time.Duration
	// Billing is stripe, demo or off; LoadConfig resolves an empty value.
	Billing string
}

// option describes one setting: its env var, flag, default and help. The
// same table drives parsing, --help and the README's configuration table.
type option struct {
	env, flag, def, help string
	secret               bool // also read from $ENV_FILE
	set                  func(c *Config, v string) error
}

func str(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *p(c) = v; return nil }
}

var analyticsDataset = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

func dur(p func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("must be a positive duration like 12h or 30m, got %q", v)
		}
		*p(c) = d
		return nil
	}
}

func durOrZero(p func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			return fmt.Errorf("must be a duration from 0s to 1m like 40ms or 1.5s, got %q", v)
		}
		*p(c) = d
		return nil
	}
}

func addr(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			return fmt.Errorf("must be host:port, got %q", v)
		}
		*p(c) = v
		return nil
	}
}

func httpURL(p func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			*p(c) = ""
			return nil
		}
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("must be an http(s) URL, got %q", v)
		}
		*p(c) = strings.TrimRight(v, "/")
		return nil
	}
}

var options = []option{
	{"CLAW_ADDR", "addr", "127.0.0.1:8080", "portal listen address", false, addr(func(c *Config) *string { return &c.Addr })},
	{"CLAW_EDGE_ADDR", "edge-addr", "127.0.0.1:8787", "local edge (workerd) listen address, used without Cloudflare credentials", false, addr(func(c *Config) *string { return &c.EdgeAddr })},
	{"CLAW_DATA_DIR", "data-dir", "./data", "directory for all local state: SQLite database, local Cloudflare API, generated keys", false, func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		c.DataDir = v
		return nil
	}},
	{"CLAW_DATABASE_URL", "database-url", "", "empty: SQLite file in the data dir; sqlite:PATH; or postgres://user@host/db", true, func(c *Config, v string) error {
		if v != "" && !strings.HasPrefix(v, "sqlite:") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") {
			return errors.New("must be empty, sqlite:PATH or postgres://…")
		}
		c.DatabaseURL = v
		return nil
	}},
	{"CLAW_BASE_URL", "base-url", "", "public URL of the portal (default http://CLAW_ADDR); https turns on Secure cookies and HSTS", false, httpURL(func(c *Config) *string { return &c.BaseURL })},
	{"CLAW_BASE_DOMAIN", "base-domain", "localhost", "domain under which apps are served as <app>.<domain>", false, func(c *Config, v string) error {
		if v == "" || strings.ContainsAny(v, "/: ") {
			return fmt.Errorf("must be a bare domain like apps.example.com, got %q", v)
		}
		c.BaseDomain = strings.ToLower(v)
		return nil
	}},
	{"CLAW_SIGNUP", "signup", "open", "open: anyone may sign up; closed: operators create users with `402claw user create`", false, func(c *Config, v string) error {
		if v != "open" && v != "closed" {
			return fmt.Errorf("must be open or closed, got %q", v)
		}
		c.Signup = v
		return nil
	}},
	{"CLAW_SECRET_KEY", "secret-key", "", "32-byte key (64 hex chars) encrypting app vars and secrets; generated into the data dir when empty", true, func(c *Config, v string) error {
		if v != "" && len(strings.TrimSpace(v)) != 64 {
			return errors.New("must be 64 hex characters (32 bytes); generate one with `openssl rand -hex 32`")
		}
		c.SecretKey = strings.TrimSpace(v)
		return nil
	}},
	{"CLAW_SESSION_IDLE", "session-idle", "12h", "log a browser out after this long without a request", false, dur(func(c *Config) *time.Duration { return &c.SessionIdle })},
	{"CLAW_SESSION_MAX", "session-max", "720h", "log a browser out this long after login, active or not", false, dur(func(c *Config) *time.Duration { return &c.SessionMax })},
	{"CLAW_AUTH_RATE", "auth-rate", "10", "login and sign-up attempts allowed per client IP per minute", false, func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100000 {
			return fmt.Errorf("must be a whole number from 1 to 100000, got %q", v)
		}
		c.AuthRate = n
		return nil
	}},
	{"CLAW_TRUSTED_PROXIES", "trusted-proxies", "", "comma-separated CIDRs of your reverse proxies; from them, the client IP is the rightmost X-Forwarded-For hop outside these ranges (empty: the peer address, X-Forwarded-For ignored)", false, func(c *Config, v string) error {
		ps, err := parseCIDRs(v)
		if err != nil {
			return err
		}
		c.TrustedProxies = ps
		return nil
	}},
	{"CLAW_TRUST_PROXY", "trust-proxy", "", "replaced by CLAW_TRUSTED_PROXIES (it trusted whatever X-Forwarded-For said); true stops the binary with a message saying so", false, func(c *Config, v string) error {
		if b, err := strconv.ParseBool(v); v == "" || (err == nil && !b) {
			return nil
		}
		return errors.New("was replaced by CLAW_TRUSTED_PROXIES: list your proxies' addresses as CIDRs, e.g. CLAW_TRUSTED_PROXIES=10.0.0.0/8 (the old switch let any client choose its own address by sending X-Forwarded-For)")
	}},
	{"CLAW_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", false, func(c *Config, v string) error {
		switch v {
		case "debug", "info", "warn", "error":
			c.LogLevel = v
			return nil
		}
		return fmt.Errorf("must be debug, info, warn or error, got %q", v)
	}},
	{"CLAW_LOG_FORMAT", "log-format", "text", "text or json", false, func(c *Config, v string) error {
		if v != "text" && v != "json" {
			return fmt.Errorf("must be text or json, got %q", v)
		}
		c.LogFormat = v
		return nil
	}},
	{"CLAW_CF_API_TOKEN", "cf-api-token", "", "Cloudflare API token; empty runs the local edge (emulated Cloudflare API + workerd)", true, str(func(c *Config) *string { return &c.CFAPIToken })},
	{"CLAW_CF_ACCOUNT_ID", "cf-account-id", "", "Cloudflare account id (required with a token)", false, str(func(c *Config) *string { return &c.CFAccountID })},
	{"CLAW_CF_BASE_URL", "cf-base-url", "", "Cloudflare API base URL (default https://api.cloudflare.com/client/v4)", false, httpURL(func(c *Config) *string { return &c.CFBaseURL })},
	{"CLAW_CF_DISPATCH_NAMESPACE", "cf-dispatch-namespace", "402claw", "Workers for Platforms dispatch namespace for user workers", false, func(c *Config, v string) error {
		if v == "" || strings.ContainsAny(v, "/ ") {
			return fmt.Errorf("must be a namespace name, got %q", v)
		}
		c.CFNamespace = v
		return nil
	}},
	{"CLAW_CF_KV_NAMESPACE_ID", "cf-kv-namespace-id", "", "KV namespace id holding app configs (printed by `402claw edge bootstrap`)", false, str(func(c *Config) *string { return &c.CFKVConfigID })},
	{"CLAW_CF_ANALYTICS_DATASET", "cf-analytics-dataset", "", "Workers Analytics Engine dataset for the dispatcher's telemetry (bound as ANALYTICS by `402claw edge bootstrap`; the portal reads it back through the SQL API); empty: the dispatcher posts telemetry to the portal", false, func(c *Config, v string) error {
		if v != "" && !analyticsDataset.MatchString(v) {
			return fmt.Errorf("must be a dataset name of letters, digits and underscores, got %q", v)
		}
		c.CFAnalyticsDataset = v
		return nil
	}},
	{"CLAW_ANALYTICS_INTERVAL", "analytics-interval", "1m", "how often the portal reads the Analytics Engine dataset (with Cloudflare and CLAW_CF_ANALYTICS_DATASET)", false, dur(func(c *Config) *time.Duration { return &c.AnalyticsInterval })},
	{"CLAW_LOCAL_CF_ADDR", "local-cf-addr", "127.0.0.1:8789", "listen address of the emulated Cloudflare API in local mode", false, addr(func(c *Config) *string { return &c.LocalCFAddr })},
	{"CLAW_WORKERD_PATH", "workerd-path", "", "workerd binary (default node_modules/.bin/workerd)", false, str(func(c *Config) *string { return &c.WorkerdPath })},
	{"CLAW_EDGE_PRIVATE_EGRESS", "edge-private-egress", "deny", "deny: tenant code on the local edge reaches public addresses only; allow: also loopback and private ones (local development; never the portal, the emulated Cloudflare API or the edge)", false, func(c *Config, v string) error {
		if v != "deny" && v != "allow" {
			return fmt.Errorf("must be deny or allow, got %q", v)
		}
		c.PrivateEgress = v == "allow"
		return nil
	}},
	{"CLAW_EDGE_TRUST_CLIENT_IP", "edge-trust-client-ip", "false", "true only when a reverse proxy in front of the local edge writes the client's address in CF-Connecting-IP (per-IP limits count by it); false: the edge overwrites the header with the peer's address, so a consumer cannot pick its own per-IP limit", false, func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("must be true or false, got %q", v)
		}
		c.TrustClientIP = b
		return nil
	}},
	{"CLAW_INGEST_TOKEN", "ingest-token", "", "shared secret the dispatcher sends with telemetry; generated in local mode", true, str(func(c *Config) *string { return &c.IngestToken })},
	{"CLAW_FACILITATOR_URL", "facilitator-url", "", "x402 facilitator (default: the built-in dev facilitator locally, https://x402.org/facilitator with Cloudflare)", false, httpURL(func(c *Config) *string { return &c.FacilitatorURL })},
	{"CLAW_OPTIMISTIC_REFUSE", "optimistic-refuse", "1h", "how long a payer whose optimistic settlement failed is refused on that app's optimistic routes (0s: never; at most 720h)", false, func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > 30*24*time.Hour || d%time.Second != 0 {
			return fmt.Errorf("must be whole seconds from 0s to 720h like 1h or 15m, got %q", v)
		}
		c.OptimisticRefuse = d
		return nil
	}},
	{"CLAW_DEV_FACILITATOR_VERIFY_DELAY", "dev-facilitator-verify-delay", "0s", "how long the dev facilitator takes to verify (a real one: tens of ms)", false, durOrZero(func(c *Config) *time.Duration { return &c.DevVerifyDelay })},
	{"CLAW_DEV_FACILITATOR_SETTLE_DELAY", "dev-facilitator-settle-delay", "0s", "how long the dev facilitator takes to settle (Base: about 2s)", false, durOrZero(func(c *Config) *time.Duration { return &c.DevSettleDelay })},
	{"CLAW_DEV_FACILITATOR_FAULTS", "dev-facilitator-faults", "", "faults the dev facilitator injects, per payment: insufficient_funds, settlement_pending (then success on retry), timeout, 5xx, each with a rate, like settlement_pending:0.2,5xx:0.01", false, func(c *Config, v string) error {
		faults, err := facilitator.ParseFaults(v)
		if err != nil {
			return err
		}
		c.DevFaults = faults
		return nil
	}},
	{"CLAW_TELEMETRY_RETENTION", "telemetry-retention", "168h", "how long raw telemetry events (requests the tenant's code saw) are kept; a background job deletes older ones. Rollups and the payments ledger are kept", false, func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Hour {
			return fmt.Errorf("must be a duration of at least 1h, like 168h, got %q", v)
		}
		c.TelemetryRetention = d
		return nil
	}},
	{"CLAW_METRICS_TOKEN", "metrics-token", "", "when set, /metrics requires Authorization: Bearer <token>", true, str(func(c *Config) *string { return &c.MetricsToken })},
	{"CLAW_STRIPE_SECRET_KEY", "stripe-secret-key", "", "Stripe secret key; empty turns billing off (free plan, admins assign plans)", true, str(func(c *Config) *string { return &c.StripeSecretKey })},
	{"CLAW_STRIPE_WEBHOOK_SECRET", "stripe-webhook-secret", "", "signing secret of the Stripe webhook endpoint (whsec_…)", true, str(func(c *Config) *string { return &c.StripeWebhookSecret })},
	{"CLAW_STRIPE_BASE_URL", "stripe-base-url", "", "Stripe API base URL (tests point it at stripe-mock)", false, httpURL(func(c *Config) *string { return &c.StripeBaseURL })},
	{"CLAW_BILLING", "billing", "", "stripe (the default when a Stripe key is set), demo (a fake checkout that upgrades without paying: local development only, never set it on a public portal) or off (the default without a key)", false, func(c *Config, v string) error {
		switch v {
		case "", "stripe", "demo", "off":
			c.Billing = v
			return nil
		}
		return fmt.Errorf("must be stripe, demo or off, got %q", v)
	}},
	{"CLAW_BILLING_GRACE", "billing-grace", "72h", "how long a past-due tenant keeps its plan", false, dur(func(c *Config) *time.Duration { return &c.BillingGrace })},
}

// LoadConfig reads defaults, then environment (and *_FILE for secrets), then
// flags. The first invalid value stops with one line naming its variable.
func LoadConfig(args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	for _, o := range options {
		if err := o.set(c, o.def); err != nil {
			return nil, fmt.Errorf("internal: default of %s: %w", o.env, err)
		}
	}
	for _, o := range options {
		v, from := getenv(o.env), o.env
		if o.secret {
			if f := getenv(o.env + "_FILE"); f != "" {
				if v != "" {
					return nil, fmt.Errorf("%s and %s_FILE are both set; use one", o.env, o.env)
				}
				b, err := os.ReadFile(f)
				if err != nil {
					return nil, fmt.Errorf("%s_FILE: unable to read %s: %v", o.env, f, err)
				}
				v, from = strings.TrimSpace(string(b)), o.env+"_FILE"
			}
		}
		if v == "" {
			continue
		}
		if err := o.set(c, v); err != nil {
			return nil, fmt.Errorf("%s: %v", from, err)
		}
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { PrintUsage(stderr) }
	var flagErr error
	for _, o := range options {
		o := o
		fs.Func(o.flag, o.help, func(v string) error {
			if err := o.set(c, v); err != nil {
				flagErr = fmt.Errorf("-%s (%s): %v", o.flag, o.env, err)
				return flagErr
			}
			return nil
		})
	}
	if err := fs.Parse(args); err != nil {
		if flagErr != nil {
			return nil, flagErr
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
	if c.CFAPIToken != "" && c.CFAccountID == "" {
		return nil, errors.New("CLAW_CF_ACCOUNT_ID: required when CLAW_CF_API_TOKEN is set")
	}
	if c.CFAPIToken != "" && c.CFKVConfigID == "" {
		return nil, errors.New("CLAW_CF_KV_NAMESPACE_ID: required when CLAW_CF_API_TOKEN is set (run `402claw edge bootstrap` to get one)")
	}
	if c.CFAPIToken != "" && c.IngestToken == "" {
		return nil, errors.New("CLAW_INGEST_TOKEN: required when CLAW_CF_API_TOKEN is set (the dispatcher authenticates telemetry with it)")
	}
	if c.StripeSecretKey != "" && c.StripeWebhookSecret == "" {
		return nil, errors.New("CLAW_STRIPE_WEBHOOK_SECRET: required when CLAW_STRIPE_SECRET_KEY is set")
	}
	switch {
	case c.Billing == "" && c.StripeSecretKey != "":
		c.Billing = "stripe"
	case c.Billing == "":
		c.Billing = "off"
	case c.Billing == "stripe" && c.StripeSecretKey == "":
		return nil, errors.New("CLAW_BILLING: stripe needs CLAW_STRIPE_SECRET_KEY")
	case c.Billing == "demo" && c.StripeSecretKey != "":
		return nil, errors.New("CLAW_BILLING: demo fakes Stripe and cannot run with CLAW_STRIPE_SECRET_KEY set; unset one of them")
	}
	if c.SessionIdle > c.SessionMax {
		return nil, errors.New("CLAW_SESSION_IDLE: must not be longer than CLAW_SESSION_MAX")
	}
	return c, nil
}

// parseCIDRs reads a comma-separated list of CIDRs; a bare address is a
// single host.
func parseCIDRs(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			if p != p.Masked() {
				return nil, fmt.Errorf("%q has host bits set; did you mean %s?", f, p.Masked())
			}
			out = append(out, p)
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("must be comma-separated CIDRs like 10.0.0.0/8 or 2001:db8::/32, got %q", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// LocalEdge reports whether serve runs the emulated Cloudflare API and workerd.
func (c *Config) LocalEdge() bool { return c.CFAPIToken == "" }

// PrintUsage lists every setting with its env var, flag and default.
func PrintUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: 402claw serve [flags]\n\nEvery flag has an environment variable; flags win. Secrets also read VAR_FILE.\n\n")
	for _, o := range options {
		def := o.def
		if def == "" {
			def = "(empty)"
		}
		sec := ""
		if o.secret {
			sec = " [also " + o.env + "_FILE]"
		}
		fmt.Fprintf(w, "  -%s, %s%s\n      %s (default %s)\n", o.flag, o.env, sec, o.help, def)
	}
}

// MarkdownTable renders the configuration table for the README.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| variable | flag | default | what it does |\n|---|---|---|---|\n")
	for _, o := range options {
		env := "`" + o.env + "`"
		if o.secret {
			env += " (or `" + o.env + "_FILE`)"
		}
		def := "`" + o.def + "`"
		if o.def == "" {
			def = "empty"
		}
		fmt.Fprintf(&b, "| %s | `-%s` | %s | %s |\n", env, o.flag, def, strings.ReplaceAll(o.help, "|", "\\|"))
	}
	return b.String()
}
