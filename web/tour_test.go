package web_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/chromedp"
)

// TestTour walks a running `402claw serve` (local edge, real workerd) as a
// new tenant would, taking screenshots: sign up, create an app, deploy, price
// a route, try it with the dev wallet, look at payments. It runs only when
// CLAW_TOUR_URL names the portal (e.g. http://127.0.0.1:8080).
func TestTour(t *testing.T) {
	base := os.Getenv("CLAW_TOUR_URL")
	if base == "" {
		t.Skip("set CLAW_TOUR_URL to a running portal to take the tour")
	}
	ctx := browsertest.New(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	shot := func(name string) { browsertest.Screenshot(t, ctx, name) }
	slug := fmt.Sprintf("weather%d", time.Now().Unix()%100000)
	email := slug + "@example.com"
	steps := []struct {
		name    string
		actions []chromedp.Action[chromedp.Void]
	}{
		{"landing", []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/"), chromedp.WaitVisible(css(`.hero`))}},
		{"signup", []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/signup"),
			chromedp.SendKeys(css(`input[name=email]`), email), chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
			chromedp.SendKeys(css(`input[name=tenant]`), "Weather Co"), chromedp.Submit(css(`form[action="/signup"]`)), chromedp.WaitVisible(css(`.page-head h1`))}},
		{"apps", []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/apps"), chromedp.WaitVisible(css(`input[name=slug]`))}},
		{"app-created", []chromedp.Action[chromedp.Void]{chromedp.SendKeys(css(`input[name=slug]`), slug), chromedp.SendKeys(css(`input[name=name]`), "Weather"),
			chromedp.Submit(css(`form[action="/apps"]`)), chromedp.WaitVisible(css(`#code`))}},
		{"deployed", []chromedp.Action[chromedp.Void]{
			chromedp.SetValue(css(`#code`), "export default {\n  async fetch(req) {\n    const url = new URL(req.url);\n    return Response.json({ forecast: \"sunny\", path: url.pathname });\n  },\n};\n"),
			chromedp.Click(css(`#editor-form button[name=deploy]`)), chromedp.WaitVisible(css(`#deployment.ok`))}},
		{"routes", []chromedp.Action[chromedp.Void]{chromedp.Click(css(`nav.tabs a[href$="/routes"]`)), chromedp.WaitVisible(css(`form.route-form`)),
			chromedp.SendKeys(css(`form.route-form input[name=path]`), "/forecast"),
			chromedp.SetValue(css(`form.route-form select[name=access]`), "x402"),
			chromedp.SendKeys(css(`form.route-form input[name=price]`), "$0.01"),
			chromedp.SendKeys(css(`form.route-form input[name=pay_to]`), "0x209693bc6afc0c5328ba36faf03c514ef312287c"),
			chromedp.SendKeys(css(`form.route-form input[name=description]`), "Tomorrow's forecast"),
			chromedp.Click(css(`form.route-form button[type=submit]`)), chromedp.WaitVisible(css(`table.routes-table`))}},
		{"try-it", []chromedp.Action[chromedp.Void]{chromedp.Sleep(1500 * time.Millisecond), chromedp.Click(css(`table.routes-table button.primary`)),
			chromedp.WaitVisible(css(`#try-result .try-steps, #try-result ol, #try-result section, #try-result div`))}},
		{"access", []chromedp.Action[chromedp.Void]{chromedp.Sleep(500 * time.Millisecond), chromedp.Click(css(`nav.tabs a[href$="/access"]`)), chromedp.WaitVisible(css(`.page-head h1`))}},
		{"payments", []chromedp.Action[chromedp.Void]{chromedp.Sleep(1500 * time.Millisecond), chromedp.Click(css(`nav.tabs a[href$="/payments"]`)), chromedp.WaitVisible(css(`.page-head h1`))}},
		{"versions", []chromedp.Action[chromedp.Void]{chromedp.Click(css(`nav.tabs a[href$="/versions"]`)), chromedp.WaitVisible(css(`.page-head h1`))}},
		{"settings", []chromedp.Action[chromedp.Void]{chromedp.Click(css(`nav.tabs a[href$="/settings"]`)), chromedp.WaitVisible(css(`.page-head h1`))}},
		{"billing", []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/billing"), chromedp.WaitVisible(css(`.page-head h1`))}},
		{"pricing", []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/pricing"), chromedp.WaitVisible(css(`.page-head h1`))}},
		{"dashboard", []chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/dashboard"), chromedp.WaitVisible(css(`.page-head h1`))}},
	}
	for _, s := range steps {
		if err := chromedp.Do(ctx, s.actions...); err != nil {
			shot("failed-" + s.name)
			t.Fatalf("%s: %v", s.name, err)
		}
		shot(s.name)
	}
	txt, _ := chromedp.Run(ctx, chromedp.Text(css(`main`)))
	if !strings.Contains(txt, "Weather Co") {
		t.Fatalf("dashboard: %s", txt)
	}
}
