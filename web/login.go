package web

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// errBadLogin is the one message for an unknown email or a wrong password.
const errBadLogin = "Wrong email or password."

func (s *Server) loginShow(c *fiber.Ctx) error {
	if currentUser(c) != nil {
		return c.Redirect("/dashboard", fiber.StatusSeeOther)
	}
	f := views.Form{Values: map[string]string{"next": safeNext(c.Query("next"))}}
	return render(c, views.Login(s.page(c, "Log in"), f))
}

// authenticate checks an email and password; unknown emails cost the same
// time as wrong passwords.
func (s *Server) authenticate(c *fiber.Ctx, email, password string) (*models.User, error) {
	norm, err := models.NormalizeEmail(email)
	if err != nil || password == "" || len(password) > 256 {
		models.BurnPasswordCheck(password)
		return nil, models.ErrNotFound
	}
	u, err := s.store.UserByEmail(c.UserContext(), norm)
	if errors.Is(err, models.ErrNotFound) {
		models.BurnPasswordCheck(password)
		return nil, models.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if !models.CheckPassword(u.PasswordHash, password) {
		s.audit(c, &u.ID, "login_failed", "user:"+u.Email, "")
		return nil, models.ErrNotFound
	}
	return u, nil
}

func (s *Server) loginSave(c *fiber.Ctx) error {
	email, password, next := c.FormValue("email"), c.FormValue("password"), safeNext(c.FormValue("next"))
	u, err := s.authenticate(c, email, password)
	if errors.Is(err, models.ErrNotFound) {
		c.Status(fiber.StatusUnauthorized)
		f := views.Form{Values: map[string]string{"email": sanitizeEcho(email), "next": next}, Message: errBadLogin}
		return render(c, views.Login(s.page(c, "Log in"), f))
	}
	if err != nil {
		return err
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	s.audit(c, &u.ID, "login", "user:"+u.Email, "")
	if next == "" {
		next = "/dashboard"
	}
	return c.Redirect(next, fiber.StatusSeeOther)
}

// startSession always issues a new session id (no fixation) and ends the
// one the browser had.
func (s *Server) startSession(c *fiber.Ctx, u *models.User) error {
	if old := currentSession(c); old != nil {
		_ = s.store.DeleteSession(c.UserContext(), old.ID)
	}
	tok, err := s.store.CreateSession(c.UserContext(), u.ID, s.clientIP(c), c.Get(fiber.HeaderUserAgent), s.opts.Session)
	if err != nil {
		return err
	}
	s.setCookie(c, s.cookies.session, tok, s.opts.Session.Absolute)
	return nil
}

func (s *Server) logout(c *fiber.Ctx) error {
	if sess := currentSession(c); sess != nil {
		if err := s.store.DeleteSession(c.UserContext(), sess.ID); err != nil {
			return err
		}
	}
	s.clearCookie(c, s.cookies.session)
	return hxRedirect(c, "/")
}

// safeNext allows only a path on this portal as a post-login destination,
// judged the way a browser will read the Location header: browsers drop
// tabs and newlines anywhere in a URL, trim leading and trailing control
// characters and spaces, and take a backslash for a slash — so "/\t/evil"
// and "/\\evil" both mean "//evil", another host. The normalised path is
// what is returned, so the browser follows exactly what was checked.
func safeNext(next string) string {
	if next == "" || len(next) > 500 || !utf8.ValidString(next) {
		return ""
	}
	var b strings.Builder
	for _, r := range strings.TrimFunc(next, func(r rune) bool { return r <= 0x20 }) {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			continue
		case r == '\\':
			r = '/'
		case r < 0x20 || r == 0x7f:
			return ""
		}
		b.WriteRune(r)
	}
	p := b.String()
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return ""
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	return p
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}
