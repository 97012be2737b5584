package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/url"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

const (
	csrfHeader = "X-Csrf-Token"
	csrfField  = "_csrf"
	// csrfIDLen is the length of a pre-session id (32 random bytes, base64url).
	csrfIDLen = 43
)

// cookieNames are the portal's cookies. Under https they carry the __Host-
// prefix: the browser then refuses them unless they come from this exact
// origin over TLS with Path=/ and no Domain, so neither a tenant's app on a
// sibling subdomain nor a plain-http page can plant or overwrite them. The
// edge strips Set-Cookie headers for these names (with and without the
// prefix) from tenant responses; keep workers/dispatcher/cookies.js in step.
type cookieNames struct {
	session string // the session id
	csrf    string // the pre-session id anonymous visitors' CSRF tokens are bound to
}

func newCookieNames(secure bool) cookieNames {
	if secure {
		return cookieNames{session: "__Host-claw_session", csrf: "__Host-claw_csrf"}
	}
	return cookieNames{session: "claw_session", csrf: "claw_csrf"}
}

func (s *Server) setCookie(c *fiber.Ctx, name, value string, maxAge time.Duration) {
	c.Cookie(&fiber.Cookie{Name: name, Value: value, Path: "/", HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode, MaxAge: int(maxAge.Seconds())})
}

func (s *Server) clearCookie(c *fiber.Ctx, name string) {
	c.Cookie(&fiber.Cookie{Name: name, Value: "", Path: "/", HTTPOnly: true, Secure: s.secure, SameSite: fiber.CookieSameSiteLaxMode, MaxAge: -1, Expires: time.Unix(1, 0)})
}

// csrfKeyFrom derives the key that signs CSRF tokens from the secret key,
// so that the key encrypting app vars is never used for anything else.
func csrfKeyFrom(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("402claw csrf token v1"))
	return m.Sum(nil)
}

// csrfToken is the token pages embed for a binding: an HMAC, so the token
// cannot be derived from anything a browser holds.
func (s *Server) csrfToken(binding string) string {
	m, _ := s.csrfMACs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, s.csrfKey)
	}
	m.Reset()
	m.Write([]byte(binding))
	var sum [sha256.Size]byte
	tok := base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
	s.csrfMACs.Put(m)
	return tok
}

// csrf guards every unsafe request of the browser pages in three layers.
//
//  1. Where the browser says where the request comes from, it must be this
//     portal: Sec-Fetch-Site same-origin (or none: typed by the user), and
//     an Origin equal to the portal's. "null" (what Chromium sends for a
//     form on a no-referrer page) and every other origin are refused — a
//     tenant's app is same-site with the portal in local mode, and the
//     browser sends SameSite=Lax cookies along with same-site forms.
//  2. The token must be an HMAC of the session id (signed in) or of a
//     random pre-session id kept in an HttpOnly cookie (anonymous). A cookie
//     planted by a tenant's app (cookies ignore ports, and a parent domain
//     covers <app>.<domain>) is worthless for a signed-in victim: the token
//     is bound to a session id the attacker cannot read. For anonymous forms
//     (log in, sign up) an attacker could fetch the token for a pre-session
//     id of its own choosing, which is why layer 1 and the __Host- prefix
//     are what stop login forgery.
//  3. Under https the cookies are __Host- cookies (see cookieNames).
func (s *Server) csrf(c *fiber.Ctx) error {
	var binding string
	if sess := currentSession(c); sess != nil {
		binding = "session:" + sess.ID
	} else {
		id := c.Cookies(s.cookies.csrf)
		if !validCSRFID(id) {
			id = models.NewSecret(32)
			s.setCookie(c, s.cookies.csrf, id, 365*24*time.Hour)
		}
		binding = "anonymous:" + id
	}
	tok := s.csrfToken(binding)
	reqctx.SetCSRF(c, tok)
	switch c.Method() {
	case fiber.MethodGet, fiber.MethodHead, fiber.MethodOptions:
		return c.Next()
	}
	if !s.fromThisOrigin(c) {
		return s.forbidden(c, "This form was sent from another site, so it was refused. Open the portal directly and submit it again.")
	}
	sent := c.Get(csrfHeader)
	if sent == "" {
		sent = c.FormValue(csrfField)
	}
	if !hmac.Equal([]byte(sent), []byte(tok)) {
		return s.forbidden(c, "Your form expired or was not sent from this site; reload the page and try again.")
	}
	return c.Next()
}

func validCSRFID(id string) bool {
	if len(id) != csrfIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		b := id[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_') {
			return false
		}
	}
	return true
}

// fromThisOrigin applies the browser's own account of where an unsafe
// request comes from. A request with neither header is not a browser's
// cross-origin request (browsers send Origin on every cross-origin POST);
// the token alone decides for it.
func (s *Server) fromThisOrigin(c *fiber.Ctx) bool {
	switch c.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default: // same-site, cross-site
		return false
	}
	o := c.Get(fiber.HeaderOrigin)
	if o == "" {
		return true
	}
	return o != "null" && (strings.EqualFold(o, s.origin) || strings.EqualFold(o, c.Protocol()+"://"+c.Hostname()))
}

// originOf is the scheme://host[:port] of a URL, as browsers write Origin.
func originOf(u *url.URL) string {
	host := strings.ToLower(u.Host)
	scheme := strings.ToLower(u.Scheme)
	if (scheme == "http" && strings.HasSuffix(host, ":80")) || (scheme == "https" && strings.HasSuffix(host, ":443")) {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	return scheme + "://" + host
}
