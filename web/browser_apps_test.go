package web_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/chromedp"
)

// TestBrowserEditDeploy: paste code with a syntax error → the error shows at
// the right line; fix it → save and deploy → the status turns to succeeded
// through htmx polling, without a page reload.
func TestBrowserEditDeploy(t *testing.T) {
	ctx := browsertest.New(t)
	var ep *edgePortal
	ep = startEdgePortal(t, func(o *web.Options) {
		run := o.SyncNow
		// Hold the first attempt back so the page shows "pending" and must poll.
		o.SyncNow = func(ctx context.Context, target string) error {
			time.Sleep(1500 * time.Millisecond)
			return run(ctx, target)
		}
	})
	b := ep.browser(t)
	b.signup("editor@example.com", "Editor")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err := chromedp.Do(ctx,
		chromedp.Navigate(ep.URL+"/login"),
		chromedp.SendKeys(css(`input[name=email]`), "editor@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.Submit(css(`form[action="/login"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
		chromedp.Navigate(ep.URL+"/apps"),
		chromedp.SendKeys(css(`input[name=slug]`), "browser-app"),
		chromedp.SendKeys(css(`input[name=name]`), "Browser app"),
		chromedp.Submit(css(`form[action="/apps"]`)),
		chromedp.WaitVisible(css(`.cm-content`)),
		setEditorText("export default {\n  async fetch(req) {\n    return new Response(\"ok\"\n  },\n};\n"),
		chromedp.Click(css(`#editor-form button[name=deploy]`)),
		chromedp.WaitVisible(css(`#build-problems`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "app-syntax-error")
	loc, _ := chromedp.Run(ctx, chromedp.Text(css(`#build-problems .loc`)))
	if !strings.HasPrefix(loc, "index.js:4:") {
		t.Fatalf("error location %q, want index.js:4:…", loc)
	}
	bad, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll(".cm-line")].findIndex(l => l.querySelector(".cm-lintRange-error")) + 1`))
	if bad != 4 {
		t.Fatalf("marked line %d", bad)
	}
	err = chromedp.Do(ctx,
		setEditorText("export default {\n  async fetch(req) {\n    return new Response(\"ok\");\n  },\n};\n"),
		chromedp.Click(css(`#editor-form button[name=deploy]`)),
		chromedp.WaitVisible(css(`#deployment.pending`)),
		chromedp.Evaluate[chromedp.Void](`window.__noReload = true; undefined`),
		chromedp.WaitVisible(css(`#deployment.ok`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "app-deployed")
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === true`)); !same {
		t.Fatal("the page reloaded instead of polling the deployment status")
	}
	txt, _ := chromedp.Run(ctx, chromedp.Text(css(`#deployment`)))
	if !strings.Contains(txt, "succeeded") || !strings.Contains(txt, "v1") {
		t.Fatalf("deployment shows %q", txt)
	}
}

// setEditorText replaces the shown file's text in the Code tab's editor, as a paste does.
func setEditorText(text string) chromedp.Action[chromedp.Void] {
	js, _ := json.Marshal(text)
	return chromedp.Evaluate[chromedp.Void](`(() => { const v = document.getElementById("editor-form").clawEditor.view;
		v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: ` + string(js) + ` }, userEvent: "input.paste" }); })()`)
}
