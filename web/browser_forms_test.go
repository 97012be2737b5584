package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserLogin logs a user in through the login page.
func browserLogin(t *testing.T, ctx context.Context, p *portal, email string) {
	t.Helper()
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "a good long password"),
		chromedp.Submit(chromedp.CSS(`form[action="/login"]`)),
		chromedp.WaitReady(chromedp.CSS(`form[action="/logout"]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// TestBrowserFailedFormStaysOnItsTab: a plain form that fails (Delete with the wrong slug)
// shows its message in its own card, the address bar shows the Settings tab rather than
// the POST address, and a reload is a GET that resubmits nothing.
func TestBrowserFailedFormStaysOnItsTab(t *testing.T) {
	ctx := browsertest.New(t)
	p := startPortal(t)
	_, a := tenantApp(t, p, "prgb@example.com", "PRG Browser", "prgb")
	browserLogin(t, ctx, p, "prgb@example.com")
	settings := p.URL + "/apps/" + a.Slug + "/settings"
	err := chromedp.Do(ctx,
		chromedp.Navigate(settings),
		chromedp.SendKeys(chromedp.CSS(`section#delete input[name=confirm]`), "wrong"),
		chromedp.Submit(chromedp.CSS(`section#delete form`)),
		chromedp.WaitVisible(chromedp.CSS(`section#delete .err`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != settings {
		t.Fatalf("after the failed delete the address is %s, want %s", loc, settings)
	}
	if msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`section#delete .err`))); !strings.Contains(msg, "type the slug prgb") {
		t.Fatalf("delete card says %q", msg)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main .err").length`)); n != 1 {
		t.Fatalf("%d error messages on the page, want 1 (in the Delete card)", n)
	}
	// Reload: a resubmitted POST would answer 422 with the message again.
	err = chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitReady(chromedp.CSS(`section#delete`)))
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("main .err").length`)); n != 0 {
		t.Fatal("the reload resubmitted the failed form")
	}
	if _, err := p.Store.AppBySlug(context.Background(), a.TenantID, a.Slug); err != nil {
		t.Fatalf("the app is gone after a failed delete: %v", err)
	}
}

// pausedRequests sends the id of each request the browser's Fetch domain pauses (see
// holdRequests) on the returned channel.
func pausedRequests(t *testing.T, ctx context.Context) chan fetch.RequestID {
	t.Helper()
	paused := make(chan fetch.RequestID, 8)
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*fetch.EventRequestPaused); ok {
			paused <- e.RequestID
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return paused
}

// holdRequests pauses the browser's requests whose URL matches pattern until released.
func holdRequests(t *testing.T, ctx context.Context, pattern string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: pattern, RequestStage: fetch.RequestStageRequest}}}); err != nil {
		t.Fatal(err)
	}
}

func release(ctx context.Context, id fetch.RequestID) {
	go chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: id})
}

func waitPaused(t *testing.T, paused chan fetch.RequestID, what string) fetch.RequestID {
	t.Helper()
	select {
	case id := <-paused:
		return id
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no request left the browser within 20 s", what)
	}
	return ""
}

// busyState reads whether the buttons of the form matched by sel are disabled and marked
// busy, and whether the form carries htmx's request class (the indicator).
const busyState = `(function (sel) {
  var f = document.querySelector(sel), b = f.querySelector("button[type=submit]");
  return {disabled: b.disabled, busy: b.getAttribute("aria-busy") === "true", indicator: f.classList.contains("htmx-request")};
})`

type busy struct {
	Disabled, Busy, Indicator bool
}

// readBusy evaluates busyState on the form matched by sel.
func readBusy(ctx context.Context, sel string) (busy, error) {
	var b busy
	js, err := evalRaw(ctx, "JSON.stringify("+busyState+"("+strconv.Quote(sel)+"))")
	if err != nil {
		return b, err
	}
	return b, json.Unmarshal([]byte(js), &b)
}

// evalRaw evaluates expr (a string or a promise of one) and returns its value.
func evalRaw(ctx context.Context, expr string) (string, error) {
	byValue := true
	r, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: expr, ReturnByValue: &byValue, AwaitPromise: &byValue})
	if err != nil {
		return "", err
	}
	if r.ExceptionDetails != nil {
		return "", fmt.Errorf("%s", r.ExceptionDetails.Text)
	}
	var out string
	if len(r.Result.Value) > 0 {
		_ = json.Unmarshal(r.Result.Value, &out)
	}
	return out, nil
}

// heldProxy stands in front of the portal and counts and holds, server side, every POST
// whose path ends in suffix until release is closed; everything else passes. The browser
// talks to the proxy, so what reaches the server is what the browser sent, whatever the
// browser itself would have cancelled afterwards.
type heldProxy struct {
	URL     string
	arrived chan struct{} // one value per held request that reached the proxy
	release chan struct{}
}

func startHeldProxy(t *testing.T, target, suffix string) *heldProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	h := &heldProxy{arrived: make(chan struct{}, 16), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u)
	var held atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/__held" { // how many requests are held, for the page's script
			fmt.Fprint(w, held.Load())
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, suffix) {
			held.Add(1)
			h.arrived <- struct{}{}
			<-h.release
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
		srv.Close()
	})
	h.URL = srv.URL
	return h
}

// TestBrowserBusyAndDoubleSubmit holds a plain form's request (KV switch) and an htmx form's
// request (new API token): while each waits, its button is disabled and marked busy (the
// htmx form also carries htmx's request class), a second submit sends nothing, and the page
// then shows the single result. The plain form's request is held and counted server side
// (a proxy in front of the portal): a second requestSubmit once the first request has left
// the browser starts a new navigation that Chromium does not drop (it only cancels the
// first one in the page, after the server has it), so only the guard in static/js/app.js
// keeps the count at one.
func TestBrowserBusyAndDoubleSubmit(t *testing.T) {
	ctx := browsertest.New(t)
	p := startPortal(t)
	_, a := tenantApp(t, p, "busy@example.com", "Busy Co", "busy")
	browserLogin(t, ctx, p, "busy@example.com") // cookies are per host, not per port: the proxy sees them
	px := startHeldProxy(t, p.URL, "/kv")
	if err := chromedp.Do(ctx, chromedp.Navigate(px.URL+"/apps/"+a.Slug+"/settings"), chromedp.WaitReady(chromedp.CSS(`form[action$="/kv"]`))); err != nil {
		t.Fatal(err)
	}
	paused := pausedRequests(t, ctx)

	// Plain form: submit, wait until the server holds the request (the page asks the
	// proxy), read the button, submit again (a double click), all in one evaluation:
	// DevTools holds commands to the page while a navigation is pending, and the held
	// request keeps the navigation pending.
	js, err := evalRaw(ctx, `(async function () {
  var f = document.querySelector('form[action$="/kv"]');
  f.requestSubmit();
  for (var i = 0; i < 200; i++) {
    var n = await (await fetch('/__held')).text();
    if (n !== '0') break;
    await new Promise(function (r) { setTimeout(r, 50); });
  }
  var st = `+busyState+`('form[action$="/kv"]');
  f.requestSubmit();
  return JSON.stringify(st);
})()`)
	var st busy
	if err == nil {
		err = json.Unmarshal([]byte(js), &st)
	}
	if err != nil || !st.Disabled || !st.Busy {
		t.Fatalf("while the KV switch waits its button is %+v (%v), want disabled and busy", st, err)
	}
	select {
	case <-px.arrived:
	case <-time.After(20 * time.Second):
		t.Fatal("the KV switch did not reach the server within 20 s")
	}
	select {
	case <-px.arrived:
		close(px.release)
		t.Fatal("the second submit sent a second KV request to the server")
	case <-time.After(2 * time.Second):
	}
	close(px.release)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#flash .flash.ok`))); err != nil {
		t.Fatal(err)
	}
	if flash, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#flash .flash.ok`))); !strings.Contains(flash, "KV store switched on") {
		t.Fatalf("flash after the switch: %q", flash)
	}
	if got, _ := p.Store.AppBySlug(context.Background(), a.TenantID, a.Slug); got == nil || !got.KVEnabled {
		t.Fatal("KV is not on")
	}
	var switches int64
	p.DB.Gorm.Model(&models.AuditEvent{}).Where("action = ?", "app_kv").Count(&switches)
	if switches != 1 {
		t.Fatalf("%d KV switches recorded, want 1", switches)
	}
	var first fetch.RequestID
	if _, err := chromedp.Call(ctx, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}

	// htmx form: the new-token form on Settings.
	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/settings"), chromedp.WaitReady(chromedp.CSS(`#tokens form`))); err != nil {
		t.Fatal(err)
	}
	holdRequests(t, ctx, "*/settings/tokens")
	err = chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#tokens input[name=name]`), "held"),
		chromedp.Click(chromedp.CSS(`#tokens button[type=submit]`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	first = waitPaused(t, paused, "token form")
	st, err = readBusy(ctx, `#tokens form`)
	if err != nil || !st.Disabled || !st.Busy || !st.Indicator {
		t.Fatalf("while the token form waits: %+v (%v), want disabled, busy and htmx-request", st, err)
	}
	if _, err := evalRaw(ctx, `document.querySelector('#tokens button[type=submit]').click(); ""`); err != nil {
		t.Fatal(err)
	}
	release(ctx, first)
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(`#new-token`))); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-paused:
		release(ctx, id)
		t.Fatal("the second click sent a second token request")
	default:
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#tokens tbody tr").length`)); n != 1 {
		t.Fatalf("%d tokens listed, want 1", n)
	}
	if b, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('#tokens button[type=submit]').disabled`)); b {
		t.Fatal("the token button stays disabled after the answer")
	}
}

// TestBrowserPhoneMenu: at 390 px the navigation is a menu that opens and leads to its
// pages; at 1280 px the links are in the bar and the menu is hidden.
func TestBrowserPhoneMenu(t *testing.T) {
	ctx := browsertest.New(t)
	p := startPortal(t)
	tenantApp(t, p, "menu@example.com", "Menu Co", "menuapp")
	browserLogin(t, ctx, p, "menu@example.com")
	visible := func(sel string) bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){var e=document.querySelector(`+"`"+sel+"`"+`);return !!e && e.checkVisibility({visibilityProperty: true, contentVisibilityAuto: true});})()`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(p.URL+"/dashboard"), chromedp.WaitReady(chromedp.CSS(`footer`))); err != nil {
		t.Fatal(err)
	}
	if !visible(`.topnav a[href="/apps"]`) || visible(`details.menu`) {
		t.Fatal("at 1280 px the bar should show the links and hide the menu")
	}
	err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 800), chromedp.Navigate(p.URL+"/dashboard"), chromedp.WaitReady(chromedp.CSS(`footer`)))
	if err != nil {
		t.Fatal(err)
	}
	if visible(`.topnav`) || !visible(`details.menu summary`) || visible(`details.menu nav a[href="/apps"]`) {
		t.Fatal("at 390 px the bar should hide the links behind a closed menu")
	}
	err = chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`details.menu summary`)),
		chromedp.WaitVisible(chromedp.CSS(`details.menu nav a[href="/apps"]`)),
		chromedp.Click(chromedp.CSS(`details.menu nav a[href="/apps"]`)),
		chromedp.WaitReady(chromedp.CSS(`footer`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); loc != p.URL+"/apps" {
		t.Fatalf("the menu's Apps link led to %s", loc)
	}
	if w, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`)); w > 0 {
		t.Fatalf("the Apps page is %d px wider than a 390 px screen", w)
	}
}

// TestBrowserPriceFieldsFollowAccess: the route form shows price, network, wallet and
// settlement only while its access is x402.
func TestBrowserPriceFieldsFollowAccess(t *testing.T) {
	ctx := browsertest.New(t)
	p := startPortal(t)
	_, a := tenantApp(t, p, "price@example.com", "Price Co", "priceapp")
	browserLogin(t, ctx, p, "price@example.com")
	form := `form.route-form[action="/apps/` + a.Slug + `/routes"]`
	shown := func() bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('`+form+` .priced').checkVisibility()`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/apps/"+a.Slug+"/routes"), chromedp.WaitReady(chromedp.CSS(form))); err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		access string
		shown  bool
	}{{"public", false}, {"x402", true}, {"api_key", false}} {
		if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(form+` select[name=access]`), step.access)); err != nil {
			t.Fatal(err)
		}
		if got := shown(); got != step.shown {
			t.Fatalf("access %s: price fields shown %v, want %v", step.access, got, step.shown)
		}
	}
}
