package web

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers/bundle"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// Request bodies are limited per route, and the limit is chosen from the
// request line and headers alone, before one byte of the body is read.
// fasthttp (fiber's server) buffers a whole body before any handler runs,
// allocating Content-Length bytes up front, and keeps the buffer pooled
// afterwards; one global limit of 16 MiB let 60 anonymous connections that
// announced 16 MB and sent one byte hold a gigabyte. Now an announced
// Content-Length over the route's limit is answered with 413 (401 for
// internal routes without their credential) and the connection closed,
// unread; a chunked body stops at the limit; and a body that trickles in is
// cut off by a read deadline set when the headers have arrived.
//
// The routes that accept large bodies — uploads, the authenticated API,
// telemetry — authenticate here, before the body: an anonymous request gets
// the smallest limit whatever path it names. A path classified differently
// from fiber's router can therefore only get a smaller limit, never a
// larger one that its credentials do not earn.
const (
	// defaultBodyLimit covers log in, sign up, log out, the anonymous API
	// calls and every request without a credential.
	defaultBodyLimit = 4 << 10
	// formBodyLimit covers signed-in page forms: a var of 5 KiB URL-encoded
	// (up to 3×), a route with its description.
	formBodyLimit = 64 << 10
	// apiBodyLimit covers authenticated JSON calls other than uploads: a
	// plan's whole route list with descriptions.
	apiBodyLimit = 1 << 20
	// webhookBodyLimit is well above Stripe's largest events (a few KiB to
	// a few dozen KiB); Stripe signs the body, so it cannot be checked first.
	webhookBodyLimit = 256 << 10
	// mountBodyLimit covers the dev facilitator's verify and settle calls.
	mountBodyLimit = 64 << 10
	// uploadSlack is room for multipart boundaries, the other fields and
	// the message of a version upload.
	uploadSlack = 64 << 10
	// uploadExpansion covers how encodings grow code: URL-encoding (the
	// editor's form) turns a byte into at most 3, JSON escaping ordinary
	// code into well under 2. A script of the plan's maximum size fits.
	uploadExpansion = 3
)

// bodyPolicy is what one request may send.
type bodyPolicy struct {
	limit   int
	timeout time.Duration
	// refusal, when set, answers a request refused for its size instead of
	// 413: the route needs a credential the request lacks.
	refusal *apiError
}

// Answers of oversized requests without their credential; the same words
// as the handlers' own.
var (
	refuseIngest       = newAPIError(fiber.StatusUnauthorized, "unauthorized", "Send the ingest token: Authorization: Bearer <token>.")
	refuseIngestNoAuth = newAPIError(fiber.StatusServiceUnavailable, "ingest_disabled", "Telemetry ingest is not configured on this portal (no ingest token).")
	refuseAPI          = newAPIError(fiber.StatusUnauthorized, "unauthorized", "Send an API token: Authorization: Bearer claw_…")
)

