package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) recoverer(c *fiber.Ctx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic", "request_id", reqctx.RequestID(c), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fiber.ErrInternalServerError
		}
	}()
	return c.Next()
}

func (s *Server) requestID(c *fiber.Ctx) error {
	id := c.Get(fiber.HeaderXRequestID)
	if id == "" || len(id) > 64 || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		id = models.NewSecret(9)
	} else {
		// Log lines and errors may carry it after the request's buffers are reused.
		id = strings.Clone(id)
	}
	reqctx.SetRequestID(c, id)
	c.Set(fiber.HeaderXRequestID, id)
	return c.Next()
}

// observe logs one line per request and feeds the Prometheus metrics, keyed
// by the route pattern (never the raw path: it would explode cardinality).
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.errorHandler(c, err); herr != nil {
			s.log.Error("error handler failed", "err", herr)
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if status == fiber.StatusNotFound && route == "/" && c.Path() != "/" {
		route = "unmatched"
	}
	d := time.Since(start)
	method := methodLabel(c.Method())
	s.metrics.observe(method, route, status, d)
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	ctx := c.UserContext()
	if !s.log.Enabled(ctx, level) {
		return nil
	}
	// LogAttrs with typed attributes: this line runs for every request.
	rid := reqctx.RequestID(c)
	attrs := [9]slog.Attr{
		slog.String("request_id", rid), slog.String("method", method), slog.String("route", route),
		slog.Int("status", status), slog.Float64("duration_ms", float64(d.Microseconds())/1000), slog.String("ip", s.clientIP(c)),
	}
	n := 6
	if u := reqctx.User(c); u != nil {
		attrs[n] = slog.Uint64("user_id", uint64(u.ID))
		n++
	}
	if err != nil && status >= 500 {
		attrs[n] = slog.String("err", err.Error())
		n++
	}
	s.log.LogAttrs(ctx, level, "http", attrs[:n]...)
	return nil
}

// methodLabel maps a request method to a constant string. fiber's
// c.Method() aliases the request buffer, which the next request on the
// connection overwrites: kept as a Prometheus label it turned "GET" into
// "POS" and "DELETE" into "GETETE", and /metrics into a 500.
func methodLabel(m string) string {
	switch m {
	case fiber.MethodGet:
		return fiber.MethodGet
	case fiber.MethodHead:
		return fiber.MethodHead
	case fiber.MethodPost:
		return fiber.MethodPost
	case fiber.MethodPut:
		return fiber.MethodPut
	case fiber.MethodPatch:
		return fiber.MethodPatch
	case fiber.MethodDelete:
		return fiber.MethodDelete
	case fiber.MethodOptions:
		return fiber.MethodOptions
	}
	return "OTHER"
}

func (s *Server) securityHeaders(c *fiber.Ctx) error {
	h := &c.Response().Header
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if s.secure {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	return c.Next()
}

// loadSession attaches the logged-in user, if any. A forged, expired or
// unknown cookie is cleared and the request goes on anonymously.
func (s *Server) loadSession(c *fiber.Ctx) error {
	if tok := c.Cookies(s.cookies.session); tok != "" {
		sess, u, err := s.store.SessionUser(c.UserContext(), tok, s.opts.Session)
		switch {
		case err == nil:
			reqctx.SetUser(c, u)
			reqctx.SetSession(c, sess)
		case errors.Is(err, models.ErrNotFound):
			s.clearCookie(c, s.cookies.session)
		default:
			return err
		}
	}
	return c.Next()
}

func (s *Server) forbidden(c *fiber.Ctx, msg string) error {
	return fiber.NewError(fiber.StatusForbidden, msg)
}

func (s *Server) requireUser(c *fiber.Ctx) error {
	if currentUser(c) == nil {
		if isHTMX(c) {
			c.Set("HX-Redirect", "/login")
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
	}
	return c.Next()
}

func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if !currentUser(c).IsAdmin() {
		return fiber.NewError(fiber.StatusNotFound, "There is no page here.")
	}
	return c.Next()
}

func currentUser(c *fiber.Ctx) *models.User {
	return reqctx.User(c)
}

func currentSession(c *fiber.Ctx) *models.Session {
	return reqctx.Session(c)
}

// rateLimiter is a fixed-window counter per client IP; enough for login and
// sign-up, and cheap. Old windows are swept as they are touched.
type rateLimiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	hits   map[string]*rateWindow
	sweep  time.Time
}

type rateWindow struct {
	start time.Time
	n     int
}

func newRateLimiter(limit int, window time.Duration) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, hits: map[string]*rateWindow{}}
}

// allow counts one attempt and says whether it is within the limit, and if
// not, how long until the window resets.
func (r *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.sweep) > r.window {
		for k, w := range r.hits {
			if now.Sub(w.start) > r.window {
				delete(r.hits, k)
			}
		}
		r.sweep = now
	}
	w := r.hits[key]
	if w == nil || now.Sub(w.start) > r.window {
		w = &rateWindow{start: now}
		r.hits[key] = w
	}
	w.n++
	if w.n > r.limit {
		return false, w.start.Add(r.window).Sub(now)
	}
	return true, 0
}

func (s *Server) rateLimited(c *fiber.Ctx) error {
	ok, wait := s.limiter.allow(s.clientIP(c), time.Now())
	if !ok {
		secs := int(wait.Seconds()) + 1
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		return fiber.NewError(fiber.StatusTooManyRequests, fmt.Sprintf("Too many attempts from your address. Wait %d seconds and try again.", secs))
	}
	return c.Next()
}
