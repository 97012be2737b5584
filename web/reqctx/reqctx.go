// Package reqctx holds what the portal's middleware attaches to a request — the current user,
// the session, the CSRF token, the request id — behind typed accessors, and the rendering and
// htmx helpers every handler package (web, web/billing) shares. The keys are unexported
// types, so no package reads or writes them by string: renaming one cannot compile and break
// a caller silently.
package reqctx

import (
	"github.com/402claw/402claw/models"
	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"
)

type key int

const (
	userKey key = iota
	sessionKey
	csrfKey
	requestIDKey
)

// User is the logged-in user (portal session or API token), nil for an anonymous request.
func User(c *fiber.Ctx) *models.User {
	u, _ := c.Locals(userKey).(*models.User)
	return u
}

// SetUser attaches the request's user.
func SetUser(c *fiber.Ctx, u *models.User) { c.Locals(userKey, u) }

// Session is the portal session the request came with, nil without one.
func Session(c *fiber.Ctx) *models.Session {
	s, _ := c.Locals(sessionKey).(*models.Session)
	return s
}

// SetSession attaches the request's session.
func SetSession(c *fiber.Ctx, s *models.Session) { c.Locals(sessionKey, s) }

// CSRF is the token the request's forms carry ("" before the CSRF middleware ran).
func CSRF(c *fiber.Ctx) string {
	v, _ := c.Locals(csrfKey).(string)
	return v
}

// SetCSRF attaches the token forms of this request must carry.
func SetCSRF(c *fiber.Ctx, tok string) { c.Locals(csrfKey, tok) }

// RequestID is the request's id (X-Request-ID), "" before the middleware ran.
func RequestID(c *fiber.Ctx) string {
	v, _ := c.Locals(requestIDKey).(string)
	return v
}

// SetRequestID attaches the request's id.
func SetRequestID(c *fiber.Ctx, id string) { c.Locals(requestIDKey, id) }

// Render streams a templ component into the response as HTML, without buffering.
func Render(c *fiber.Ctx, comp templ.Component) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return comp.Render(c.UserContext(), c.Response().BodyWriter())
}

// IsHTMX reports a request to answer with a fragment: htmx, but neither a boosted full
// navigation nor a history restore (which needs the whole page).
func IsHTMX(c *fiber.Ctx) bool { return HX(c).Partial() }

// Redirect sends the browser to url: an HX-Redirect header (204) for htmx, a 303 otherwise.
func Redirect(c *fiber.Ctx, url string) error {
	if IsHTMX(c) {
		c.Set("HX-Redirect", url)
		return c.SendStatus(fiber.StatusNoContent)
	}
	return c.Redirect(url, fiber.StatusSeeOther)
}

// HTMX is what an htmx request says about itself in its HX-* headers, read once and typed, so
// handlers branch on fields instead of on header strings.
type HTMX struct {
	Enabled        bool   // HX-Request: sent by htmx (boosted navigations included)
	Boosted        bool   // HX-Boosted: a boosted link or form, answered as a full page
	Target         string // HX-Target: the id of the element the answer will replace
	Trigger        string // HX-Trigger: the id of the element that fired the request
	TriggerName    string // HX-Trigger-Name: its name attribute
	CurrentURL     string // HX-Current-URL: the page the request came from
	HistoryRestore bool   // HX-History-Restore-Request: a cache miss on back/forward, answer a full page
}

// Partial reports a request to be answered with a fragment: htmx, not boosted, not a
// history restore.
func (h HTMX) Partial() bool { return h.Enabled && !h.Boosted && !h.HistoryRestore }

// Targets reports a fragment request aimed at the element with the given id.
func (h HTMX) Targets(id string) bool { return h.Partial() && h.Target == id }

// HX reads the request's htmx headers.
func HX(c *fiber.Ctx) HTMX {
	return HTMX{
		Enabled:        c.Get("HX-Request") == "true",
		Boosted:        c.Get("HX-Boosted") == "true",
		Target:         c.Get("HX-Target"),
		Trigger:        c.Get("HX-Trigger"),
		TriggerName:    c.Get("HX-Trigger-Name"),
		CurrentURL:     c.Get("HX-Current-URL"),
		HistoryRestore: c.Get("HX-History-Restore-Request") == "true",
	}
}
