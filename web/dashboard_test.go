package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

// TestDashboardNumbers: the dashboard's cards are read from the usage rollups: requests and
// error rate of the current UTC day, real revenue of the current UTC month (simulated test
// payments apart), and nothing of another tenant's app or of earlier days and months.
func TestDashboardNumbers(t *testing.T) {
	p := startPortal(t)
	b, _ := tenantApp(t, p, "dash@example.com", "Dash", "dashapp")
	other, _ := tenantApp(t, p, "dash-other@example.com", "Other", "dashother")

	// Empty: zero requests, zero revenue, no error rate.
	d := b.get("/dashboard").doc(t)
	if got := strings.Join(strings.Fields(d.Find("#stat-requests").Text()), " "); got != "0 requests today (UTC)" {
		t.Errorf("empty requests card %q", got)
	}
	if got := strings.Join(strings.Fields(d.Find("#stat-errors").Text()), " "); got != "— error rate today: no requests yet" {
		t.Errorf("empty error card %q", got)
	}

	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	yesterday := today.Add(-time.Minute) // always another UTC day
	lastMonth := now.AddDate(0, 0, -40)  // always another UTC month
	event := func(ts time.Time, app, extra string) string {
		return fmt.Sprintf(`{"ts":%d,"app":%q,"route":"GET /a","duration_ms":3,%s}`, ts.UnixMilli(), app, extra)
	}
	paid := func(amount, nonce string, sim bool) string {
		return fmt.Sprintf(`"status_code":200,"payment_required":true,"payment_success":true,"amount":%q,"network":"eip155:8453","payer":"0x857b06519E91e3A54538791bDbb0E22373e36b66","transaction":"0x%s","nonce":"0x%s","settlement_result":"success","verify_result":"valid","simulated":%t`, amount, nonce, nonce, sim)
	}
	events := []string{
		event(now, "dashapp", `"status_code":200`),
		event(now, "dashapp", paid("250000", "a1", false)),
		event(now, "dashapp", paid("1000000", "a2", true)),
		event(now, "dashapp", `"status_code":500,"error_code":"worker_exception"`),
		event(now, "dashapp", `"status_code":429,"error_code":"rate_limited"`),
		event(yesterday, "dashapp", `"status_code":500,"error_code":"worker_exception"`),
		event(now, "dashother", paid("7000000", "b1", false)),
		event(now, "dashother", `"status_code":500,"error_code":"worker_exception"`),
	}
	body := `{"events":[` + strings.Join(events, ",") + `]}`
	if r := p.api(t, "POST", "/internal/telemetry", "test-ingest-token", "application/json", body); r.Status != 202 {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}

	// Ingest stamps events older than a day with their arrival: last month's payment goes
	// through the store, as the Analytics Engine pull would write it.
	app, err := p.Store.AppBySlug(context.Background(), mustUser(t, p, "dash@example.com").Tenant.ID, "dashapp")
	if err != nil {
		t.Fatal(err)
	}
	old := models.TelemetryEvent{AppID: &app.ID, AppSlug: "dashapp", TenantID: app.TenantID, Route: "GET /a", StatusCode: 200, PaymentRequired: true, PaymentSuccess: true,
		Payer: "0x857b06519E91e3A54538791bDbb0E22373e36b66", Nonce: "0xa3", Amount: "5000000", Network: "eip155:8453", Transaction: "0xa3",
		SettlementResult: "success", VerifyResult: "valid", TS: lastMonth, ReceivedAt: now}
	if _, err := p.Store.IngestTelemetry(context.Background(), models.TelemetryBatch{Events: []models.TelemetryEvent{old}}); err != nil {
		t.Fatal(err)
	}

	monthRequests := 5 // today's; yesterday's too when it is in this month
	if yesterday.Month() == now.Month() {
		monthRequests++
	}
	d = b.get("/dashboard").doc(t)
	cases := []struct{ id, want string }{
		{"#stat-requests", "5 requests today (UTC)"},
		{"#stat-revenue", "0.25 USDC revenue in " + now.Format("January") + " (plus 1 USDC simulated test payments)"},
		{"#stat-errors", "40% error rate today (2 of 5 failed)"},
		{"#stat-month", fmt.Sprintf("%d requests in %s: 2 paid, 1 refused by a limit", monthRequests, now.Format("January"))},
	}
	for _, c := range cases {
		if got := strings.Join(strings.Fields(d.Find(c.id).Text()), " "); got != c.want {
			t.Errorf("%s: %q, want %q", c.id, got, c.want)
		}
	}
	// The other tenant sees only its own app's numbers.
	d = other.get("/dashboard").doc(t)
	if got := strings.Join(strings.Fields(d.Find("#stat-revenue").Text()), " "); !strings.HasPrefix(got, "7 USDC revenue") {
		t.Errorf("other tenant's revenue card %q", got)
	}
}
