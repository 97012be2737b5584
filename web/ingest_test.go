package web_test

import (
	"fmt"
	"github.com/402claw/402claw/web"
	"github.com/PuerkitoBio/goquery"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

func TestIngestTelemetry(t *testing.T) {
	p := startPortal(t, withIngestToken("s3cret-ingest"))
	b, a := tenantApp(t, p, "ing@example.com", "Ing", "ingapp")
	now := time.Now().UnixMilli()
	paid := fmt.Sprintf(`{"ts":%d,"tenant_id":12345,"app":"ingapp","worker_name":"app-ingapp","route":"GET /weather","method":"GET","status_code":200,"error_code":null,
		"payment_required":true,"payment_success":true,"settlement_result":"success","verify_result":"valid","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
		"amount":"10000","network":"eip155:84532","transaction":"0xfeed","simulated":true,"cpu_ms":0.4,"subrequests":1,"duration_ms":12,"brand_new_field":{"x":1}}`, now)
	free := fmt.Sprintf(`{"ts":%d,"app":"ingapp","route":null,"method":"GET","status_code":404,"error_code":"app_not_deployed","payment_required":false,"payment_success":false,"settlement_result":null,"cpu_ms":null,"subrequests":null,"duration_ms":1}`, now)
	tests := []struct {
		name, auth, body string
		status           int
	}{
		{"no token", "", `{"events":[]}`, 401},
		{"wrong token", "Bearer nope", `{"events":[]}`, 401},
		{"token as basic", "Basic s3cret-ingest", `{"events":[]}`, 401},
		{"bad json", "Bearer s3cret-ingest", `{"events":[`, 400},
		{"too many", "Bearer s3cret-ingest", `{"events":[` + strings.TrimSuffix(strings.Repeat(`{},`, 1001), ",") + `]}`, 413},
		{"good", "Bearer s3cret-ingest", `{"events":[` + paid + `,` + free + `]}`, 202},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"Content-Type": "application/json"}
			if tt.auth != "" {
				h["Authorization"] = tt.auth
			}
			r := (&browser{t: t, base: p.URL, c: http.DefaultClient}).do("POST", "/internal/telemetry", strings.NewReader(tt.body), h)
			if r.Status != tt.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tt.status)
			}
		})
	}
	if n := count(t, p, &models.TelemetryEvent{}); n != 2 {
		t.Fatalf("%d events stored, want 2 (only the good batch)", n)
	}
	var pay models.Payment
	if err := p.DB.Gorm.First(&pay).Error; err != nil {
		t.Fatal(err)
	}
	if pay.AppID != a.ID || pay.TenantID != a.TenantID || pay.Amount != "10000" || !pay.Success || !pay.Simulated || pay.Transaction != "0xfeed" {
		t.Errorf("ledger line %+v", pay)
	}
	var roll models.UsageRollup
	if err := p.DB.Gorm.Where("route = ?", "GET /weather").First(&roll).Error; err != nil || roll.Requests != 1 || roll.Paid != 1 || roll.RevenueAtomic != "10000" {
		t.Errorf("rollup %+v, %v", roll, err)
	}

	// The payments tab shows it, marked as simulated.
	page := b.get("/apps/ingapp/payments")
	d := page.doc(t)
	if page.Status != 200 || d.Find("table.ledger-table tbody tr").Length() != 1 {
		t.Fatalf("payments page: %d %s", page.Status, page.Body)
	}
	rev := d.Find("table.revenue-table tbody tr").First().Text()
	if !strings.Contains(rev, "0.01 USDC") || !strings.Contains(rev, "simulated, no chain") || !strings.Contains(rev, "Base Sepolia") {
		t.Errorf("revenue row %q", rev)
	}
	if !strings.Contains(d.Find("table.ledger-table").Text(), "simulated, no chain") {
		t.Error("the ledger does not mark the simulated settlement")
	}
}

