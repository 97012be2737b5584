package web_test

import (
	"encoding/csv"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/web"
	"github.com/PuerkitoBio/goquery"
)

// seedUsage posts events through the ingest endpoint, as the edge does: on app "charts",
// route GET /a gets 3 requests this hour (one paid 0.25 USDC on Base, one a worker exception)
// and route GET /b one request 3 hours ago that hit the subrequest limit, plus one simulated
// payment of 1 USDC this hour.
func seedUsage(t *testing.T, p *portal, slug string, now time.Time) {
	t.Helper()
	ms := now.UnixMilli()
	old := now.Add(-3 * time.Hour).UnixMilli()
	body := fmt.Sprintf(`{"events":[
		{"ts":%[1]d,"app":%[3]q,"route":"GET /a","status_code":200,"cpu_ms":2,"duration_ms":10},
		{"ts":%[1]d,"app":%[3]q,"route":"GET /a","status_code":200,"payment_required":true,"payment_success":true,"amount":"250000","network":"eip155:8453","payer":"0x857b06519E91e3A54538791bDbb0E22373e36b66","transaction":"0xabc1","nonce":"0x01","settlement_result":"success","verify_result":"valid","duration_ms":20},
		{"ts":%[1]d,"app":%[3]q,"route":"GET /a","status_code":500,"error_code":"worker_exception","duration_ms":5},
		{"ts":%[1]d,"app":%[3]q,"route":"GET /a","status_code":200,"payment_required":true,"payment_success":true,"amount":"1000000","network":"eip155:84532","payer":"0x857b06519E91e3A54538791bDbb0E22373e36b66","transaction":"0xabc2","nonce":"0x02","settlement_result":"success","verify_result":"valid","simulated":true,"duration_ms":20},
		{"ts":%[2]d,"app":%[3]q,"route":"GET /b","status_code":503,"error_code":"subrequest_limit_exceeded","duration_ms":7}]}`, ms, old, slug)
	if r := p.api(t, "POST", "/internal/telemetry", "test-ingest-token", "application/json", body); r.Status != 202 {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
}

func rowCells(s *goquery.Selection) string {
	var cells []string
	s.Children().Each(func(_ int, c *goquery.Selection) { cells = append(cells, strings.TrimSpace(c.Text())) })
	return strings.Join(cells, " | ")
}

func TestUsageCharts(t *testing.T) {
	p := startPortal(t)
	b, _ := tenantApp(t, p, "charts@example.com", "Charts", "charts")
	// Another tenant's app, never shown to this one.
	tenantApp(t, p, "other@example.com", "Other", "otherapp")
	now := time.Now().UTC()
	seedUsage(t, p, "charts", now)
	seedUsage(t, p, "otherapp", now)

	r := b.get("/usage")
	if r.Status != 200 {
		t.Fatalf("/usage: %d %s", r.Status, r.Body)
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "style-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("CSP %q", csp)
	}
	d := r.doc(t)
	if n := d.Find("[style]").Length(); n != 0 {
		t.Errorf("%d elements with a style attribute under a CSP that forbids them", n)
	}
	// The data table for screen readers: 24 hourly rows; this hour and 3 hours ago hold the events.
	rows := d.Find("#usage-data tbody tr")
	if rows.Length() != 24 {
		t.Fatalf("%d hourly rows, want 24", rows.Length())
	}
	hour := now.Truncate(time.Hour)
	want := map[string]string{
		hour.Format("2006-01-02 15:04") + " UTC":                    "4 | 2 | 0.25 USDC | 1 | 0",
		hour.Add(-3*time.Hour).Format("2006-01-02 15:04") + " UTC":  "1 | 0 | 0 USDC | 1 | 1",
		hour.Add(-23*time.Hour).Format("2006-01-02 15:04") + " UTC": "0 | 0 | 0 USDC | 0 | 0",
	}
	rows.Each(func(_ int, tr *goquery.Selection) {
		label := strings.TrimSpace(tr.Find("th").Text())
		if w, ok := want[label]; ok {
			if got := rowCells(tr.Find("td").Parent()); !strings.HasSuffix(got, w) {
				t.Errorf("row %s = %q, want … %s", label, got, w)
			}
			delete(want, label)
		}
	})
	if len(want) != 0 {
		t.Errorf("rows missing: %v", want)
	}
	// Charts: one bar per bucket, axes with labels, a tooltip per bar.
	for _, c := range []struct {
		id, total, tooltip string
	}{
		{"#chart-requests", "total 5 requests", hour.Format("2006-01-02 15:04") + " UTC: 4 requests"},
		{"#chart-paid", "total 2 paid calls", hour.Format("2006-01-02 15:04") + " UTC: 2 paid calls"},
		{"#chart-revenue", "total 0.25 USDC", hour.Format("2006-01-02 15:04") + " UTC: 0.25 USDC"},
		{"#chart-errors", "total 2 errors", hour.Add(-3*time.Hour).Format("2006-01-02 15:04") + " UTC: 1 errors"},
		{"#chart-limit-hits", "total 1 limit hits", hour.Add(-3*time.Hour).Format("2006-01-02 15:04") + " UTC: 1 limit hits"},
	} {
		fig := d.Find(c.id)
		if fig.Length() != 1 {
			t.Fatalf("no %s", c.id)
		}
		if got := fig.Find("figcaption").Text(); !strings.Contains(got, c.total) {
			t.Errorf("%s caption %q, want %q", c.id, got, c.total)
		}
		if n := fig.Find("svg rect.bar").Length(); n != 24 {
			t.Errorf("%s: %d bars, want 24", c.id, n)
		}
		if fig.Find("svg .x-axis text").Length() == 0 || fig.Find("svg .y-axis text").Length() != 3 {
			t.Errorf("%s: axes without labels", c.id)
		}
		var titles []string
		fig.Find("svg rect.bar title").Each(func(_ int, s *goquery.Selection) { titles = append(titles, s.Text()) })
		if !strings.Contains(strings.Join(titles, "\n"), c.tooltip) {
			t.Errorf("%s: no tooltip %q", c.id, c.tooltip)
		}
	}
	// Errors and limit hits are drawn with patterns, not told apart by colour alone.
	if f, _ := d.Find("#chart-errors rect.bar").First().Attr("fill"); f != "url(#chart-errors-hatch)" {
		t.Errorf("errors fill %q", f)
	}
	if !strings.Contains(d.Text(), "1 USDC, not counted") {
		t.Error("the simulated revenue is not mentioned apart")
	}
	// The breakdown per app: this tenant's app only.
	bd := d.Find("#usage-breakdown tbody tr")
	if bd.Length() != 1 || !strings.HasPrefix(rowCells(bd), "Charts charts | 5 | 2 | 0.25 USDC | 2 | 1 | 0") {
		t.Errorf("breakdown %d rows, %q", bd.Length(), rowCells(bd.First()))
	}

	// The app's Usage tab: per route, and one route alone.
	d = b.get("/apps/charts/usage").doc(t)
	var routes []string
	d.Find("#usage-breakdown tbody tr").Each(func(_ int, s *goquery.Selection) { routes = append(routes, rowCells(s)) })
	if len(routes) != 2 || !strings.HasPrefix(routes[0], "GET /a | 4 | 2 | 0.25 USDC | 1 | 0") || !strings.HasPrefix(routes[1], "GET /b | 1 | 0 | 0 USDC | 1 | 1") {
		t.Errorf("routes %q", routes)
	}
	if d.Find("nav.tabs a.current").Text() != "Usage" {
		t.Error("the Usage tab is not current")
	}
	d = b.get("/apps/charts/usage?" + url.Values{"route": {"GET /b"}}.Encode()).doc(t)
	if got := d.Find("#chart-requests figcaption").Text(); !strings.Contains(got, "total 1 requests") {
		t.Errorf("route /b caption %q", got)
	}
	if d.Find("#chart-paid.is-empty .chart-empty").Length() != 1 {
		t.Error("route /b has no paid calls but its chart is not in its empty state")
	}

	// 7 and 30 days are daily. Route /b's event of 3 hours ago is yesterday's between 00:00
	// and 03:00 UTC.
	today := "5"
	if now.Add(-3*time.Hour).Day() != now.Day() {
		today = "4"
	}
	for rng, n := range map[string]int{"7d": 7, "30d": 30} {
		d := b.get("/apps/charts/usage?range=" + rng).doc(t)
		if got := d.Find("#chart-requests rect.bar").Length(); got != n {
			t.Errorf("%s: %d bars, want %d", rng, got, n)
		}
		if got := d.Find("#usage-data tbody tr").Last().Find("td").First().Text(); got != today {
			t.Errorf("%s: today's requests %q, want %s", rng, got, today)
		}
	}
}

func TestUsageChartsEmptyAndBadInput(t *testing.T) {
	p := startPortal(t)
	b, _ := tenantApp(t, p, "empty@example.com", "Empty", "quiet")
	tenantApp(t, p, "other2@example.com", "Other", "notmine")
	d := b.get("/usage?range=30d").doc(t)
	if n := d.Find("figure.chart.is-empty .chart-empty").Length(); n != 5 {
		t.Errorf("%d empty charts, want 5", n)
	}
	if d.Find("svg rect.bar").Length() != 0 {
		t.Error("bars drawn without data")
	}
	if !strings.Contains(d.Find("#chart-requests .chart-empty").Text(), "No requests between") {
		t.Errorf("empty state %q", d.Find("#chart-requests .chart-empty").Text())
	}
	if d.Find("#breakdown-empty").Length() != 1 {
		t.Error("no empty breakdown")
	}
	for _, tt := range []struct {
		path   string
		status int
	}{
		{"/usage?range=1y", 400},
		{"/usage?app=notmine", 404},
		{"/apps/notmine/usage", 404},
		{"/apps/quiet/usage?route=" + strings.Repeat("x", 600), 400},
		{"/apps/quiet/usage?range=7d", 200},
	} {
		if r := b.get(tt.path); r.Status != tt.status {
			t.Errorf("%s: %d, want %d", tt.path, r.Status, tt.status)
		}
	}
}

func TestRecentRequestsLog(t *testing.T) {
	p := startPortal(t)
	b, _ := tenantApp(t, p, "reqlog@example.com", "Reqlog", "reqlog")
	now := time.Now().UTC()
	seedUsage(t, p, "reqlog", now)
	// 55 more free requests a minute before, for paging.
	var evs []string
	for i := 0; i < 55; i++ {
		evs = append(evs, fmt.Sprintf(`{"ts":%d,"app":"reqlog","route":"GET /c","status_code":200,"cpu_ms":1.5,"duration_ms":%d}`, now.Add(-time.Minute).UnixMilli(), i))
	}
	if r := p.api(t, "POST", "/internal/telemetry", "test-ingest-token", "application/json", `{"events":[`+strings.Join(evs, ",")+`]}`); r.Status != 202 {
		t.Fatalf("ingest %d", r.Status)
	}
	for _, tt := range []struct {
		query  string
		status int
		rows   int
		first  string // text the first row must hold
	}{
		{"", 200, 50, "GET /"},
		{"r_payment=paid", 200, 2, "paid"},
		{"r_status=5xx", 200, 2, "503"},
		{"r_error=worker_exception", 200, 1, "worker_exception"},
		{"r_route=GET+/b", 200, 1, "subrequest_limit_exceeded"},
		{"r_payer=0x857B06519E91E3A54538791BDBB0E22373E36B66", 200, 2, "0x857b"},
		{"r_route=GET+/c&r_status=200", 200, 50, "1.5 ms"},
		{"r_route=nope", 200, 0, ""},
		{"r_status=abc", 400, 0, ""},
		{"r_payment=maybe", 400, 0, ""},
	} {
		r := b.get("/apps/reqlog/usage?" + tt.query)
		d := r.doc(t)
		rows := d.Find("table.requests-table tbody tr")
		if r.Status != tt.status || rows.Length() != tt.rows {
			t.Errorf("%q: %d with %d rows, want %d with %d", tt.query, r.Status, rows.Length(), tt.status, tt.rows)
			continue
		}
		if tt.first != "" && !strings.Contains(rows.First().Text(), tt.first) {
			t.Errorf("%q: first row %q lacks %q", tt.query, rowCells(rows.First()), tt.first)
		}
		if tt.status == 400 && d.Find("#requests-problem").Length() != 1 {
			t.Errorf("%q: no message", tt.query)
		}
		if tt.rows == 0 && tt.status == 200 && d.Find("#requests-empty").Length() != 1 {
			t.Errorf("%q: no empty state", tt.query)
		}
	}
	// Paging without JS: the Older link gives the remaining 10, with filters kept.
	d := b.get("/apps/reqlog/usage").doc(t)
	older, ok := d.Find("#requests a[rel=next]").Attr("href")
	if !ok {
		t.Fatal("no Older link")
	}
	d2 := b.get(older).doc(t)
	if n := d2.Find("table.requests-table tbody tr").Length(); n != 10 {
		t.Errorf("page 2: %d rows, want 10", n)
	}
	// htmx: only the section comes back.
	r := b.do("GET", older, nil, map[string]string{"HX-Request": "true", "HX-Target": "requests"})
	if r.Status != 200 || strings.Contains(r.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(r.Body), `<section class="card" id="requests">`) {
		t.Errorf("htmx page: %d %.200s", r.Status, r.Body)
	}
}

func TestUsageAndPaymentsCSV(t *testing.T) {
	p := startPortal(t)
	b, _ := tenantApp(t, p, "csv@example.com", "CSV", "csvapp")
	tenantApp(t, p, "csv2@example.com", "Other", "csvother")
	now := time.Now().UTC()
	seedUsage(t, p, "csvapp", now)
	// A caller-chosen route and payer that a spreadsheet would run as formulas.
	evil := fmt.Sprintf(`{"events":[{"ts":%d,"app":"csvapp","route":"=HYPERLINK(\"http://x\")","status_code":200,"payment_required":true,"payment_success":true,"amount":"5","network":"eip155:8453","payer":"@evil","transaction":"0xdef","nonce":"0x09","settlement_result":"success","verify_result":"valid"}]}`, now.UnixMilli())
	if r := p.api(t, "POST", "/internal/telemetry", "test-ingest-token", "application/json", evil); r.Status != 202 {
		t.Fatalf("ingest %d %s", r.Status, r.Body)
	}
	read := func(path string) [][]string {
		t.Helper()
		r := b.get(path)
		if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || !strings.Contains(r.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("%s: %d %s %.200s", path, r.Status, r.Header.Get("Content-Type"), r.Body)
		}
		recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	recs := read("/apps/csvapp/usage.csv")
	if len(recs) != 25 || recs[0][3] != "requests" {
		t.Fatalf("usage csv: %d lines, header %v", len(recs), recs[0])
	}
	if last := recs[24]; last[3] != "5" || last[4] != "3" || last[5] != "0.250005" || last[6] != "1" {
		t.Errorf("this hour %v", last)
	}
	// The event of 3 hours ago lies in yesterday's bucket between 00:00 and 03:00 UTC: sum the days.
	recs = read("/usage.csv?range=7d")
	week := 0
	for _, r := range recs[1:] {
		n, _ := strconv.Atoi(r[3])
		week += n
	}
	if len(recs) != 8 || week != 6 {
		t.Errorf("tenant 7d csv: %d requests in %v", week, recs)
	}
	recs = read("/apps/csvapp/payments.csv")
	if len(recs) != 4 {
		t.Fatalf("payments csv: %d lines %v", len(recs), recs)
	}
	var sawEvil, sawReal, sawSim bool
	for _, r := range recs[1:] {
		switch r[8] {
		case "0xdef":
			sawEvil = r[1] == `'=HYPERLINK("http://x")` && r[2] == "'@evil" && r[9] == "https://basescan.org/tx/0xdef"
		case "0xabc1":
			sawReal = r[4] == "0.25 USDC" && r[9] == "https://basescan.org/tx/0xabc1"
		case "0xabc2":
			sawSim = r[7] == "true" && r[9] == ""
		}
	}
	if !sawEvil || !sawReal || !sawSim {
		t.Errorf("payments csv rows (evil defused %v, explorer link %v, simulated without link %v): %v", sawEvil, sawReal, sawSim, recs)
	}
	for _, path := range []string{"/apps/csvother/payments.csv", "/apps/csvother/usage.csv", "/usage.csv?app=csvother"} {
		if r := b.get(path); r.Status != 404 {
			t.Errorf("%s: %d", path, r.Status)
		}
	}
}

func TestCSVCellDefused(t *testing.T) {
	for in, want := range map[string]string{"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx", "GET /a": "GET /a", "": "", "0xabc": "0xabc"} {
		if got := web.CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}
