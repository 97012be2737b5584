package billing

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models/modeltest"
	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"
)

// The demo's Pay button goes through the real webhook path over HTTP: the
// plan changes only because the signed events reached /stripe/webhook.
func TestDemoUpgradeAndCancel(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		baseURL := "http://" + ln.Addr().String()
		f := newFixture(t, db, func(o *Options) { o.Demo, o.WebhookSecret, o.BaseURL = true, "", baseURL })
		if f.svc.Mode() != ModeDemo || f.svc.secret == "" {
			t.Fatalf("mode %s, secret set %v", f.svc.Mode(), f.svc.secret != "")
		}
		app := fiber.New()
		app.Post("/stripe/webhook", f.svc.Webhook)
		web := app.Group("", asUser(f, "b@example.com"))
		web.Get("/billing", f.svc.Page)
		web.Post("/billing/checkout", f.svc.Checkout)
		web.Get("/billing/demo-checkout", f.svc.DemoCheckout)
		web.Post("/billing/demo-checkout", f.svc.DemoPay)
		web.Post("/billing/demo-cancel", f.svc.DemoCancel)
		go app.Listener(ln)
		t.Cleanup(func() { app.Shutdown() })

		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(path string, form url.Values) *http.Response {
			resp, err := client.PostForm(baseURL+path, form)
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		get := func(path string) *goquery.Document {
			resp, err := client.Get(baseURL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("GET %s = %d %s", path, resp.StatusCode, b)
			}
			doc, err := goquery.NewDocumentFromReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return doc
		}
		if plan := get("/billing").Find("#current-plan").Text(); plan != "Free plan" {
			t.Fatalf("before: %q", plan)
		}
		resp := post("/billing/checkout", url.Values{"plan": {"pro"}})
		if resp.StatusCode != 303 || resp.Header.Get("Location") != "/billing/demo-checkout?plan=pro" {
			t.Fatalf("checkout = %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		doc := get("/billing/demo-checkout?plan=pro")
		if !strings.Contains(doc.Find("#demo-banner").Text(), "DEMO — no real payment") || doc.Find("#demo-pay").Length() != 1 {
			t.Fatal("demo checkout page lacks its banner or Pay button")
		}
		if resp := post("/billing/demo-checkout", url.Values{"plan": {"pro"}}); resp.StatusCode != 303 {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("pay = %d %s", resp.StatusCode, b)
		}
		if got := f.tenantPlan(t, f.b.ID); got != "pro" {
			t.Fatalf("plan after demo payment = %s", got)
		}
		if n := f.events(t); n != 2 {
			t.Fatalf("stripe_events = %d, want checkout + subscription", n)
		}
		if plan := get("/billing?checkout=demo").Find("#current-plan").Text(); plan != "Pro plan" {
			t.Fatalf("billing page after payment shows %q", plan)
		}
		if resp := post("/billing/demo-cancel", nil); resp.StatusCode != 303 {
			t.Fatalf("cancel = %d", resp.StatusCode)
		}
		if got := f.tenantPlan(t, f.b.ID); got != "free" {
			t.Fatalf("plan after demo cancel = %s", got)
		}
	})
}

func TestBillingPageWithoutStripe(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		f := newFixture(t, db, func(o *Options) { o.WebhookSecret = "" })
		app := fiber.New()
		web := app.Group("", asUser(f, "a@example.com"))
		web.Get("/billing", f.svc.Page)
		web.Post("/billing/checkout", f.svc.Checkout)
		resp, err := app.Test(newReq("GET", "/billing"), -1)
		if err != nil {
			t.Fatal(err)
		}
		doc, _ := goquery.NewDocumentFromReader(resp.Body)
		if doc.Find("#billing-off").Length() != 1 || doc.Find("form[action='/billing/checkout']").Length() != 0 {
			t.Fatal("billing-off page must say so and offer no upgrade")
		}
		resp, _ = app.Test(newReq("POST", "/billing/checkout"), -1)
		if resp.StatusCode != 404 {
			t.Fatalf("checkout with billing off = %d", resp.StatusCode)
		}
	})
}

func newReq(method, path string) *http.Request {
	r, _ := http.NewRequest(method, path, nil)
	return r
}
