package web_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

type usageJSON struct {
	App, Granularity, Route string
	From, To                time.Time
	Buckets                 []struct {
		Start                             time.Time
		Requests, Paid, Errors, LimitHits int64
		RevenueAtomic                     string `json:"revenue_atomic"`
	}
	Total struct {
		Requests, Paid, Errors int64
		LimitHits              int64   `json:"limit_hits"`
		RevenueAtomic          string  `json:"revenue_atomic"`
		P99                    float64 `json:"p99_ms"`
	}
	Routes  []string
	Revenue []struct {
		Network   string
		Simulated bool
		Atomic    string `json:"revenue_atomic"`
	}
	Errors []struct {
		Code  string
		Count int64
	}
}

func getAs(t *testing.T, p *portal, path, token, accept string) resp {
	t.Helper()
	b := &browser{t: t, base: p.URL, c: http.DefaultClient}
	return b.do("GET", path, nil, map[string]string{"Authorization": "Bearer " + token, "Accept": accept})
}

// TestAPIUsage: GET /api/v1/apps/{slug}/usage reads the same rollups as the usage pages, by
// the hour or the day, for one route or all, as JSON or CSV; every bad parameter is a 400
// naming it, and another tenant's app is a 404.
func TestAPIUsage(t *testing.T) {
	p := startPortal(t)
	tenantApp(t, p, "apiuse@example.com", "API use", "apiuse")
	tenantApp(t, p, "apiother@example.com", "API other", "apiother")
	tok := apiToken(t, p, "apiuse@example.com")
	other := apiToken(t, p, "apiother@example.com")
	now := time.Now().UTC()
	seedUsage(t, p, "apiuse", now)

	read := func(query string) usageJSON {
		t.Helper()
		r := p.api(t, "GET", "/api/v1/apps/apiuse/usage"+query, tok, "", "")
		var u usageJSON
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &u) != nil {
			t.Fatalf("usage%s: %d %s", query, r.Status, r.Body)
		}
		return u
	}
	// Default: the last 24 hours by the hour, ending with the current hour.
	u := read("")
	if u.App != "apiuse" || u.Granularity != "hour" || len(u.Buckets) != 24 || !u.To.Equal(now.Truncate(time.Hour).Add(time.Hour)) {
		t.Fatalf("default range: %s %s %d buckets, to %s", u.App, u.Granularity, len(u.Buckets), u.To)
	}
	if u.Total.Requests != 5 || u.Total.Paid != 2 || u.Total.Errors != 2 || u.Total.LimitHits != 1 || u.Total.RevenueAtomic != "250000" {
		t.Errorf("totals %+v", u.Total)
	}
	if last := u.Buckets[23]; last.Requests != 4 || last.RevenueAtomic != "250000" {
		t.Errorf("this hour %+v", last)
	}
	if strings.Join(u.Routes, ",") != "GET /a,GET /b" || len(u.Revenue) != 2 || len(u.Errors) != 2 || u.Total.P99 <= 0 {
		t.Errorf("breakdowns: routes %v revenue %+v errors %+v p99 %v", u.Routes, u.Revenue, u.Errors, u.Total.P99)
	}
	// One route; by the day.
	if u := read("?" + url.Values{"route": {"GET /b"}}.Encode()); u.Total.Requests != 1 || u.Total.LimitHits != 1 || u.Route != "GET /b" {
		t.Errorf("route GET /b: %+v", u.Total)
	}
	day := now.Truncate(24 * time.Hour)
	u = read("?granularity=day&from=" + day.AddDate(0, 0, -6).Format("2006-01-02") + "&to=" + day.AddDate(0, 0, 1).Format("2006-01-02"))
	if len(u.Buckets) != 7 || u.Total.Requests != 5 || u.Granularity != "day" {
		t.Errorf("7 days: %d buckets, %d requests", len(u.Buckets), u.Total.Requests)
	}
	if u := read("?granularity=day&from=2025-01-01&to=2026-02-05"); len(u.Buckets) != 400 {
		t.Errorf("400 days: %d buckets", len(u.Buckets))
	}

	// CSV with Accept: text/csv: a header and one line per bucket.
	r := getAs(t, p, "/api/v1/apps/apiuse/usage", tok, "text/csv")
	recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/csv") || err != nil || len(recs) != 25 || recs[24][3] != "4" {
		t.Fatalf("CSV: %d %q %v %d lines", r.Status, r.Header.Get("Content-Type"), err, len(recs))
	}

	for _, tt := range []struct{ query, field, says string }{
		{"?granularity=week", "granularity", "hour or day"},
		{"?from=yesterday", "from", "RFC 3339"},
		{"?to=2026-13-01", "to", "RFC 3339"},
		{"?from=2026-01-02&to=2026-01-01", "from", "before to"},
		{"?from=2026-01-01&to=2026-01-01", "from", "before to"},
		{"?from=2026-01-01&to=2026-03-01", "from", "granularity=day"},
		{"?granularity=day&from=2025-01-01&to=2026-02-06", "from", "400 days"},
		{"?" + url.Values{"route": {"GET /nope"}}.Encode(), "route", "no route"},
		{"?route=" + strings.Repeat("x", 600), "route", "too long"},
	} {
		r := p.api(t, "GET", "/api/v1/apps/apiuse/usage"+tt.query, tok, "", "")
		var e struct {
			Error struct{ Code, Message, Field string }
		}
		if r.Status != 400 || json.Unmarshal([]byte(r.Body), &e) != nil || e.Error.Field != tt.field || !strings.Contains(e.Error.Message, tt.says) {
			t.Errorf("%s: %d %s", tt.query, r.Status, r.Body)
		}
	}
	// A route the app has but never served is known.
	if r := p.api(t, "PUT", "/api/v1/apps/apiuse/routes", tok, "application/json", `[{"method":"POST","path":"/new","access":"public"}]`); r.Status != 200 {
		t.Fatalf("routes: %d %s", r.Status, r.Body)
	}
	if u := read("?" + url.Values{"route": {"POST /new"}}.Encode()); u.Total.Requests != 0 {
		t.Errorf("new route: %+v", u.Total)
	}
	for _, accept := range []string{"", "text/csv"} {
		if r := getAs(t, p, "/api/v1/apps/apiuse/usage", other, accept); r.Status != 404 {
			t.Errorf("another tenant (%q): %d", accept, r.Status)
		}
	}
}

