package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

const echoWorker = `export default { async fetch(req) {
  const u = new URL(req.url);
  const body = req.method === "GET" || req.method === "HEAD" ? "" : await req.text();
  console.log("echo saw " + u.pathname);
  if (u.searchParams.get("q") === "boom") console.error("about to fail");
  return Response.json({ path: u.pathname, method: req.method, q: u.searchParams.get("q"), hello: req.headers.get("x-hello"), body });
} };`

// consoleAnswer is what the console fragment shows.
type consoleAnswer struct {
	status       int
	statusText   string
	body         string
	canPay, paid bool
	receipt      string
	errors       string
	doc          *goquery.Document
}

func (tn *tenant) console(slug string, v url.Values) consoleAnswer {
	tn.t.Helper()
	st, body := tn.form("/apps/"+slug+"/console", v)
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
	if err != nil {
		tn.t.Fatal(err)
	}
	last := doc.Find(".console-result > .console-answer").Last()
	return consoleAnswer{
		status:     st,
		statusText: strings.TrimSpace(last.Find(".console-status .pill").Text()),
		body:       last.Find("pre.console-body").Text(),
		canPay:     doc.Find("form.console-pay").Length() == 1,
		paid:       strings.Contains(last.Text(), "Paid "),
		receipt:    last.Find("details pre").Text(),
		errors:     doc.Find("small.err, .flash.error").Text(),
		doc:        doc,
	}
}

