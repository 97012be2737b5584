package workers_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/workers"
)

// fixtureAPI answers the SQL API with the recorded fixture's rows that fall in the query's
// window, LIMIT applied, as Analytics Engine would; it counts the queries.
func fixtureAPI(t *testing.T) (*httptest.Server, *int) {
	t.Helper()
	raw, err := os.ReadFile("testdata/analytics_sql.json")
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Meta []any            `json:"meta"`
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	window := regexp.MustCompile(`timestamp >= toDateTime\((\d+)\) AND timestamp < toDateTime\((\d+)\) ORDER BY timestamp LIMIT (\d+)`)
	queries := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/client/v4/accounts/acct/analytics_engine/sql" || r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		body, _ := io.ReadAll(r.Body)
		m := window.FindStringSubmatch(string(body))
		if m == nil {
			http.Error(w, "unexpected query: "+string(body), http.StatusBadRequest)
			return
		}
		queries++
		from, _ := strconv.ParseInt(m[1], 10, 64)
		to, _ := strconv.ParseInt(m[2], 10, 64)
		limit, _ := strconv.Atoi(m[3])
		var rows []map[string]any
		for _, d := range fx.Data {
			ts, _ := time.ParseInLocation("2006-01-02 15:04:05", d["timestamp"].(string), time.UTC)
			if ts.Unix() >= from && ts.Unix() < to && len(rows) < limit {
				rows = append(rows, d)
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"meta": fx.Meta, "data": rows, "rows": len(rows)})
	}))
	t.Cleanup(srv.Close)
	return srv, &queries
}

// TestAnalyticsPull: the scheduled pull reads the recorded answer through the SQL API into the
// telemetry tables once — windows split while full, the watermark moves with the ingest, a
// second pull or a replayed window stores nothing, and the outbox's report of the same payment
// (same nonce, blob14) is a duplicate, not a second ledger row.
func TestAnalyticsPull(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		store := models.NewStore(db.Gorm)
		_, tn, err := store.SignUp(ctx, "ae@example.com", "h", "AE", models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}
		app, err := store.CreateApp(ctx, tn, "weather", "Weather")
		if err != nil {
			t.Fatal(err)
		}
		srv, queries := fixtureAPI(t)
		cf := workers.NewCloudflare(workers.CloudflareConfig{APIToken: "tok", AccountID: "acct", BaseURL: srv.URL + "/client/v4", MaxRetries: -1})
		now := time.Date(2026, 12, 5, 10, 5, 0, 0, time.UTC)
		p := &workers.AnalyticsPuller{Source: cf, Store: store, Dataset: "claw_events", Lag: 2 * time.Minute, Backfill: time.Hour,
			Limit: 3, Now: func() time.Time { return now }}
		res, err := p.Pull(ctx)
		if err != nil {
			t.Fatal(err)
		}
		end := time.Date(2026, 12, 5, 10, 3, 0, 0, time.UTC)
		// Three rows: the paid one is served (a raw event and a ledger row); the sampled 402 and
		// the blocked egress are counted in the rollups only.
		if res.Rows != 3 || res.Sampled != 1 || res.Events != 1 || res.Counted != 2 || res.Payments != 1 || !res.Through.Equal(end) {
			t.Fatalf("pull: %+v", res)
		}
		if *queries < 3 {
			t.Errorf("%d queries: a window holding the limit was not split", *queries)
		}
		wm, err := store.AnalyticsWatermark(ctx, "claw_events")
		if err != nil || !wm.Through.Equal(end) || wm.RowCount != 3 || wm.Sampled != 1 {
			t.Fatalf("watermark %+v %v", wm, err)
		}
		counts := func() (events, payments, requests int64) {
			db.Gorm.Model(&models.TelemetryEvent{}).Count(&events)
			db.Gorm.Model(&models.Payment{}).Count(&payments)
			db.Gorm.Model(&models.UsageRollup{}).Select("COALESCE(SUM(requests), 0)").Where("app_id = ?", app.ID).Scan(&requests)
			return
		}
		if e, pay, req := counts(); e != 1 || pay != 1 || req != 3 {
			t.Fatalf("stored %d events, %d payments, %d requests", e, pay, req)
		}
		var pm models.Payment
		db.Gorm.First(&pm)
		if pm.Nonce != "0x9a3e5b7c1d2f4a6b8c0e2d4f6a8b0c2e4d6f8a0b2c4e6d8f0a2b4c6e8d0f2a4b" || pm.Amount != "10000" || pm.AppID != app.ID || pm.TenantID != tn.ID {
			t.Errorf("ledger row %+v", pm)
		}
		// Again at the same time: nothing to read. A replay of an ingested window is refused.
		if res, err := p.Pull(ctx); err != nil || res.Windows != 0 {
			t.Errorf("second pull: %+v %v", res, err)
		}
		events, err := cf.AnalyticsEvents(ctx, "claw_events", end.Add(-time.Hour), end, 100)
		if err != nil {
			t.Fatal(err)
		}
		rows, sampled := workers.TelemetryFromAnalytics(events)
		if _, err := store.IngestAnalytics(ctx, "claw_events", end.Add(-time.Hour), end, rows, sampled); !errors.Is(err, models.ErrWatermarkMoved) {
			t.Errorf("a replayed window: %v", err)
		}
		// The outbox reports the same settlement: one ledger row still.
		ir, err := store.IngestTelemetry(ctx, models.TelemetryBatch{Settlements: []models.Settlement{{AppSlug: "weather", Route: "GET /forecast",
			Nonce: pm.Nonce, Amount: "10000", Network: "eip155:8453", At: pm.At}}})
		if err != nil || ir.Duplicates != 1 {
			t.Errorf("outbox report: %+v %v", ir, err)
		}
		if e, pay, req := counts(); e != 1 || pay != 1 || req != 3 {
			t.Fatalf("after the replays: %d events, %d payments, %d requests", e, pay, req)
		}
	})
}
