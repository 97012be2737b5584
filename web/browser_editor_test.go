package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

type editedFile struct {
	Name string `json:"name"`
	Code string `json:"code"`
	Main bool   `json:"main"`
}

// TestBrowserEditorRoundTrip: issue 11's lost code, in a real browser with the real editor.
// Write code, save with Ctrl-S, reload, edit, save again, reload: the text is exactly what was
// typed every time — for one file, several files and TypeScript. Along the way: Tab indents,
// Escape then Tab leaves the editor, and a syntax error is marked on its line while typing.
func TestBrowserEditorRoundTrip(t *testing.T) {
	ctx := browsertest.New(t)
	ep := startEdgePortal(t)
	b := ep.browser(t)
	b.signup("cm@example.com", "CodeMirror")
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	// Every page records the CSP violations it meets (the editor must need no inline style or script).
	must0 := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener("securitypolicyviolation", (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + e.sample));`})
		return err
	}))
	if must0 != nil {
		t.Fatal(must0)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			browsertest.Screenshot(t, ctx, "editor-failure")
			t.Fatal(err)
		}
	}
	files := func() []editedFile {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(document.getElementById("editor-form").clawEditor.files())`))
		must(err)
		var out []editedFile
		must(json.Unmarshal([]byte(raw), &out))
		return out
	}
	// typeAll replaces the current file's text as a paste does (Chromium's insertText turns
	// tabs into no-break spaces in any contenteditable, so the editor's own transaction is used).
	typeAll := func(text string) {
		t.Helper()
		js, _ := json.Marshal(text)
		must(chromedp.Do(ctx,
			chromedp.Click(css(`.cm-content`)),
			chromedp.Evaluate[chromedp.Void](`(() => { const v = document.getElementById("editor-form").clawEditor.view;
				v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: `+string(js)+` }, userEvent: "input.paste" }); })()`),
		))
	}
	save := func() {
		t.Helper()
		must(chromedp.Do(ctx,
			chromedp.Evaluate[chromedp.Void](`window.__before = performance.timeOrigin; undefined`),
			chromedp.Click(css(`.cm-content`)),
			chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
			chromedp.WaitVisible(css(`.flash.ok`)),
			chromedp.WaitVisible(css(`.cm-content`)),
		))
	}
	reload := func() {
		t.Helper()
		must(chromedp.Do(ctx, chromedp.Navigate(ep.URL+"/apps/cm-app"), chromedp.WaitVisible(css(`.cm-content`))))
	}
	must(chromedp.Do(ctx,
		chromedp.Navigate(ep.URL+"/login"),
		chromedp.SendKeys(css(`input[name=email]`), "cm@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.Submit(css(`form[action="/login"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
		chromedp.Navigate(ep.URL+"/apps"),
		chromedp.SendKeys(css(`input[name=slug]`), "cm-app"),
		chromedp.SendKeys(css(`input[name=name]`), "CM app"),
		chromedp.Submit(css(`form[action="/apps"]`)),
		chromedp.WaitVisible(css(`.cm-content`)),
	))
	browsertest.Screenshot(t, ctx, "editor-new-app")

	// One file.
	code := "export default {\n\tasync fetch(request) {\n\t\treturn new Response(\"ü — one\");\n\t},\n};\n"
	typeAll(code)
	save()
	if got := files(); len(got) != 1 || got[0] != (editedFile{"index.js", code, true}) {
		t.Fatalf("after the first save: %#v", got)
	}
	reload()
	if got := files(); len(got) != 1 || got[0].Code != code {
		t.Fatalf("after a reload: %+v", got)
	}
	code = strings.Replace(code, "one", "two", 1)
	typeAll(code)
	save()
	reload()
	if got := files(); len(got) != 1 || got[0] != (editedFile{"index.js", code, true}) {
		t.Fatalf("after the second save and a reload: %+v", got)
	}

	// Tab indents; Escape then Tab leaves the editor.
	must(chromedp.Do(ctx,
		chromedp.Click(css(`.cm-content`)),
		chromedp.KeyEvent("\t"),
	))
	inEditor, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.activeElement.closest(".cm-editor")`))
	must(err)
	if !inEditor {
		t.Fatal("Tab left the editor instead of indenting")
	}
	must(chromedp.Do(ctx, chromedp.KeyEvent("\u001b"), chromedp.KeyEvent("\t")))
	inEditor, err = chromedp.Run(ctx, chromedp.Evaluate[bool](`!!document.activeElement.closest(".cm-editor")`))
	must(err)
	if inEditor {
		t.Fatal("Escape then Tab did not leave the editor")
	}

	// A syntax error is marked on its line while typing, without a save.
	typeAll("export default {\n  fetch() {\n    return new Response(1\n  }\n};\n")
	must(chromedp.Do(ctx, chromedp.WaitVisible(css(`.cm-lintRange-error`))))
	line, err := chromedp.Run(ctx, chromedp.Evaluate[int](`[...document.querySelectorAll(".cm-line")].findIndex(l => l.querySelector(".cm-lintRange-error")) + 1`))
	must(err)
	if line != 4 {
		t.Fatalf("the syntax error is marked on line %d, want 4", line)
	}
	browsertest.Screenshot(t, ctx, "editor-diagnostic")

	// Several files and TypeScript.
	main := "import { greet } from \"./lib.ts\";\nexport default {\n  fetch(): Response {\n    return new Response(greet(\"ts\"));\n  },\n};\n"
	lib := "export function greet(who: string): string {\n  return `hi ${who}`;\n}\n"
	typeAll(main)
	// rename types a new name into the shown file's name field, as a person would.
	rename := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Click(css(`.file-slot.active input[name=file_name]`)),
			chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
			chromedp.KeyEvent("\b"),
			chromedp.SendKeys(css(`.file-slot.active input[name=file_name]`), name),
		)
	}
	must(chromedp.Do(ctx,
		rename("index.ts"),
		chromedp.Click(css(`.file-tab.add`)),
		rename("lib.ts"),
	))
	typeAll(lib)
	save()
	reload()
	got := files()
	want := []editedFile{{"index.ts", main, true}, {"lib.ts", lib, false}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("two TypeScript files after save and reload:\n got %+v\nwant %+v", got, want)
	}
	browsertest.Screenshot(t, ctx, "editor-two-files")
	csp, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__csp`))
	must(err)
	if len(csp) > 0 {
		t.Errorf("the editor broke the page's CSP: %q", csp)
	}
}