// TestAPIPayments: the ledger by cursor, newest first, and whole as CSV.
func TestAPIPayments(t *testing.T) {
	p := startPortal(t)
	tenantApp(t, p, "apipay@example.com", "API pay", "apipay")
	tenantApp(t, p, "apipayother@example.com", "Other", "apipayother")
	tok := apiToken(t, p, "apipay@example.com")
	other := apiToken(t, p, "apipayother@example.com")
	seedUsage(t, p, "apipay", time.Now().UTC())

	type page struct {
		Payments []struct {
			ID                                   uint
			AmountAtomic                         string `json:"amount_atomic"`
			Amount, Network, Transaction, Result string
			Simulated                            bool
			ExplorerURL                          string `json:"explorer_url"`
		}
		NextCursor *string `json:"next_cursor"`
	}
	get := func(query string) page {
		t.Helper()
		r := p.api(t, "GET", "/api/v1/apps/apipay/payments"+query, tok, "", "")
		var pg page
		if r.Status != 200 || json.Unmarshal([]byte(r.Body), &pg) != nil {
			t.Fatalf("payments%s: %d %s", query, r.Status, r.Body)
		}
		return pg
	}
	all := get("")
	if len(all.Payments) != 2 || all.NextCursor != nil {
		t.Fatalf("all: %+v", all)
	}
	first := get("?limit=1")
	if len(first.Payments) != 1 || first.NextCursor == nil || first.Payments[0].ID != all.Payments[0].ID {
		t.Fatalf("page 1: %+v", first)
	}
	second := get("?limit=1&cursor=" + *first.NextCursor)
	if len(second.Payments) != 1 || second.NextCursor != nil || second.Payments[0].ID != all.Payments[1].ID {
		t.Fatalf("page 2: %+v", second)
	}
	var real, sim int
	for _, pm := range all.Payments {
		switch {
		case pm.Simulated && pm.ExplorerURL == "" && pm.Amount == "1 USDC":
			sim++
		case !pm.Simulated && pm.ExplorerURL == "https://basescan.org/tx/0xabc1" && pm.Amount == "0.25 USDC" && pm.AmountAtomic == "250000":
			real++
		}
	}
	if real != 1 || sim != 1 {
		t.Errorf("payments %+v", all.Payments)
	}

	r := getAs(t, p, "/api/v1/apps/apipay/payments", tok, "text/csv, application/json;q=0.5")
	recs, err := csv.NewReader(strings.NewReader(r.Body)).ReadAll()
	if r.Status != 200 || err != nil || len(recs) != 3 || recs[0][0] != "at_utc" {
		t.Fatalf("CSV: %d %v %q", r.Status, err, r.Body)
	}
	if r := getAs(t, p, "/api/v1/apps/apipay/payments?cursor="+*first.NextCursor, tok, "text/csv"); strings.Count(strings.TrimSpace(r.Body), "\n") != 1 {
		t.Errorf("CSV from a cursor: %q", r.Body)
	}
	for _, q := range []string{"?cursor=abc", "?cursor=0", "?limit=0", "?limit=1001"} {
		if r := p.api(t, "GET", "/api/v1/apps/apipay/payments"+q, tok, "", ""); r.Status != 400 {
			t.Errorf("%s: %d", q, r.Status)
		}
	}
	if r := p.api(t, "GET", "/api/v1/apps/apipay/payments", other, "", ""); r.Status != 404 {
		t.Errorf("another tenant: %d", r.Status)
	}
}

// TestAPIUsageMatchesOpenAPI: the answers of the usage and payments endpoints (JSON, CSV and
// a 400) validate against what the OpenAPI document says of them.
func TestAPIUsageMatchesOpenAPI(t *testing.T) {
	p := startPortal(t)
	tenantApp(t, p, "apispec@example.com", "API spec", "apispec")
	tok := apiToken(t, p, "apispec@example.com")
	seedUsage(t, p, "apispec", time.Now().UTC())
	doc, err := libopenapi.NewDocument([]byte(p.api(t, "GET", "/api/v1/openapi.json", "", "", "").Body))
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for _, tt := range []struct{ path, accept string }{
		{"/api/v1/apps/apispec/usage", ""},
		{"/api/v1/apps/apispec/usage?granularity=day&route=GET%20%2Fa", ""},
		{"/api/v1/apps/apispec/usage", "text/csv"},
		{"/api/v1/apps/apispec/usage?granularity=year", ""},
		{"/api/v1/apps/apispec/payments?limit=1", ""},
		{"/api/v1/apps/apispec/payments", "text/csv"},
	} {
		req, _ := http.NewRequest("GET", p.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if tt.accept != "" {
			req.Header.Set("Accept", tt.accept)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if ok, verrs := v.ValidateHttpResponse(req, res); !ok {
			for _, e := range verrs {
				t.Errorf("%s (%s): %s: %s", tt.path, tt.accept, e.Message, e.Reason)
				for _, se := range e.SchemaValidationErrors {
					t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
				}
			}
		}
	}
}
