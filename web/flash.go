package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Post/redirect/get for the portal's forms:
//   - a form that succeeds redirects (303, or HX-Redirect for htmx) to the page it
//     belongs to, and says what happened in a flash message: a short-lived signed
//     cookie that the next full page shows once (setFlash, takeFlash);
//   - a form that fails is answered in place with its message beside the card it
//     belongs to (422); htmx forms swap their card, plain forms get the whole page,
//     which carries the GET address of that page (Page.ReplaceURL) so that app.js
//     replaces the POST address in the history: the address bar shows the tab, and
//     a reload is a GET that resubmits nothing.

// flashCookie names the flash message's cookie (the __Host- prefix under https).
func (s *Server) flashCookie() string {
	if s.secure {
		return "__Host-claw_flash"
	}
	return "claw_flash"
}

// flashMAC binds a flash message to this installation's key, so that no one else
// (a tenant's app on a sibling host of a plain-http portal) can plant words in it.
func (s *Server) flashMAC(msg string) string {
	k := hmac.New(sha256.New, s.opts.SecretKey)
	k.Write([]byte("402claw flash"))
	m := hmac.New(sha256.New, k.Sum(nil))
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// maxFlash bounds a flash message (a cookie holds about 4 KiB).
const maxFlash = 300

// setFlash keeps msg for the next full page this browser loads.
func (s *Server) setFlash(c *fiber.Ctx, msg string) {
	if len(msg) > maxFlash {
		msg = msg[:maxFlash]
	}
	enc := base64.RawURLEncoding.EncodeToString([]byte(msg))
	s.setCookie(c, s.flashCookie(), enc+"."+s.flashMAC(msg), time.Minute)
}

// takeFlash returns the flash message once and clears it; a cookie that does not
// carry this installation's signature is dropped unread.
func (s *Server) takeFlash(c *fiber.Ctx) string {
	raw := c.Cookies(s.flashCookie())
	if raw == "" {
		return ""
	}
	s.clearCookie(c, s.flashCookie())
	enc, mac, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || len(b) > maxFlash || !utf8Valid(string(b)) {
		return ""
	}
	if !hmac.Equal([]byte(mac), []byte(s.flashMAC(string(b)))) {
		return ""
	}
	return string(b)
}

// redirectFlash sends the browser to url with msg as the flash message there.
func (s *Server) redirectFlash(c *fiber.Ctx, url, msg string) error {
	s.setFlash(c, msg)
	return hxRedirect(c, url)
}

// getURL is the GET address of the page a POST to path belongs to: the address a
// failed form's re-rendered page shows, and what a reload loads.
func getURL(path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(seg) >= 3 && seg[0] == "apps":
		base := "/apps/" + seg[1]
		switch seg[2] {
		case "versions", "check", "console":
			return base // saved from the Code tab
		case "deployments":
			return base + "/versions"
		case "rename", "listing", "kv", "vars", "delete":
			return base + "/settings"
		case "routes":
			return base + "/routes"
		case "keys", "egress":
			return base + "/access"
		case "resume":
			return base
		}
		return base
	case len(seg) == 1 && seg[0] == "apps":
		return "/apps"
	case len(seg) >= 2 && seg[0] == "settings":
		return "/settings"
	case len(seg) >= 2 && seg[0] == "billing":
		return "/billing"
	case len(seg) >= 3 && seg[0] == "admin" && seg[1] == "tenants":
		return "/admin/tenants/" + seg[2]
	case len(seg) >= 3 && seg[0] == "admin" && seg[1] == "review":
		return "/admin/review/" + seg[2]
	case len(seg) >= 2 && seg[0] == "admin" && seg[1] == "plans":
		return "/admin/plans"
	}
	return path
}