func TestIngestDisabledWithoutToken(t *testing.T) {
	p := startPortal(t, func(o *web.Options) { o.IngestToken = "" })
	r := p.api(t, "POST", "/internal/telemetry", "", "application/json", `{"events":[]}`)
	if r.Status != http.StatusServiceUnavailable {
		t.Fatalf("no token configured: %d %s", r.Status, r.Body)
	}
	// With no token configured, even an empty bearer must not pass.
	r = p.api(t, "POST", "/internal/telemetry", "x", "application/json", `{"events":[{"app":"a"}]}`)
	if r.Status != http.StatusServiceUnavailable || count(t, p, &models.TelemetryEvent{}) != 0 {
		t.Fatalf("stored without a configured token: %d", r.Status)
	}
}

func TestPaymentsLedgerPages(t *testing.T) {
	p := startPortal(t, withIngestToken("tok"))
	b, _ := tenantApp(t, p, "led@example.com", "Led", "ledapp")
	var ev []string
	base := time.Now().Add(-30 * time.Minute).UnixMilli()
	for i := 0; i < 60; i++ {
		ev = append(ev, fmt.Sprintf(`{"ts":%d,"app":"ledapp","route":"GET /r","status_code":200,"payment_success":true,"settlement_result":"success","verify_result":"valid","payer":"0x%040d","amount":"%d","network":"eip155:8453","transaction":"0x%064d"}`, base+int64(i*1000), i, 1000000+i, i))
	}
	r := p.api(t, "POST", "/internal/telemetry", "tok", "application/json", `{"events":[`+strings.Join(ev, ",")+`]}`)
	if r.Status != 202 {
		t.Fatalf("ingest %d %s", r.Status, r.Body)
	}
	d := b.get("/apps/ledapp/payments").doc(t)
	rows := d.Find("table.ledger-table tbody tr")
	if rows.Length() != 50 || !strings.Contains(rows.First().Text(), "1.000059 USDC") || !strings.Contains(d.Find(".pager").Text(), "Page 1 of 2 (60 payments)") {
		t.Fatalf("page 1: %d rows, first %q, pager %q", rows.Length(), rows.First().Text(), d.Find(".pager").Text())
	}
	if strings.Contains(d.Text(), "simulated, no chain") {
		t.Error("real settlements marked simulated")
	}
	// Sum of 1000000..1000059 = 60,001,770 atomic = 60.00177 USDC.
	if rev := d.Find("table.revenue-table tbody tr").Text(); !strings.Contains(rev, "60.00177 USDC") || !strings.Contains(rev, "Base") {
		t.Errorf("revenue %q", rev)
	}
	d2 := b.get("/apps/ledapp/payments?page=2").doc(t)
	if n := d2.Find("table.ledger-table tbody tr").Length(); n != 10 || !strings.Contains(d2.Find("table.ledger-table tbody tr").Last().Text(), "1 USDC") {
		t.Errorf("page 2: %d rows", n)
	}
}

func TestUsagePageSumsTelemetry(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	b.signup("use@example.com", "Use")
	b.post("/apps", url.Values{"slug": {"use-app"}, "name": {"Use app"}})
	now := float64(time.Now().UnixMilli())
	events := fmt.Sprintf(`{"events":[
		{"ts":%[1]f,"app":"use-app","route":"/a","status_code":200,"subrequests":3},
		{"ts":%[1]f,"app":"use-app","route":"/a","status_code":200,"payment_required":true,"payment_success":true,"amount":"10000","network":"eip155:84532","payer":"0x857b06519E91e3A54538791bDbb0E22373e36b66","transaction":"0xabc","settlement_result":"success"},
		{"ts":%[1]f,"app":"use-app","route":"/b","status_code":429,"error_code":"subrequest_limit_exceeded"},
		{"ts":%[1]f,"app":"use-app","route":"/b","status_code":500,"error_code":"worker_exception"}]}`, now)
	if r := p.api(t, "POST", "/internal/telemetry", "test-ingest-token", "application/json", events); r.Status != 202 {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	d := b.get("/usage").doc(t)
	var cells []string
	d.Find("#usage-breakdown tbody tr").First().Find("td").Each(func(i int, c *goquery.Selection) {
		if i < 6 {
			cells = append(cells, strings.TrimSpace(c.Text()))
		}
	})
	if row := strings.Join(cells, " "); row != "4 1 0.01 USDC 2 1 3" {
		t.Fatalf("usage row %q, want requests 4, paid 1, revenue 0.01 USDC, errors 2, limit hits 1, subrequests 3", row)
	}
}
