package workers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// The fixture follows the SQL API's FORMAT JSON answer (meta, data, rows) with the columns the
// dispatcher writes (telemetry.js toDataPoint); one row carries a sample interval as a string,
// as ClickHouse writes 64-bit integers.
func TestParseAnalyticsFixture(t *testing.T) {
	body, err := os.ReadFile("testdata/analytics_sql.json")
	if err != nil {
		t.Fatal(err)
	}
	events, rows, err := ParseAnalytics(body)
	if err != nil || rows != 3 || len(events) != 3 {
		t.Fatalf("%d rows, %d events, %v", rows, len(events), err)
	}
	paid := events[0]
	if paid.App != "weather" || paid.TenantID != "42" || paid.Route != "GET /forecast" || paid.StatusCode != 200 || !paid.PaymentSuccess ||
		paid.Amount != "10000" || paid.Network != "eip155:8453" || paid.CPUMs != 3.25 || paid.Subrequests != 2 || !paid.Served ||
		paid.SampleInterval != 1 || !paid.TS.Equal(time.Date(2026, 12, 5, 10, 0, 1, 0, time.UTC)) {
		t.Errorf("paid row: %+v", paid)
	}
	if e := events[1]; e.SampleInterval != 8 || e.Method != "GET" || e.ErrorCode != "payment_required" || e.PaymentSuccess || e.Served {
		t.Errorf("sampled 402 row: %+v", e)
	}
	if e := events[2]; e.ErrorCode != "egress_blocked" || e.Host != "169.254.169.254" || e.StatusCode != 403 {
		t.Errorf("egress row: %+v", e)
	}
	for _, bad := range []string{`{}`, `not json`, `{"data":[{"timestamp":"yesterday"}],"rows":1}`} {
		if _, _, err := ParseAnalytics([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func TestAnalyticsEventsThroughTheAPI(t *testing.T) {
	fixture, _ := os.ReadFile("testdata/analytics_sql.json")
	var gotSQL, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/client/v4/accounts/acct/analytics_engine/sql" {
			http.NotFound(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		gotSQL, gotAuth = string(b), r.Header.Get("Authorization")
		w.Write(fixture)
	}))
	defer srv.Close()
	cf := NewCloudflare(CloudflareConfig{APIToken: "tok", AccountID: "acct", BaseURL: srv.URL + "/client/v4", MaxRetries: -1})
	from := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	events, err := cf.AnalyticsEvents(context.Background(), "claw_events", from, from.Add(time.Minute), 1000)
	if err != nil || len(events) != 3 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	if gotAuth != "Bearer tok" || !strings.Contains(gotSQL, "FROM claw_events WHERE timestamp >= toDateTime(1796464800) AND timestamp < toDateTime(1796464860)") || !strings.Contains(gotSQL, "_sample_interval") {
		t.Errorf("sent %q with %q", gotSQL, gotAuth)
	}
	// As many rows as the limit: the window may hold more, so the caller must split it.
	if _, err := cf.AnalyticsEvents(context.Background(), "claw_events", from, from.Add(time.Minute), 3); !errors.Is(err, ErrWindowFull) {
		t.Errorf("a full window: %v", err)
	}
	if _, err := cf.AnalyticsEvents(context.Background(), "x; DROP TABLE y", from, from.Add(time.Minute), 10); err == nil {
		t.Error("a dataset name with SQL in it was sent")
	}
}
