package web_test

import (
	"strings"
	"testing"

	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/chromedp"
)

// TestBrowserSignupTokenLogoutLogin drives the real pages in headless
// chromium: sign up → dashboard → create an API token with the htmx form →
// log out → log in.
func TestBrowserSignupTokenLogoutLogin(t *testing.T) {
	ctx := browsertest.New(t)
	p := startPortal(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/"),
		chromedp.Click(css(`a.btn.primary[href="/signup"]`)),
		chromedp.WaitVisible(css(`form[action="/signup"]`)),
		chromedp.SendKeys(css(`input[name=email]`), "browser@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.SendKeys(css(`input[name=tenant]`), "Browser Co"),
		chromedp.Submit(css(`form[action="/signup"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "dashboard")
	if h1, _ := chromedp.Run(ctx, chromedp.Text(css(`.page-head h1`))); h1 != "Browser Co" {
		t.Fatalf("dashboard heading %q", h1)
	}

	// The token form is htmx: the page must not reload. A marker on window
	// survives only if it does not.
	err = chromedp.Do(ctx,
		chromedp.Click(css(`nav a[href="/settings"]`)),
		chromedp.WaitVisible(css(`#tokens form`)),
		chromedp.Evaluate[chromedp.Void](`window.__noReload = true; undefined`),
		chromedp.SendKeys(css(`#tokens input[name=name]`), "from the browser"),
		chromedp.Click(css(`#tokens button[type=submit]`)),
		chromedp.WaitVisible(css(`#new-token`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "token-created")
	secret, _ := chromedp.Run(ctx, chromedp.Text(css(`#new-token`)))
	if !strings.HasPrefix(secret, "claw_") {
		t.Fatalf("token shown %q", secret)
	}
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === true`)); !same {
		t.Fatal("creating a token reloaded the page instead of swapping the fragment")
	}
	if me := p.api(t, "GET", "/api/v1/me", secret, "", ""); me.Status != 200 {
		t.Fatalf("the browser's token does not work: %d", me.Status)
	}
	rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tokens tbody tr").length`))
	if rows != 1 {
		t.Fatalf("token list has %d rows", rows)
	}

	err = chromedp.Do(ctx,
		chromedp.Click(css(`form[action="/logout"] button`)),
		chromedp.WaitVisible(css(`.hero`)),
		chromedp.Navigate(p.URL+"/login"),
		chromedp.SendKeys(css(`input[name=email]`), "browser@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.Submit(css(`form[action="/login"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/dashboard") {
		t.Fatalf("after login at %s", loc)
	}
}
