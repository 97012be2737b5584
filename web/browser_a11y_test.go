package web_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/chromedp"
)

// axeSource is axe-core from node_modules (npm ci); the test skips loudly
// without it.
func axeSource(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "\n*** node_modules/axe-core missing: accessibility test SKIPPED (npm ci) ***")
		t.Skip("axe-core is not installed (npm ci)")
	}
	return string(b)
}

// pageCheck is what one page at one width gave.
type pageCheck struct {
	Violations []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  int    `json:"nodes"`
		Target string `json:"target"`
	} `json:"violations"`
	Overflow     int      `json:"overflow"`     // px wider than the viewport
	HiddenCells  []string `json:"hiddenCells"`  // table headers the layout hides
	Forbidden    []string `json:"forbidden"`    // links that answer 4xx/5xx (403 above all) to this viewer
	WideElements []string `json:"wideElements"` // what sticks out, for the failure message
}

// checkScript runs axe and the layout checks in the page and resolves to a pageCheck.
const checkScript = `(async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  const out = {violations: r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help, nodes: v.nodes.length, target: String(v.nodes[0] && v.nodes[0].target)})),
    overflow: document.documentElement.scrollWidth - window.innerWidth, hiddenCells: [], forbidden: [], wideElements: []};
  for (const th of document.querySelectorAll("table th")) {
    if (th.offsetParent === null && th.closest("details:not([open])") === null && th.closest("[hidden]") === null) out.hiddenCells.push(th.textContent.trim());
  }
  if (out.overflow > 0) {
    for (const el of document.body.querySelectorAll("*")) {
      const b = el.getBoundingClientRect();
      if (b.right > window.innerWidth + 1 && el.offsetParent !== null) out.wideElements.push(el.tagName.toLowerCase() + "." + el.className + " " + Math.round(b.right));
      if (out.wideElements.length > 6) break;
    }
  }
  const seen = new Set();
  for (const a of document.querySelectorAll("a[href]")) {
    const u = new URL(a.href, location.href);
    if (u.origin !== location.origin || u.pathname === location.pathname || seen.has(u.pathname)) continue;
    seen.add(u.pathname);
    const res = await fetch(u, {redirect: "manual"});
    if (res.status >= 400) out.forbidden.push(u.pathname + " " + res.status);
  }
  return out;
})()`

// TestBrowserEveryPageAccessible visits every page of the authorization
// matrix as a tenant and as an admin (and the public ones anonymously), at
// 1280 px and 390 px, runs axe-core on each, and checks the phone layout: no
// horizontal overflow, no hidden table columns, no link that answers 403 (or any other error).
func TestBrowserEveryPageAccessible(t *testing.T) {
	axe := axeSource(t)
	ctx := browsertest.New(t)
	p := startPortal(t)
	tok := apiTenant(t, p, "tenant@example.com", "Tenant Co")
	p.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"hello","name":"Hello"}`)
	p.api(t, "POST", "/api/v1/apps/hello/versions", tok, "application/json", jsonVersion("index.js", map[string]string{"index.js": goodWorker}))
	p.api(t, "PUT", "/api/v1/apps/hello/vars/GREETING", tok, "application/json", `{"value":"hi"}`)
	p.api(t, "PUT", "/api/v1/apps/hello/routes", tok, "application/json", `[{"method":"GET","path":"/paid","access":"x402","price":"$0.01","pay_to":"`+payTo+`"},{"method":"GET","path":"/free"}]`)
	hash, _ := models.HashPassword("admin password 123")
	if _, err := p.Store.CreateUser(context.Background(), "admin@example.com", hash, models.RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}

	login := func(email, password string) {
		t.Helper()
		err := chromedp.Do(ctx,
			chromedp.Navigate(p.URL+"/login"),
			chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
			chromedp.Submit(chromedp.CSS(`form[action="/login"]`)),
			chromedp.WaitReady(chromedp.CSS(`form[action="/logout"]`)),
		)
		if err != nil {
			t.Fatal(err)
		}
	}
	logout := func() {
		if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/"), chromedp.Submit(chromedp.CSS(`form[action="/logout"]`)), chromedp.WaitVisible(chromedp.CSS(`.hero`))); err != nil {
			t.Fatal(err)
		}
	}

	type visit struct{ who, path string }
	var visits []visit
	for _, path := range []string{"/", "/login", "/signup", "/no-such-page"} {
		visits = append(visits, visit{"anonymous", path})
	}
	for _, path := range []string{"/dashboard", "/apps", "/apps/hello", "/apps/hello/versions", "/apps/hello/routes",
		"/apps/hello/access", "/apps/hello/payments", "/apps/hello/settings", "/apps/hello/usage", "/usage", "/billing", "/settings"} {
		visits = append(visits, visit{"tenant", path})
	}
	for _, path := range []string{"/admin/", "/admin/tenants", "/admin/tenants/tenant-co", "/admin/sync", "/settings"} {
		visits = append(visits, visit{"admin", path})
	}

	byImpact := map[string]int{}
	var failures []string
	current := "anonymous"
	for _, v := range visits {
		if v.who != current {
			if current != "anonymous" {
				logout()
			}
			switch v.who {
			case "tenant":
				login("tenant@example.com", "a good long password")
			case "admin":
				login("admin@example.com", "admin password 123")
			}
			current = v.who
		}
		for _, width := range []int64{1280, 390} {
			name := fmt.Sprintf("%s %s @%d", v.who, v.path, width)
			var res pageCheck
			err := chromedp.Do(ctx,
				chromedp.EmulateViewport(width, 900),
				chromedp.Navigate(p.URL+v.path),
				chromedp.WaitReady(chromedp.CSS(`footer`)),
				chromedp.Evaluate[chromedp.Void](axe),
			)
			if err == nil {
				res, err = chromedp.Run(ctx, chromedp.Evaluate[pageCheck](checkScript, chromedp.EvalAwaitPromise))
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			browsertest.Screenshot(t, ctx, strings.NewReplacer("/", "_", " ", "-", "@", "").Replace(name))
			for _, vi := range res.Violations {
				byImpact[vi.Impact] += vi.Nodes
				t.Logf("%s: axe %s %s (%d nodes, first %s): %s", name, vi.Impact, vi.ID, vi.Nodes, vi.Target, vi.Help)
				if vi.Impact == "serious" || vi.Impact == "critical" {
					failures = append(failures, fmt.Sprintf("%s: %s %s at %s", name, vi.Impact, vi.ID, vi.Target))
				}
			}
			if width == 390 && res.Overflow > 0 {
				failures = append(failures, fmt.Sprintf("%s: %d px wider than the screen: %v", name, res.Overflow, res.WideElements))
			}
			if len(res.HiddenCells) > 0 {
				failures = append(failures, fmt.Sprintf("%s: hidden table columns %q", name, res.HiddenCells))
			}
			if len(res.Forbidden) > 0 {
				failures = append(failures, fmt.Sprintf("%s: links answering an error: %q", name, res.Forbidden))
			}
		}
	}
	impacts := make([]string, 0, len(byImpact))
	for k, n := range byImpact {
		impacts = append(impacts, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(impacts)
	t.Logf("%d pages × 2 widths; axe violation nodes by impact: %s", len(visits), strings.Join(impacts, " "))
	for _, f := range failures {
		t.Error(f)
	}
}
