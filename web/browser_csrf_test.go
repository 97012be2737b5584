package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestBrowserCSRFFromTenantApp replays the review's attack in Chromium, step
// by step. A tenant's app served on the portal's site — here a small server
// on another 127.0.0.1 port, same site as the portal exactly as the local
// edge is — (1) sets claw_csrf to a value it chose (cookies ignore ports),
// then (2) serves a page with <meta name=referrer content=no-referrer> that
// auto-submits a form to the portal replacing the victim's code, with the
// chosen value as the CSRF field. Chromium sends the victim's SameSite=Lax
// session cookie along (same site) and Origin: null. The portal must refuse
// it, and the victim's code must stay as it was; the victim's own saves
// must keep working with the planted cookie in place.
func TestBrowserCSRFFromTenantApp(t *testing.T) {
	ctx := browsertest.New(t)
	p := startPortal(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }

	// The victim signs up, creates an app and saves its code in the browser.
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/signup"),
		chromedp.SendKeys(css(`input[name=email]`), "victim@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.SendKeys(css(`input[name=tenant]`), "Victim"),
		chromedp.Submit(css(`form[action="/signup"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
		chromedp.Navigate(p.URL+"/apps"),
		chromedp.SendKeys(css(`input[name=slug]`), "victim-app"),
		chromedp.SendKeys(css(`input[name=name]`), "Victim app"),
		chromedp.Submit(css(`form[action="/apps"]`)),
		chromedp.WaitVisible(css(`.cm-content`)),
		setEditorText("export default { fetch() { return new Response(\"the victim's code\"); } };\n"),
		chromedp.Click(css(`#save-version`)),
		chromedp.WaitVisible(css(`#editor-form`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	u := mustUser(t, p, "victim@example.com")
	app, err := p.Store.AppBySlug(context.Background(), u.Tenant.ID, "victim-app")
	if err != nil {
		t.Fatal(err)
	}
	versions := func() int {
		vs, err := p.Store.Versions(context.Background(), app.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(vs)
	}
	waitFor(t, "the victim's first version", func() bool { return versions() == 1 })

	// A third origin records what Chromium sends with a no-referrer form,
	// for the log: the review saw Origin: null.
	var probeMu sync.Mutex
	var probeOrigin, probeSite string
	probe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			probeMu.Lock()
			probeOrigin, probeSite = r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
			probeMu.Unlock()
		}
		fmt.Fprint(w, "<!doctype html><title>probe</title><p id=probed>probed</p>")
	}))
	defer probe.Close()

	const planted = "PLANTEDPLANTEDPLANTEDPLANTEDPLANTEDPLANTED1" // 43 characters, like a real one
	evil := "export default { fetch() { return new Response(\"pwned: pay the attacker\"); } };"
	formTo := func(action string) string {
		return `<!doctype html><meta name="referrer" content="no-referrer"><title>cute cats</title>
<form method="post" action="` + html.EscapeString(action) + `">
<input type="hidden" name="_csrf" value="` + planted + `">
<input type="hidden" name="main_module" value="index.js">
<input type="hidden" name="message" value="pwned">
<input type="hidden" name="deploy" value="1">
<textarea name="code">` + html.EscapeString(evil) + `</textarea>
</form>
<script>document.forms[0].submit()</script>`
	}
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/plant":
			// Step 1: no Domain, so a host-only cookie for 127.0.0.1 — which
			// the browser also sends to the portal's port.
			w.Header().Add("Set-Cookie", "claw_csrf="+planted+"; Path=/")
			fmt.Fprint(w, "<!doctype html><title>cats</title><p id=planted>cats</p>")
		case "/probe":
			fmt.Fprint(w, formTo(probe.URL+"/record"))
		case "/attack":
			// Step 2: the forged save-and-deploy of the victim's app.
			fmt.Fprint(w, formTo(p.URL+"/apps/victim-app/versions"))
		}
	}))
	defer attacker.Close()

	// Step 1: the cookie is planted for the portal's host.
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL+"/plant"), chromedp.WaitVisible(css(`#planted`))); err != nil {
		t.Fatal(err)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var sawPlanted bool
	for _, c := range cookies.Cookies {
		if c.Name == "claw_csrf" && c.Value == planted {
			sawPlanted = true
		}
	}
	if !sawPlanted {
		t.Fatalf("step 1 did not plant the cookie for the portal; the browser holds %v", cookieNames(cookies.Cookies))
	}

	// What the browser sends with such a form (logged, not asserted: the
	// portal must refuse the attack whatever the browser sends).
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL+"/probe"), chromedp.WaitVisible(css(`#probed`))); err != nil {
		t.Fatal(err)
	}
	probeMu.Lock()
	t.Logf("a no-referrer form from the tenant's origin carries Origin %q, Sec-Fetch-Site %q", probeOrigin, probeSite)
	probeMu.Unlock()

	// Step 2: the auto-submitted form reaches the portal and is refused.
	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL+"/attack")); err != nil {
		t.Fatal(err)
	}
	var loc string
	waitFor(t, "the forged form to reach the portal", func() bool {
		loc, _ = chromedp.Run(ctx, chromedp.Location())
		return strings.HasPrefix(loc, p.URL)
	})
	if err := chromedp.Do(ctx, chromedp.WaitReady(css(`footer`))); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "csrf-refused")
	text, _ := chromedp.Run(ctx, chromedp.Text(css(`body`)))
	// The refusal names the tab's GET address (post/redirect/get: a reload resubmits nothing).
	if !strings.HasPrefix(loc, p.URL+"/apps/victim-app") || !strings.Contains(text, "sent from another site") {
		t.Fatalf("after the forged post the browser is at %s showing %.300q; want the portal's refusal", loc, text)
	}
	if n := versions(); n != 1 {
		t.Fatalf("the forged post saved a version: %d versions", n)
	}
	latest, err := p.Store.VersionSources(context.Background(), app.ID, mustLatest(t, p, app.ID))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range latest.Sources {
		if strings.Contains(src, "pwned") {
			t.Fatal("the victim's code was replaced")
		}
	}
	if ds, _ := p.Store.Deployments(context.Background(), app.ID, 5); len(ds) != 0 {
		t.Fatalf("the forged post deployed: %d deployments", len(ds))
	}

	// The victim's own save still works, the planted cookie notwithstanding.
	err = chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/apps/victim-app"),
		chromedp.WaitVisible(css(`.cm-content`)),
		setEditorText("export default { fetch() { return new Response(\"v2\"); } };\n"),
		chromedp.Click(css(`#save-version`)),
		chromedp.WaitVisible(css(`#editor-form`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the victim's second version", func() bool { return versions() == 2 })
}

func cookieNames(cs []*network.Cookie) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Name+"="+c.Value)
	}
	return out
}

func mustLatest(t *testing.T, p *portal, appID uint) uint {
	t.Helper()
	vs, err := p.Store.Versions(context.Background(), appID)
	if err != nil || len(vs) == 0 {
		t.Fatalf("versions: %v (%d)", err, len(vs))
	}
	return vs[0].ID
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
