package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// loginAdmin creates an admin with `402claw user create --admin` and logs a browser in.
func (s *served) loginAdmin(t *testing.T, email string) *tenant {
	t.Helper()
	if err := userCreate(context.Background(), s.cfg, []string{"--email", email, "--password", "admin password 123", "--admin"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	adm := &tenant{t: t, s: s, c: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	adm.readCSRF()
	if st, body := adm.form("/login", url.Values{"email": {email}, "password": {"admin password 123"}}); st >= 400 {
		t.Fatalf("admin login: %d %.300s", st, body)
	}
	adm.readCSRF()
	return adm
}

// TestTakedownReachesTheEdge: an admin suspends an app (the edge answers 403 with the reason),
// takes it down (its script is deleted by tag and its config document removed: 404), then
// restores it (served again), all through workerd running the dispatcher.
func TestTakedownReachesTheEdge(t *testing.T) {
	s := startServe(t, nil)
	tn := s.signUp(t, "owner@example.com", "Owner Co")
	tn.deploy("victim", map[string]string{"index.js": `export default { fetch() { return new Response("served") } };`}, "")
	s.edgeEventually(t, "/victim/", func(st int, b string) bool { return st == 200 && b == "served" })
	adm := s.loginAdmin(t, "root@example.com")
	base := "/admin/tenants/owner-co/apps/victim/"
	if st, body := adm.form(base+"suspend", url.Values{"reason": {"Phishing, report #12"}}); st != 200 || !strings.Contains(body, `id="confirm"`) {
		t.Fatalf("suspend without confirmation: %d %.300s", st, body)
	}
	if st, body := adm.form(base+"suspend", url.Values{"reason": {"Phishing, report #12"}, "confirm": {"yes"}}); st != 303 {
		t.Fatalf("suspend: %d %.300s", st, body)
	}
	s.edgeEventually(t, "/victim/", func(st int, b string) bool {
		return st == 403 && strings.Contains(b, "app_suspended") && strings.Contains(b, "Phishing, report #12")
	})
	if st, body := adm.form(base+"takedown", url.Values{"reason": {"Confirmed phishing"}, "confirm": {"yes"}}); st != 303 {
		t.Fatalf("take down: %d %.300s", st, body)
	}
	s.edgeEventually(t, "/victim/", func(st int, b string) bool { return st == 404 && strings.Contains(b, "app_not_found") })
	if st, body := adm.form(base+"restore", url.Values{"confirm": {"yes"}}); st != 303 {
		t.Fatalf("restore: %d %.300s", st, body)
	}
	s.edgeEventually(t, "/victim/", func(st int, b string) bool { return st == 200 && b == "served" })
	// The tenant cannot reach the admin action.
	if st, _ := tn.form(base+"takedown", url.Values{"reason": {"x"}, "confirm": {"yes"}}); st != 404 {
		t.Fatalf("a tenant reached the takedown: %d", st)
	}
}
