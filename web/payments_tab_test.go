package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPaymentsTabPendingAndExplorer: a settlement the facilitator answered settlement_pending
// shows on the Payments tab as pending (not as a failure) until the edge's later record finishes
// it; a real-network transaction links to its block explorer, a simulated one does not.
func TestPaymentsTabPendingAndExplorer(t *testing.T) {
	p := startPortal(t, withIngestToken("tok"))
	b, _ := tenantApp(t, p, "pend@example.com", "Pend", "pendapp")
	tx := "0x" + strings.Repeat("ab", 32)
	rec := func(nonce int, network, result string, success, simulated bool) string {
		return fmt.Sprintf(`{"ts":%d,"app":"pendapp","route":"GET /r","payer":"0x%040d","nonce":"0x%064d","amount":"10000","network":%q,"transaction":%q,"simulated":%t,"success":%t,"settlement_result":%q}`,
			time.Now().UnixMilli(), nonce, nonce, network, tx, simulated, success, result)
	}
	send := func(recs ...string) {
		t.Helper()
		if r := p.api(t, "POST", "/internal/telemetry", "tok", "application/json", `{"settlements":[`+strings.Join(recs, ",")+`]}`); r.Status != 202 {
			t.Fatalf("ingest %d %s", r.Status, r.Body)
		}
	}
	send(rec(1, "eip155:8453", "settlement_pending", false, false), rec(2, "eip155:84532", "success", true, true))
	row := func(nonce int) string {
		t.Helper()
		d := b.get("/apps/pendapp/payments").doc(t)
		var out string
		rows := d.Find("table.ledger-table tbody tr")
		for i := range rows.Length() {
			r := rows.Eq(i)
			if html, _ := r.Html(); strings.Contains(r.Text(), "Base Sepolia") == (nonce == 2) {
				out = html
			}
		}
		return out
	}
	pending := row(1)
	if !strings.Contains(pending, "pending: broadcast, not confirmed yet") || strings.Contains(pending, "settle failed") {
		t.Errorf("pending row: %s", pending)
	}
	if !strings.Contains(pending, `href="https://basescan.org/tx/`+tx+`"`) {
		t.Errorf("a Base transaction without its explorer link: %s", pending)
	}
	if sim := row(2); strings.Contains(sim, "basescan") || !strings.Contains(sim, "simulated, no chain") {
		t.Errorf("a simulated settlement links to an explorer: %s", sim)
	}
	send(rec(1, "eip155:8453", "success", true, false))
	if done := row(1); !strings.Contains(done, "settled") || strings.Contains(done, "pending") {
		t.Errorf("the finished payment: %s", done)
	}
}