// headerReceived is fasthttp's HeaderReceived hook: the per-request limit
// and read deadline, decided before the body is read.
func (s *Server) headerReceived(h *fasthttp.RequestHeader) (cfg fasthttp.RequestConfig) {
	defer func() {
		// A panic here would take the whole server down: nothing above
		// this hook recovers.
		if r := recover(); r != nil {
			s.log.Error("panic in the body-limit hook", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			cfg = fasthttp.RequestConfig{MaxRequestBodySize: defaultBodyLimit, ReadTimeout: s.bodyTimeout}
		}
	}()
	p := s.bodyPolicyFor(h)
	return fasthttp.RequestConfig{MaxRequestBodySize: p.limit, ReadTimeout: p.timeout}
}

// bodyPolicyFor classifies a request by method, path and credentials.
func (s *Server) bodyPolicyFor(h *fasthttp.RequestHeader) bodyPolicy {
	small := bodyPolicy{limit: defaultBodyLimit, timeout: s.bodyTimeout}
	switch string(h.Method()) {
	case fiber.MethodPost, fiber.MethodPut, fiber.MethodPatch, fiber.MethodDelete:
	default:
		// Page views, the bulk of requests, cost no more than this.
		return small
	}
	path := routingPath(h)
	if path == "/internal/telemetry" {
		if s.ingestTokenOK(string(h.Peek(fiber.HeaderAuthorization))) {
			return bodyPolicy{limit: maxIngestBytes, timeout: s.bodyTimeout}
		}
		refusal := refuseIngest
		if s.opts.IngestToken == "" {
			refusal = refuseIngestNoAuth
		}
		return bodyPolicy{limit: 1, timeout: s.bodyTimeout, refusal: refusal}
	}
	// Most bodies fit the smallest limit: no credential lookup for them.
	if n := h.ContentLength(); n >= 0 && n <= defaultBodyLimit {
		return small
	}
	if path == "/stripe/webhook" && s.opts.Billing != nil {
		return bodyPolicy{limit: webhookBodyLimit, timeout: s.bodyTimeout}
	}
	for _, m := range s.opts.Mounts {
		if p := strings.ToLower(m.Prefix); path == p || strings.HasPrefix(path, p+"/") {
			return bodyPolicy{limit: mountBodyLimit, timeout: s.bodyTimeout}
		}
	}
	if rest, ok := strings.CutPrefix(path, "/api/v1/"); ok {
		switch rest {
		case "signup", "tokens", "reports":
			return small
		}
		u := s.headerAPIUser(h)
		if u == nil {
			small.refusal = refuseAPI
			return small
		}
		if isVersionsPath(strings.TrimPrefix(path, "/api/v1")) {
			return s.uploadPolicy(u, small)
		}
		return bodyPolicy{limit: apiBodyLimit, timeout: s.bodyTimeout}
	}
	switch path {
	case "/login", "/signup", "/logout":
		return small
	}
	u := s.headerSessionUser(h)
	if u == nil {
		return small
	}
	if isVersionsPath(path) {
		return s.uploadPolicy(u, small)
	}
	return bodyPolicy{limit: formBodyLimit, timeout: s.bodyTimeout}
}

// uploadPolicy lets a version upload carry the user's plan's largest script.
func (s *Server) uploadPolicy(u *models.User, fallback bodyPolicy) bodyPolicy {
	if u.Tenant == nil {
		return fallback
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	plan, err := s.store.PlanByKey(ctx, u.Tenant.PlanKey)
	if err != nil {
		s.log.Warn("body limit: plan lookup failed; using the largest plan-independent limit", "plan", u.Tenant.PlanKey, "err", err)
		return bodyPolicy{limit: apiBodyLimit, timeout: s.bodyTimeout}
	}
	return bodyPolicy{limit: uploadLimit(plan.MaxScriptBytes), timeout: s.uploadTimeout}
}

// uploadLimit is the body a version upload may send on a plan allowing
// scripts of maxScript bytes.
func uploadLimit(maxScript int64) int {
	return int(uploadExpansion*min(maxScript, bundle.HardMaxBundleBytes)) + uploadSlack
}

// isVersionsPath matches /apps/<slug>/versions and /apps/<slug>/check (the editor's live
// check sends the same files as a save).
func isVersionsPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/apps/")
	if !ok {
		return false
	}
	slug, tail, ok := strings.Cut(rest, "/")
	return ok && slug != "" && (tail == "versions" || tail == "check")
}

// routingPath is the path as fiber's router matches it: the original
// (undecoded) path, lower-cased, without trailing slashes.
func routingPath(h *fasthttp.RequestHeader) string {
	u := fasthttp.AcquireURI()
	defer fasthttp.ReleaseURI(u)
	if err := u.Parse(h.Host(), h.RequestURI()); err != nil {
		return ""
	}
	p := strings.ToLower(string(u.PathOriginal()))
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p
}

func (s *Server) headerAPIUser(h *fasthttp.RequestHeader) *models.User {
	scheme, tok, ok := strings.Cut(string(h.Peek(fiber.HeaderAuthorization)), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	u, err := s.store.UserByAPIToken(ctx, strings.TrimSpace(tok))
	if err != nil {
		if !errors.Is(err, models.ErrNotFound) {
			s.log.Warn("body limit: token lookup failed", "err", err)
		}
		return nil
	}
	return u
}

func (s *Server) headerSessionUser(h *fasthttp.RequestHeader) *models.User {
	tok := h.Cookie(s.cookies.session)
	if len(tok) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, u, err := s.store.SessionUser(ctx, string(tok), s.opts.Session)
	if err != nil {
		if !errors.Is(err, models.ErrNotFound) {
			s.log.Warn("body limit: session lookup failed", "err", err)
		}
		return nil
	}
	return u
}

// tooLarge is the answer to a request refused for its size: the route's
// refusal when it lacked the credential the route needs, else 413 naming
// the limit.
func (s *Server) tooLarge(c *fiber.Ctx) *apiError {
	p := s.bodyPolicyFor(&c.Request().Header)
	if p.refusal != nil {
		return p.refusal
	}
	return newAPIError(fiber.StatusRequestEntityTooLarge, "too_large",
		fmt.Sprintf("The request body is too large: this address accepts at most %s. Send less, or split it up.", byteSize(p.limit)))
}

// drainRefusedBody reads and discards what is left of a body refused
// before it was read, when that is little, so that closing the connection
// does not reset it: a reset can destroy the answer in the client's buffers
// before a browser shows it. The attack shape (a large Content-Length, then
// silence) is not waited for: more than drainMax announced is not drained,
// and reading stops when the client pauses.
func drainRefusedBody(c *fiber.Ctx) {
	const (
		drainMax   = 2 << 20
		drainPause = 200 * time.Millisecond
		drainTotal = 3 * time.Second
	)
	conn := c.Context().Conn()
	n := c.Request().Header.ContentLength()
	if conn == nil || n == -2 || n > drainMax {
		return
	}
	if n < 0 {
		n = drainMax
	}
	buf := make([]byte, 32<<10)
	deadline := time.Now().Add(drainTotal)
	for read := 0; read < n; {
		d := time.Now().Add(drainPause)
		if d.After(deadline) {
			d = deadline
		}
		if conn.SetReadDeadline(d) != nil {
			return
		}
		m, err := conn.Read(buf)
		read += m
		if err != nil {
			return
		}
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// refuseEncodedBodies refuses compressed request bodies. fiber's c.Body()
// inflates gzip, deflate and brotli without any bound, so a few KiB within
// the body limit could expand to gigabytes; no client of this portal
// compresses what it sends.
func (s *Server) refuseEncodedBodies(c *fiber.Ctx) error {
	if ce := c.Request().Header.Peek(fiber.HeaderContentEncoding); len(ce) > 0 && !strings.EqualFold(strings.TrimSpace(string(ce)), "identity") {
		return newAPIError(fiber.StatusUnsupportedMediaType, "unsupported_media_type", "Send the request body uncompressed (no Content-Encoding).")
	}
	return c.Next()
}
