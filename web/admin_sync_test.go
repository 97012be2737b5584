package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

// TestAdminSyncShowsTheReconcileReport: /admin/sync shows the last reconcile, and the safety
// valve's alert with its counts when the run was held back.
func TestAdminSyncShowsTheReconcileReport(t *testing.T) {
	p := startPortal(t)
	ctx := context.Background()
	hash, _ := models.HashPassword("admin password 123")
	p.Store.CreateUser(ctx, "root@example.com", hash, models.RoleAdmin, nil)
	b := p.browser(t)
	b.login("root@example.com", "admin password 123")

	doc := b.get("/admin/sync").doc(t)
	if txt := doc.Find("#reconcile-report").Text(); !strings.Contains(txt, "No reconcile has run yet") || doc.Find("#reconcile-blocked").Length() != 0 {
		t.Fatalf("before any run: %q", txt)
	}
	ok := &models.ReconcileReport{StartedAt: time.Now().UTC(), Checked: 2500, Listed: 2500, ListShape: `items nested under "script" with tags, no cursor, listed shard by shard`}
	if err := p.Store.SaveReconcileReport(ctx, ok); err != nil {
		t.Fatal(err)
	}
	doc = b.get("/admin/sync").doc(t)
	if txt := doc.Find("#reconcile-report").Text(); !strings.Contains(txt, "listed shard by shard") || doc.Find("#reconcile-blocked").Length() != 0 {
		t.Fatalf("a good run: %q", txt)
	}
	blocked := &models.ReconcileReport{StartedAt: time.Now().UTC(), Checked: 100, Listed: 2500, Blocked: true, WouldDeleteScripts: 2400, WouldDeleteDocs: 2400, DeleteLimit: 50,
		BlockedReason: "This run would have deleted 2400 of the 2500 scripts listed. Nothing was deleted. Run `402claw reconcile --allow-mass-delete`."}
	if err := p.Store.SaveReconcileReport(ctx, blocked); err != nil {
		t.Fatal(err)
	}
	doc = b.get("/admin/sync").doc(t)
	alert := doc.Find("#reconcile-blocked").Text()
	if !strings.Contains(alert, "held back by the safety valve") || !strings.Contains(alert, "2400 of the 2500 scripts") || !strings.Contains(alert, "--allow-mass-delete") {
		t.Fatalf("alert %q", alert)
	}
	if held := doc.Find("#reconcile-held").Text(); held != "2400 script and 2400 document deletions (limit 50 per run)" {
		t.Fatalf("held back: %q", held)
	}
}
