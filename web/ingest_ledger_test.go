package web_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

// The PaymentLock's outbox posts {"settlements":[…]} to the ingest endpoint; the telemetry
// batch may carry the same payment as an event. Through real HTTP: one ledger row, revenue
// once, and refused requests counted instead of stored.
func TestIngestSettlementsAndRefusals(t *testing.T) {
	p := startPortal(t, withIngestToken("tok"))
	_, a := tenantApp(t, p, "out@example.com", "Out", "outapp")
	now := time.Now().UnixMilli()
	nonce := "0x" + strings.Repeat("ab", 32)
	settlement := fmt.Sprintf(`{"ts":%d,"app":"outapp","route":"GET /paid","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","nonce":%q,"amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","network":"eip155:84532","transaction":"0xfeed","simulated":true}`, now, "0x"+strings.ToUpper(nonce[2:]))
	event := fmt.Sprintf(`{"ts":%d,"app":"outapp","route":"GET /paid","method":"GET","status_code":200,"served":true,"payment_success":true,"settlement_result":"success","verify_result":"valid","payer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","nonce":%q,"amount":"10000","network":"eip155:84532","transaction":"0xfeed","simulated":true}`, now, nonce)
	junk := fmt.Sprintf(`{"ts":%d,"app":"outapp","route":"GET /paid","method":"GET","status_code":402,"served":false,"payment_required":true,"error_code":"invalid_payment_header","verify_result":"invalid_payment_header","amount":"10000","network":"eip155:84532"}`, now)
	stranger := fmt.Sprintf(`{"ts":%d,"app":"no-such-app","method":"GET","status_code":404,"served":false,"error_code":"app_not_found"}`, now)

	post := func(body string) map[string]int {
		t.Helper()
		r := p.api(t, "POST", "/internal/telemetry", "tok", "application/json", body)
		if r.Status != 202 {
			t.Fatalf("ingest %s: %d %s", body, r.Status, r.Body)
		}
		var out map[string]int
		if err := json.Unmarshal([]byte(r.Body), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	steps := []struct {
		name, body string
		want       map[string]int
	}{
		{"the outbox's record first", `{"settlements":[` + settlement + `]}`, map[string]int{"payments": 1, "stored": 0}},
		{"the record again (a lost acknowledgement)", `{"settlements":[` + settlement + `]}`, map[string]int{"payments": 0, "duplicates": 1}},
		{"then the telemetry event of the same payment", `{"events":[` + event + `]}`, map[string]int{"payments": 0, "duplicates": 1, "stored": 1}},
		{"junk payments and an unknown app", `{"events":[` + junk + `,` + junk + `,` + stranger + `]}`, map[string]int{"stored": 0, "counted": 2, "dropped": 1}},
		{"a record the ledger cannot key is acknowledged and dropped", `{"settlements":[{"app":"outapp","network":"eip155:84532","amount":"1"}]}`, map[string]int{"payments": 0, "dropped": 1}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got := post(s.body)
			for k, v := range s.want {
				if got[k] != v {
					t.Errorf("%s = %d, want %d (answer %v)", k, got[k], v, got)
				}
			}
		})
	}

	var pays []models.Payment
	p.DB.Gorm.Find(&pays)
	if len(pays) != 1 || pays[0].AppID != a.ID || pays[0].Nonce != nonce || !pays[0].Success || !pays[0].Simulated || pays[0].Transaction != "0xfeed" {
		t.Fatalf("ledger %+v, want the one settlement", pays)
	}
	if n := count(t, p, &models.TelemetryEvent{}); n != 1 {
		t.Errorf("%d raw events stored, want 1 (the served request)", n)
	}
	var roll models.UsageRollup
	if err := p.DB.Gorm.Where("app_id = ? AND route = ?", a.ID, "GET /paid").First(&roll).Error; err != nil ||
		roll.Paid != 1 || roll.RevenueAtomic != "10000" || roll.Requests != 3 || roll.PaymentFailures != 2 {
		t.Errorf("rollup %+v, %v; want 1 paid, 10000 revenue, 3 requests, 2 failed payments", roll, err)
	}
	var ctr models.TelemetryCounter
	if err := p.DB.Gorm.Where("name = ?", models.CounterUnknownApp).First(&ctr).Error; err != nil || ctr.Total != 1 {
		t.Errorf("unknown app counter %+v, %v", ctr, err)
	}
	// The wrong token stores nothing, settlements included.
	if r := p.api(t, "POST", "/internal/telemetry", "nope", "application/json", `{"settlements":[`+strings.Replace(settlement, "ab", "cd", 1)+`]}`); r.Status != 401 {
		t.Errorf("wrong token: %d", r.Status)
	}
	if n := count(t, p, &models.Payment{}); n != 1 {
		t.Errorf("%d ledger rows after a post with the wrong token", n)
	}
}
