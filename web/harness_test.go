package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/web"
	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"
)

// portal is a real portal on a loopback port backed by a real database.
type portal struct {
	URL   string
	Store *models.Store
	DB    modeltest.DB
	App   *fiber.App
}

func startPortal(t testing.TB, mutate ...func(*web.Options)) *portal {
	t.Helper()
	db := modeltest.SQLite(t)
	return startPortalOn(t, db, mutate...)
}

func startPortalOn(t testing.TB, db modeltest.DB, mutate ...func(*web.Options)) *portal {
	t.Helper()
	store := models.NewStore(db.Gorm)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := web.Options{
		Store:       store,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		BaseURL:     "http://" + ln.Addr().String(),
		SignupOpen:  true,
		AuthRate:    1000,
		SecretKey:   make([]byte, 32),
		IngestToken: "test-ingest-token",
	}
	for _, m := range mutate {
		m(&opts)
	}
	app, _, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.ShutdownWithContext(context.Background()) })
	return &portal{URL: "http://" + ln.Addr().String(), Store: store, DB: db, App: app}
}

// browser is a cookie-keeping client that does not follow redirects, so
// tests see the 303s.
type browser struct {
	t    testing.TB
	base string
	c    *http.Client
	// tok is the CSRF token pages gave the browser while it held the cookies tokFor.
	tok, tokFor string
}

func (p *portal) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: p.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type resp struct {
	Status int
	Header http.Header
	Body   string
}

func (r resp) doc(t testing.TB) *goquery.Document {
	d, err := goquery.NewDocumentFromReader(strings.NewReader(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (b *browser) do(method, path string, body io.Reader, hdr map[string]string) resp {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: string(data)}
}

func (b *browser) get(path string) resp { return b.do("GET", path, nil, nil) }

// csrf returns the token the portal's pages give this browser now. Tokens
// are bound to the session (or, before login, to a pre-session cookie), so
// the helper reads it from a page, as a browser's form would, and reads it
// again whenever the cookies change.
func (b *browser) csrf() string {
	b.t.Helper()
	u, _ := url.Parse(b.base)
	var key strings.Builder
	for _, c := range b.c.Jar.Cookies(u) {
		key.WriteString(c.Name + "=" + c.Value + ";")
	}
	if b.tok != "" && b.tokFor == key.String() {
		return b.tok
	}
	r := b.get("/")
	hx, ok := r.doc(b.t).Find("body").Attr("hx-headers")
	var h struct {
		Token string `json:"X-Csrf-Token"`
	}
	if !ok || json.Unmarshal([]byte(hx), &h) != nil || h.Token == "" {
		b.t.Fatalf("no csrf token on the page: %d %.300s", r.Status, r.Body)
	}
	key.Reset()
	for _, c := range b.c.Jar.Cookies(u) {
		key.WriteString(c.Name + "=" + c.Value + ";")
	}
	b.tok, b.tokFor = h.Token, key.String()
	return b.tok
}

// post sends a form with the CSRF field filled in (unless it is given).
func (b *browser) post(path string, form url.Values) resp {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", b.csrf())
	}
	return b.do("POST", path, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

func (b *browser) htmxPost(path string, form url.Values) resp {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	return b.do("POST", path, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true", "X-Csrf-Token": b.csrf()})
}

func (b *browser) signup(email, tenant string) {
	b.t.Helper()
	r := b.post("/signup", url.Values{"email": {email}, "password": {"a good long password"}, "tenant": {tenant}})
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/dashboard" {
		b.t.Fatalf("signup %s: %d %s", email, r.Status, r.Body)
	}
}

func (b *browser) login(email, password string) resp {
	return b.post("/login", url.Values{"email": {email}, "password": {password}})
}

// api calls the JSON API with an optional bearer token.
func (p *portal) api(t testing.TB, method, path, token, contentType, body string) resp {
	t.Helper()
	b := &browser{t: t, base: p.URL, c: http.DefaultClient}
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return b.do(method, path, r, h)
}

func count(t testing.TB, p *portal, model any) int64 {
	var n int64
	if err := p.DB.Gorm.Model(model).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
