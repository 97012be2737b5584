package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// TestAbuseReports: the public API and form validate, bound size and volume, store a repeated
// report once, and land in the review queue, where an admin closes them (409 when someone
// else did first).
func TestAbuseReports(t *testing.T) {
	w := newWorld(t)
	p := w.p
	good := `{"app":"b-app","category":"phishing","message":"It serves a fake bank login page."}`
	cases := []struct {
		name, body string
		status     int
		want       string
	}{
		{"unknown app", `{"app":"no-such-app","category":"phishing","message":"It serves a fake bank login page."}`, 422, `"field":"app"`},
		{"bad slug", `{"app":"../etc","category":"phishing","message":"It serves a fake bank login page."}`, 422, `"field":"app"`},
		{"bad category", `{"app":"b-app","category":"meh","message":"It serves a fake bank login page."}`, 422, `"field":"category"`},
		{"short message", `{"app":"b-app","category":"spam","message":"bad"}`, 422, `"field":"message"`},
		{"long message", fmt.Sprintf(`{"app":"b-app","category":"spam","message":%q}`, strings.Repeat("x", 4001)), 422, `"field":"message"`},
		{"huge body", fmt.Sprintf(`{"app":"b-app","category":"spam","message":%q}`, strings.Repeat("x", 9000)), 413, "too_large"},
		{"bad email", `{"app":"b-app","category":"spam","message":"Spams my inbox daily.","email":"Eve <e@x>"}`, 422, `"field":"email"`},
		{"unknown field", `{"app":"b-app","category":"spam","message":"Spams my inbox daily.","admin":true}`, 400, "unknown_field"},
		{"not json", `app=b-app`, 400, "bad_request"},
		{"good", good, 202, `"state":"open"`},
		{"same again", good, 202, `"state":"open"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := p.api(t, "POST", "/api/v1/reports", "", "application/json", c.body)
			if r.Status != c.status || !strings.Contains(r.Body, c.want) {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
		})
	}
	if r := p.api(t, "POST", "/api/v1/reports", "", "text/plain", good); r.Status != 415 {
		t.Fatalf("text/plain: %d", r.Status)
	}
	open, _ := p.Store.Reports(t.Context(), "open", 100)
	if len(open) != 1 {
		t.Fatalf("a repeated report was stored twice (or not at all): %d", len(open))
	}
	// One address files at most 20 a day.
	status := 0
	for i := 0; i < 25 && status != 429; i++ {
		status = p.api(t, "POST", "/api/v1/reports", "", "application/json", fmt.Sprintf(`{"app":"b-app","category":"spam","message":"Spam wave number %d."}`, i)).Status
	}
	if status != 429 {
		t.Fatalf("no daily cap: %d", status)
	}

	// The public form keeps what was typed on an error.
	anon := p.browser(t)
	if pg := anon.get("/report?app=b-app"); pg.Status != 200 || pg.doc(t).Find("input[name=app]").AttrOr("value", "") != "b-app" {
		t.Fatalf("form: %d", pg.Status)
	}
	r := anon.post("/report", url.Values{"app": {"nope-app"}, "category": {"fraud"}, "message": {"Takes money, sends nothing."}})
	if r.Status != 429 && r.Status != 422 {
		t.Fatalf("form error: %d", r.Status)
	}
	if r.Status == 422 && r.doc(t).Find("textarea[name=message]").Text() != "Takes money, sends nothing." {
		t.Fatal("the form lost the message")
	}

	// The queue shows the report; the admin closes it; a second close is 409.
	q := w.admin.get("/admin/review").doc(t)
	row := q.Find("#reports tr[id^=report-]").First()
	if !strings.Contains(row.Text(), "fake bank login") {
		t.Fatalf("the report is not in the queue: %s", q.Find("#reports").Text())
	}
	id, _ := row.Attr("id")
	path := "/admin/reports/" + strings.TrimPrefix(id, "report-") + "/decision"
	if r := w.a.post(path, url.Values{"decision": {"dismiss"}}); r.Status != 404 {
		t.Fatalf("a tenant closed a report: %d", r.Status)
	}
	if r := w.admin.post(path, url.Values{"decision": {"actioned"}, "note": {"App taken down"}}); r.Status != 303 {
		t.Fatalf("close: %d %.200s", r.Status, r.Body)
	}
	if r := w.admin.post(path, url.Values{"decision": {"dismiss"}}); r.Status != 409 {
		t.Fatalf("second close: %d", r.Status)
	}
	assertAudited(t, p, "report_actioned")
}

// TestReportFormSendsReport: the public form files a report and says so (PRG).
func TestReportFormSendsReport(t *testing.T) {
	w := newWorld(t)
	anon := w.p.browser(t)
	r := anon.post("/report", url.Values{"app": {"b-app"}, "category": {"malware"}, "message": {"Serves a crypto miner to visitors."}, "email": {"me@example.com"}})
	if r.Status != 303 || r.Header.Get("Location") != "/report?sent=1" {
		t.Fatalf("send: %d %s", r.Status, r.Header.Get("Location"))
	}
	if anon.get("/report?sent=1").doc(t).Find("#report-sent").Length() != 1 {
		t.Fatal("no thanks")
	}
	if !strings.Contains(w.admin.get("/admin/review").Body, "Serves a crypto miner") {
		t.Fatal("not in the queue")
	}
}
