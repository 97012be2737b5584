package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/workers/runtime"
)

// served is a running `402claw serve` with the local edge (real workerd running the
// dispatcher), for tests that go through every layer a tenant's request does.
type served struct {
	Portal, Edge string
	cfg          *Config
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe runs serve until the test ends; env adds CLAW_* settings.
func startServe(t *testing.T, env map[string]string) *served {
	t.Helper()
	wd, err := runtime.FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING local edge test: %v", err)
	}
	portal, edge := freeAddr(t), freeAddr(t)
	vars := map[string]string{"CLAW_DATA_DIR": t.TempDir(), "CLAW_ADDR": portal, "CLAW_EDGE_ADDR": edge,
		"CLAW_LOCAL_CF_ADDR": "127.0.0.1:0", "CLAW_WORKERD_PATH": wd, "CLAW_AUTH_RATE": "1000", "CLAW_LOG_LEVEL": "error"}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := LoadConfig(nil, func(k string) string { return vars[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	s := &served{Portal: "http://" + portal, Edge: "http://" + edge, cfg: cfg}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r, err := http.Get(s.Portal + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return s
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve stopped: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the portal did not get ready within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tenant is a signed-up browser session plus an API token.
type tenant struct {
	t     *testing.T
	s     *served
	c     *http.Client
	csrf  string
	token string
}

var csrfRe = regexp.MustCompile(`"X-Csrf-Token":"([^"]+)"`)

func (s *served) signUp(t *testing.T, email, name string) *tenant {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	tn := &tenant{t: t, s: s, c: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	tn.readCSRF()
	if st, body := tn.form("/signup", url.Values{"email": {email}, "password": {"a good long password"}, "tenant": {name}}); st != 303 {
		t.Fatalf("sign up: %d %.300s", st, body)
	}
	tn.readCSRF()
	st, body := tn.api("POST", "/api/v1/tokens", fmt.Sprintf(`{"email":%q,"password":"a good long password"}`, email))
	var tok struct{ Token string }
	if st != 201 || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("token: %d %s", st, body)
	}
	tn.token = tok.Token
	return tn
}

func (tn *tenant) readCSRF() {
	tn.t.Helper()
	st, body := tn.do("GET", "/", nil, nil)
	m := csrfRe.FindStringSubmatch(strings.ReplaceAll(body, "&#34;", `"`))
	if m == nil {
		tn.t.Fatalf("no CSRF token on /: %d", st)
	}
	tn.csrf = m[1]
}

func (tn *tenant) do(method, path string, body io.Reader, hdr map[string]string) (int, string) {
	tn.t.Helper()
	req, err := http.NewRequest(method, tn.s.Portal+path, body)
	if err != nil {
		tn.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := tn.c.Do(req)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// form posts a page form as htmx would (the CSRF token in its header).
func (tn *tenant) form(path string, v url.Values) (int, string) {
	return tn.do("POST", path, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true", "X-Csrf-Token": tn.csrf})
}

func (tn *tenant) api(method, path, body string) (int, string) {
	h := map[string]string{"Content-Type": "application/json"}
	if tn.token != "" {
		h["Authorization"] = "Bearer " + tn.token
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return tn.do(method, path, r, h)
}

// deploy creates an app with code and routes (JSON, may be empty) through the API and waits
// until the deployment succeeded.
func (tn *tenant) deploy(slug string, modules map[string]string, routes string) {
	tn.t.Helper()
	if st, b := tn.api("POST", "/api/v1/apps", fmt.Sprintf(`{"slug":%q,"name":%q}`, slug, slug)); st != 201 {
		tn.t.Fatalf("create %s: %d %s", slug, st, b)
	}
	if modules != nil {
		tn.version(slug, modules)
	}
	if routes != "" {
		if st, b := tn.api("PUT", "/api/v1/apps/"+slug+"/routes", routes); st != 200 {
			tn.t.Fatalf("routes of %s: %d %s", slug, st, b)
		}
	}
	tn.deployLatest(slug)
}

func (tn *tenant) version(slug string, modules map[string]string) {
	tn.t.Helper()
	main := "index.js"
	if _, ok := modules[main]; !ok {
		for k := range modules {
			main = k
		}
	}
	b, _ := json.Marshal(map[string]any{"main_module": main, "modules": modules})
	if st, body := tn.api("POST", "/api/v1/apps/"+slug+"/versions", string(b)); st != 201 {
		tn.t.Fatalf("version of %s: %d %s", slug, st, body)
	}
}

func (tn *tenant) deployLatest(slug string) {
	tn.t.Helper()
	st, b := tn.api("POST", "/api/v1/apps/"+slug+"/deployments", `{}`)
	var d struct {
		ID     uint
		Status string
		Error  string
	}
	if st != 202 || json.Unmarshal([]byte(b), &d) != nil {
		tn.t.Fatalf("deploy %s: %d %s", slug, st, b)
	}
	deadline := time.Now().Add(20 * time.Second)
	for d.Status == "pending" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		_, b = tn.api("GET", fmt.Sprintf("/api/v1/apps/%s/deployments/%d", slug, d.ID), "")
		json.Unmarshal([]byte(b), &d)
	}
	if d.Status != "succeeded" {
		tn.t.Fatalf("deployment of %s: %s %s", slug, d.Status, d.Error)
	}
}

// edgeGet waits until the edge answers path (apps reach the edge asynchronously).
func (s *served) edgeEventually(t *testing.T, path string, ok func(status int, body string) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var st int
	var body string
	for time.Now().Before(deadline) {
		if r, err := http.Get(s.Edge + path); err == nil {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			st, body = r.StatusCode, string(b)
			if ok(st, body) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("edge %s: last answer %d %.300s", path, st, body)
}
