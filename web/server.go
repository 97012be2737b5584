// Package web is the portal: the fiber app, its routes table, middleware,
// page and HTMX handlers, and the JSON API under /api/v1.
package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/billing"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure the portal. cmd/402claw fills them from Config.
type Options struct {
	Store       *models.Store
	Logger      *slog.Logger
	BaseURL     string // public URL of the portal; https means TLS cookies and HSTS
	SignupOpen  bool
	Session     models.SessionPolicy
	AuthRate    int // login/sign-up attempts per IP per minute
	TrustProxy  bool
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
	// Mounts serve plain http.Handlers under a prefix (the dev facilitator).
	Mounts []Mount
	// PrivateEgress lets allowlists name localhost and private addresses
	// (CLAW_EDGE_PRIVATE_EGRESS=allow on a local edge).
	PrivateEgress bool
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
	metrics *metrics
	secure  bool
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
	u, err := url.Parse(opts.BaseURL)
	if err != nil {
		return nil, nil, err
	}
	s := &Server{
		opts:    opts,
		store:   opts.Store,
		log:     opts.Logger,
		limiter: newRateLimiter(opts.AuthRate, time.Minute),
		metrics: newMetrics(opts.Registry),
		secure:  strings.EqualFold(u.Scheme, "https"),
	}
	cfg := fiber.Config{
		AppName:               "402claw",
		DisableStartupMessage: true,
		BodyLimit:             16 << 20,
		ReadBufferSize:        16 << 10,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          60 * time.Second,
		IdleTimeout:           120 * time.Second,
		ErrorHandler:          s.errorHandler,
	}
	if opts.TrustProxy {
		cfg.ProxyHeader = fiber.HeaderXForwardedFor
	}
	app := fiber.New(cfg)
	s.routes(app)
	return app, s, nil
}

// egressPolicy is what apps' allowlists may name on this platform.
func (s *Server) egressPolicy() models.EgressPolicy {
	return models.EgressPolicy{AllowPrivate: s.opts.PrivateEgress}
}

// clientIP is the address rate limits and audit lines use.
func (s *Server) clientIP(c *fiber.Ctx) string {
	ip := c.IP()
	if s.opts.TrustProxy {
		if i := strings.IndexByte(ip, ','); i >= 0 {
			ip = strings.TrimSpace(ip[:i])
		}
	}
	return ip
}
