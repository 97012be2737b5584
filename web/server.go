// Package web is the portal: the fiber app, its routes table, middleware,
// page and HTMX handlers, and the JSON API under /api/v1.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/billing"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure the portal. cmd/402claw fills them from Config.
type Options struct {
	Store      *models.Store
	Logger     *slog.Logger
	BaseURL    string // public URL of the portal; https means TLS cookies and HSTS
	SignupOpen bool
	Session    models.SessionPolicy
	AuthRate   int // login/sign-up attempts per IP per minute
	// TrustedProxies are the operator's proxies: from a peer in one of
	// them, the client is the rightmost X-Forwarded-For hop outside them.
	TrustedProxies []netip.Prefix
	// BodyTimeout bounds how long a request body may take to arrive once
	// the headers are in (default 10 s; version uploads get 12 times as long).
	BodyTimeout time.Duration
	Registry    *prometheus.Registry // nil: a private registry
	EdgeInfo    EdgeInfo
	ReadyChecks []ReadyCheck
	// SecretKey encrypts app vars and secrets (AES-256-GCM).
	SecretKey []byte
	// SyncNow tries a sync job at once (the background syncer retries what fails).
	SyncNow func(ctx context.Context, target string) error
	// Billing serves plans and Stripe; nil shows billing as off.
	Billing *billing.Service
	// IngestToken authenticates the dispatcher's telemetry posts.
	IngestToken string
	// MetricsToken, when set, is required as a bearer token on /metrics.
	MetricsToken string
	// PlatformSecrets never appear in tenants' logs (the ingest, metrics and secret keys are
	// redacted without being listed): the config key, facilitator and Cloudflare credentials.
	PlatformSecrets []string
	// Mounts serve plain http.Handlers under a prefix (the dev facilitator).
	Mounts []Mount
	// PrivateEgress lets allowlists name localhost and private addresses
	// (CLAW_EDGE_PRIVATE_EGRESS=allow on a local edge).
	PrivateEgress bool
	// DefaultFacilitatorURL settles the networks no configured facilitator lists (the
	// dispatcher's FACILITATOR_URL); its /supported says which networks routes may be priced on.
	DefaultFacilitatorURL string
	// ApplyFacilitators writes the configured facilitators through to the edge (the
	// dispatcher's FACILITATORS and FACILITATOR_AUTH bindings); nil: nothing to write.
	ApplyFacilitators func(ctx context.Context) error
	// FacilitatorClient reads facilitators' /supported (nil: a client with a 5 s timeout).
	FacilitatorClient *http.Client
}

// Mount is an http.Handler served under Prefix (stripped), outside sessions and CSRF.
type Mount struct {
	Prefix  string
	Handler http.Handler
}

// EdgeInfo tells pages where tenants' APIs are served.
type EdgeInfo struct {
	Local      bool
	EdgeURL    string // e.g. http://127.0.0.1:8787
	BaseDomain string
	// RuntimeNote explains a local runtime problem (workerd missing or down) to tenants.
	RuntimeNote func() string
	// CPU reports JS time measured by the local runtime for a script, if any.
	CPU func(script string) (CPUStat, bool)
	// RequestCPU takes the JS time of a script's oldest measured request not yet taken, for
	// telemetry ingest to put into that request's event (local edge only; nil elsewhere).
	RequestCPU func(script string) (time.Duration, bool)
}

// CPUStat is JS time per request measured locally (workerd --async-trace).
type CPUStat struct {
	Requests  int64
	Mean, Max time.Duration
}

// ReadyCheck is one dependency /readyz reports on.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Server holds what handlers share.
type Server struct {
	opts    Options
	store   *models.Store
	log     *slog.Logger
	limiter *rateLimiter
	// consoleLimiter bounds the test console's calls per user (web/app_console.go).
	consoleLimiter *rateLimiter
	metrics        *metrics
	secure         bool
	origin         string // the portal's origin (scheme://host[:port]) from BaseURL
	cookies        cookieNames
	csrfKey        []byte
	// csrfMACs reuses keyed HMAC states: a token is computed on every page.
	csrfMACs sync.Pool

	bodyTimeout, uploadTimeout time.Duration
	fac                        facilitatorState
	// srcMaps are parsed source maps of versions, for stack positions in log lines.
	srcMaps sourceMapCache
}

// New builds the fiber app with every route.
func New(opts Options) (*fiber.App, *Server, error) {
	if opts.Store == nil {
		return nil, nil, errors.New("web: Options.Store is required")
	}
	if len(opts.SecretKey) != 32 {
		return nil, nil, errors.New("web: Options.SecretKey must be 32 bytes (it encrypts app vars)")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Session.Idle == 0 {
		opts.Session = models.SessionPolicy{Idle: 12 * time.Hour, Absolute: 30 * 24 * time.Hour}
	}
	if opts.AuthRate == 0 {
		opts.AuthRate = 10
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.BodyTimeout <= 0 {
		opts.BodyTimeout = 10 * time.Second
	}
	u, err := url.Parse(opts.BaseURL)
	if err != nil {
		return nil, nil, err
	}
	secure := strings.EqualFold(u.Scheme, "https")
	s := &Server{
		opts:           opts,
		store:          opts.Store,
		log:            opts.Logger,
		limiter:        newRateLimiter(opts.AuthRate, time.Minute),
		consoleLimiter: newRateLimiter(consoleRate, time.Minute),
		metrics:        newMetrics(opts.Registry),
		secure:         secure,
		origin:         originOf(u),
		cookies:        newCookieNames(secure),
		csrfKey:        csrfKeyFrom(opts.SecretKey),
		bodyTimeout:    opts.BodyTimeout,
		uploadTimeout:  12 * opts.BodyTimeout,
	}
	app := fiber.New(fiber.Config{
		AppName:               "402claw",
		DisableStartupMessage: true,
		// The limit of requests the body-limit hook does not raise: see
		// bodylimit.go for the per-route limits.
		BodyLimit: defaultBodyLimit,
		// Multipart bodies are parsed only by the handlers that take
		// uploads, after authentication, from the bounded body buffer.
		DisablePreParseMultipartForm: true,
		ReadBufferSize:               16 << 10,
		ReadTimeout:                  30 * time.Second,
		WriteTimeout:                 60 * time.Second,
		IdleTimeout:                  120 * time.Second,
		ErrorHandler:                 s.errorHandler,
	})
	app.Server().HeaderReceived = s.headerReceived
	s.routes(app)
	return app, s, nil
}

// egressPolicy is what apps' allowlists may name on this platform.
func (s *Server) egressPolicy() models.EgressPolicy {
	return models.EgressPolicy{AllowPrivate: s.opts.PrivateEgress}
}