// TestBrowserEditorBadInput: two of the workbench's bad inputs in a real browser. A rename onto
// another file's name is refused on the renamed file before anything is sent (Ctrl-S stays on the
// page, focus on the name); deleting the main module of three files and saving is refused by the
// server with the deleted file's name, and the page comes back with the two files as they were.
// Nothing is stored either time.
func TestBrowserEditorBadInput(t *testing.T) {
	ctx := browsertest.New(t)
	ep := startEdgePortal(t)
	b := ep.browser(t)
	b.signup("bad@example.com", "BadInput")
	if r := b.post("/apps", url.Values{"slug": {"bad-app"}, "name": {"Bad"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.Status)
	}
	main := "import { x } from \"./lib.js\";\nexport default { fetch() { return new Response(x); } };\n"
	lib := "export const x = \"lib\";\n"
	if r := b.post("/apps/bad-app/versions", url.Values{"file_name": {"index.js", "lib.js"}, "file_code": {main, lib}, "main_index": {"0"}}); r.Status != 200 {
		t.Fatalf("first version: %d", r.Status)
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			browsertest.Screenshot(t, ctx, "editor-bad-input-failure")
			t.Fatal(err)
		}
	}
	files := func() []editedFile {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(document.getElementById("editor-form").clawEditor.files())`))
		must(err)
		var out []editedFile
		must(json.Unmarshal([]byte(raw), &out))
		return out
	}
	eval := func(js string) string {
		t.Helper()
		out, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		must(err)
		return out
	}
	tab := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Evaluate[chromedp.Void](`[...document.querySelectorAll(".file-tab[role=tab]")].find((t) => t.textContent.startsWith(` + fmt.Sprintf("%q", name) + `)).click()`)
	}
	rename := func(name string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.Click(css(`.file-slot.active input[name=file_name]`)),
			chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
			chromedp.KeyEvent("\b"),
			chromedp.SendKeys(css(`.file-slot.active input[name=file_name]`), name),
		)
	}
	must(chromedp.Do(ctx,
		chromedp.Navigate(ep.URL+"/login"),
		chromedp.SendKeys(css(`input[name=email]`), "bad@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.Submit(css(`form[action="/login"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
		chromedp.Navigate(ep.URL+"/apps/bad-app"),
		chromedp.WaitVisible(css(`.cm-content`)),
	))

	// A rename onto an existing name: said on the renamed file at once, and Ctrl-S sends nothing.
	must(chromedp.Do(ctx, tab("lib.js"), rename("INDEX.js")))
	must(chromedp.Do(ctx, chromedp.WaitVisible(css(`.file-slot.active .slot-problems li`))))
	if msg := eval(`document.querySelector(".file-slot.active .slot-problems").textContent`); !strings.Contains(msg, "differs from index.js only in case") {
		t.Fatalf("the renamed file says %q", msg)
	}
	must(chromedp.Do(ctx, rename("index.js")))
	if msg := eval(`document.querySelector(".file-slot.active .slot-problems").textContent`); !strings.Contains(msg, "already named index.js") {
		t.Fatalf("the renamed file says %q", msg)
	}
	if other := eval(`[...document.querySelectorAll(".file-slot:not(.active) .slot-problems li")].map((l) => l.textContent).join("|")`); other != "" {
		t.Fatalf("the other file carries %q", other)
	}
	must(chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`window.__samePage = true; undefined`),
		chromedp.Click(css(`.cm-content`)),
		chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
	))
	if eval(`String(window.__samePage) + " " + document.activeElement.name`) != "true file_name" {
		t.Fatal("Ctrl-S with a name clash left the page or did not point at the name")
	}
	if got := files(); len(got) != 2 || got[0] != (editedFile{"index.js", main, true}) || got[1] != (editedFile{"index.js", lib, false}) {
		t.Fatalf("the editor holds %+v", got)
	}
	browsertest.Screenshot(t, ctx, "editor-name-clash")
	must(chromedp.Do(ctx, rename("lib.js")))
	if msg := eval(`document.querySelector(".file-slot.active .slot-problems").textContent`); msg != "" {
		t.Fatalf("the message stays after the rename is undone: %q", msg)
	}

	// Delete the main module of three files, save: refused, the two files kept.
	util := "export const y = 2;\n"
	must(chromedp.Do(ctx,
		chromedp.Click(css(`.file-tab.add`)),
		rename("util.js"),
		chromedp.Evaluate[chromedp.Void](`(() => { const v = document.getElementById("editor-form").clawEditor.view;
			v.dispatch({ changes: { from: 0, to: v.state.doc.length, insert: `+fmt.Sprintf("%q", util)+` } }); })()`),
		tab("index.js"),
		chromedp.Evaluate[chromedp.Void](`window.confirm = () => true; undefined`),
		chromedp.Click(css(`.file-tab.remove`)),
		chromedp.Click(css(`.cm-content`)),
		chromedp.KeyEvent("s", chromedp.KeyModifiers(chromedp.ModifierCtrl)),
		chromedp.WaitVisible(css(`#build-problems`)),
		chromedp.WaitVisible(css(`.cm-content`)),
	))
	if msg := eval(`document.getElementById("build-problems").textContent`); !strings.Contains(msg, "index.js was the main module") {
		t.Fatalf("the refusal says %q", msg)
	}
	if got := files(); len(got) != 2 || got[0] != (editedFile{"lib.js", lib, false}) || got[1] != (editedFile{"util.js", util, false}) {
		t.Fatalf("after the refused save the editor holds %+v", got)
	}
	browsertest.Screenshot(t, ctx, "editor-main-deleted")
	if n := count(t, ep.portal, &models.Version{}); n != 1 {
		t.Fatalf("refused saves stored versions: %d", n)
	}
}
