package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
)

func TestAccessTabKeys(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "keys@example.com", "Keys", "keyapp")
	page := b.get("/apps/keyapp/access")
	if page.Status != 200 || !strings.Contains(page.Body, "No route uses API keys yet") || !strings.Contains(page.Body, "deny all") {
		t.Fatalf("access page: %d", page.Status)
	}
	gen := mustApp(t, p, a.ID).Generation
	r := b.htmxForm("/apps/keyapp/keys", "name", "partner")
	secret := strings.TrimSpace(r.doc(t).Find("#new-key").Text())
	if r.Status != 200 || !strings.HasPrefix(secret, "ck_") {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	sum := sha256.Sum256([]byte(secret))
	st, _ := p.Store.AppEdgeState(context.Background(), a.ID)
	if len(st.Keys) != 1 || st.Keys[0].Hash != hex.EncodeToString(sum[:]) {
		t.Fatalf("the edge would not accept the shown key: %+v", st.Keys)
	}
	if after := mustApp(t, p, a.ID); after.Generation != gen+1 || jobOf(t, p, after).DesiredGen != after.Generation {
		t.Error("creating a key did not enqueue the app")
	}
	// Shown once: the next page has the prefix only.
	again := b.get("/apps/keyapp/access")
	if strings.Contains(again.Body, secret) || !strings.Contains(again.Body, secret[:9]) {
		t.Error("the key is shown again, or its prefix is not")
	}
	if r := b.htmxForm("/apps/keyapp/keys", "name", " "); !strings.Contains(r.Body, "Name the key") {
		t.Errorf("nameless key: %s", r.Body)
	}
	r = b.htmxForm(fmt.Sprintf("/apps/keyapp/keys/%d/revoke", st.Keys[0].ID))
	if r.Status != 200 || !strings.Contains(r.Body, "revoked") {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if st, _ := p.Store.AppEdgeState(context.Background(), a.ID); len(st.Keys) != 0 {
		t.Error("a revoked key still reaches the edge")
	}
	if r := b.htmxForm(fmt.Sprintf("/apps/keyapp/keys/%d/revoke", st.Keys[0].ID)); !strings.Contains(r.Body, "already revoked") {
		t.Errorf("second revoke: %s", r.Body)
	}
}

func TestAccessTabEgress(t *testing.T) {
	p := startPortal(t)
	b, a := tenantApp(t, p, "egress@example.com", "Egress", "egressapp")
	for _, c := range []struct{ host, want string }{
		{"https://api.example.com/v1", "without http"},
		{"api.example.com:8443", "port"},
		{"127.0.0.1", "IP address"},
		{"*.com", "top-level"},
		{"localhost", "not a public host name"},
		{"printer.local", "local or internal"},
	} {
		r := b.htmxForm("/apps/egressapp/egress", "host", c.host)
		if r.Status != 200 || !strings.Contains(r.doc(t).Find("#egress small.err").Text(), c.want) {
			t.Errorf("host %q: %d, want an error saying %q", c.host, r.Status, c.want)
		}
	}
	if r := b.post("/apps/egressapp/egress", map[string][]string{"host": {"bad host"}}); r.Status != http.StatusUnprocessableEntity {
		t.Errorf("plain form with a bad host: %d", r.Status)
	}
	if n := count(t, p, &models.EgressRule{}); n != 0 {
		t.Fatalf("%d rules stored after refusals", n)
	}
	r := b.htmxForm("/apps/egressapp/egress", "host", "API.Example.com")
	if r.Status != 200 || r.doc(t).Find("#egress li code").Text() != "api.example.com" {
		t.Fatalf("add: %d %s", r.Status, r.Body)
	}
	rules, _ := p.Store.EgressRules(context.Background(), a.ID)
	r = b.htmxForm(fmt.Sprintf("/apps/egressapp/egress/%d/delete", rules[0].ID))
	if r.Status != 200 || !strings.Contains(r.Body, "cannot make any outbound request") {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	if after := mustApp(t, p, a.ID); jobOf(t, p, after).DesiredGen != after.Generation {
		t.Error("egress change not enqueued")
	}
}