// TestConsoleThroughTheEdge sends the test console's requests through the real edge
// (workerd running the dispatcher): a public route, an api_key route with and without a
// consumer key, an x402 route answered 402 and then paid with the dev wallet; and it checks
// that the console cannot be pointed anywhere but the app.
func TestConsoleThroughTheEdge(t *testing.T) {
	s := startServe(t, nil)
	tn := s.signUp(t, "console@example.com", "Console Co")
	tn.deploy("echo", map[string]string{"index.js": echoWorker}, `[
	  {"method":"GET","path":"/free","access":"public"},
	  {"method":"POST","path":"/keyed","access":"api_key"},
	  {"method":"GET","path":"/paid","access":"x402","price":"$0.01","network":"eip155:84532","pay_to":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C"}
	]`)
	s.edgeEventually(t, "/echo/paid", func(st int, _ string) bool { return st == 402 })

	// Public: headers and query reach the app; the answer is pretty-printed JSON.
	a := tn.console("echo", url.Values{"method": {"GET"}, "path": {"/free?q=ada"}, "headers": {"X-Hello: hi there"}})
	if a.status != 200 || !strings.HasPrefix(a.statusText, "200") {
		t.Fatalf("public: %d %q %s", a.status, a.statusText, a.errors)
	}
	for _, want := range []string{`"q": "ada"`, `"hello": "hi there"`, `"path": "/free"`} {
		if !strings.Contains(a.body, want) {
			t.Fatalf("public body lacks %s:\n%s", want, a.body)
		}
	}
	if a.doc.Find(".console-headers th:contains('Content-Type')").Length() == 0 || !strings.Contains(a.doc.Find(".console-status").Text(), "in ") {
		t.Fatalf("headers or time missing")
	}

	// The lines that request logged, fetched the way the panel polls for them.
	poll, hasPanel := a.doc.Find(".console-logs").Attr("hx-get")
	if !hasPanel || !strings.Contains(poll, "request_id=") {
		t.Fatalf("no logs panel for the request")
	}
	var logs string
	for i := 0; i < 100 && !strings.Contains(logs, "echo saw /free"); i++ {
		time.Sleep(50 * time.Millisecond)
		_, logs = tn.do("GET", poll, nil, nil)
	}
	if !strings.Contains(logs, "info echo saw /free") || strings.Contains(logs, "about to fail") {
		t.Fatalf("the request's logs: %s", logs)
	}

	// api_key: refused without a key, answered with one.
	a = tn.console("echo", url.Values{"method": {"POST"}, "path": {"/keyed"}, "body": {`{"n":1}`}})
	if !strings.HasPrefix(a.statusText, "401") {
		t.Fatalf("api_key without a key: %q", a.statusText)
	}
	st, page := tn.form("/apps/echo/keys", url.Values{"name": {"console"}})
	doc, _ := goquery.NewDocumentFromReader(strings.NewReader(page))
	key := strings.TrimSpace(doc.Find("#new-key").Text())
	if st != 200 || key == "" {
		t.Fatalf("consumer key: %d", st)
	}
	s.edgeEventually(t, "/echo/free", func(int, string) bool { return true })
	var ok bool
	for i := 0; i < 100 && !ok; i++ { // the key reaches the edge with the next config write
		a = tn.console("echo", url.Values{"method": {"POST"}, "path": {"/keyed"}, "headers": {"X-API-Key: " + key}, "body": {`{"n":1}`}})
		ok = strings.HasPrefix(a.statusText, "200")
	}
	if !ok || !strings.Contains(a.body, `"body": "{\"n\":1}"`) || !strings.Contains(a.body, `"method": "POST"`) {
		t.Fatalf("api_key with the key: %q\n%s", a.statusText, a.body)
	}

	// x402: a 402 shown as such with the dev wallet offer, then paid.
	a = tn.console("echo", url.Values{"method": {"GET"}, "path": {"/paid"}})
	if !strings.HasPrefix(a.statusText, "402") || !a.canPay || !strings.Contains(a.doc.Text(), "PAYMENT-REQUIRED") || !strings.Contains(a.doc.Text(), "0.01 USDC") {
		t.Fatalf("x402 unpaid: %q canPay=%v\n%s", a.statusText, a.canPay, a.doc.Text())
	}
	a = tn.console("echo", url.Values{"method": {"GET"}, "path": {"/paid"}, "pay": {"1"}})
	if !strings.HasPrefix(a.statusText, "200") || !a.paid || !strings.Contains(a.receipt, `"success": true`) || !strings.Contains(a.body, `"path": "/paid"`) {
		t.Fatalf("x402 paid: %q paid=%v receipt=%s\n%s", a.statusText, a.paid, a.receipt, a.doc.Text())
	}
	if a.doc.Find(".console-first .pill").Text() == "" {
		t.Fatalf("the unpaid first call is not shown")
	}

	// Guards: only this app, bounded sizes, no connection headers; nothing is sent.
	for _, c := range []struct {
		name string
		form url.Values
		want string
	}{
		{"other host", url.Values{"path": {"//evil.example/x"}}, "single /"},
		{"absolute URL", url.Values{"path": {"http://evil.example/x"}}, "single /"},
		{"dot segments", url.Values{"path": {"/../other/x"}}, ". or .."},
		{"encoded dot segments", url.Values{"path": {"/%2E%2e/other/x"}}, ". or .."},
		{"backslash", url.Values{"path": {"/\\evil"}}, "backslash"},
		{"space", url.Values{"path": {"/a b"}}, "spaces"},
		{"method", url.Values{"method": {"CONNECT"}}, "Choose one of"},
		{"host header", url.Values{"headers": {"Host: other.localhost"}}, "set by the client or the edge"},
		{"forwarded header", url.Values{"headers": {"X-Forwarded-For: 1.2.3.4"}}, "set by the client or the edge"},
		{"bad header line", url.Values{"headers": {"no colon here"}}, "Line 1 is not a header"},
		{"too many headers", url.Values{"headers": {strings.Repeat("X-A: 1\n", 31)}}, "At most 30"},
		{"big body", url.Values{"method": {"POST"}, "body": {strings.Repeat("x", 17<<10)}}, "at most 16 KiB"},
		{"GET body", url.Values{"method": {"GET"}, "body": {"x"}}, "carry no body"},
	} {
		a := tn.console("echo", c.form)
		if a.status != 422 || !strings.Contains(a.errors, c.want) || a.doc.Find(".console-result").Length() != 0 {
			t.Errorf("%s: %d %q", c.name, a.status, a.errors)
		}
	}

	// Another tenant cannot use this app's console, and a request without CSRF is refused.
	other := s.signUp(t, "other@example.com", "Other Co")
	if st, _ := other.form("/apps/echo/console", url.Values{"path": {"/free"}}); st != 404 {
		t.Errorf("another tenant: %d", st)
	}
	if st, _ := tn.do("POST", "/apps/echo/console", strings.NewReader("path=/free"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}); st != 403 {
		t.Errorf("without CSRF: %d", st)
	}

	// The console has a per-user budget.
	var limited bool
	for i := 0; i < 70 && !limited; i++ {
		a := tn.console("echo", url.Values{"path": {fmt.Sprintf("/free?i=%d", i)}})
		limited = a.status == 429 && strings.Contains(a.errors, "at most 60 requests a minute")
	}
	if !limited {
		t.Errorf("the console has no rate limit")
	}
}
