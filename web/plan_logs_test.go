package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
)

// TestPlanLogLimitsEditable: an admin sets a plan's log bounds in the plan editor (issue 11:
// "kept for a bounded time and size per app (plan setting)"), the editor shows them again,
// and the ingest keeps only the saved number of lines of a request, counting the rest.
func TestPlanLogLimitsEditable(t *testing.T) {
	const ingest = "ingest-secret-for-plan-logs"
	p := startPortal(t, withIngestToken(ingest), func(o *web.Options) {
		svc, err := billing.New(billing.Options{Store: o.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: o.BaseURL,
			Demo: true, Grace: 72 * time.Hour, Usage: o.Store.TenantUsage})
		if err != nil {
			t.Fatal(err)
		}
		o.Billing = svc
	})
	_, a := tenantApp(t, p, "planlogs@example.com", "Plan Logs", "plan-logs")
	ctx := context.Background()
	u, _ := p.Store.UserByEmail(ctx, "planlogs@example.com")
	_, tok, _ := p.Store.CreateAPIToken(ctx, u.ID, "t", 0)
	hash, _ := models.HashPassword("admin password 123")
	if _, err := p.Store.CreateUser(ctx, "padmin@example.com", hash, models.RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}
	admin := p.browser(t)
	if r := admin.login("padmin@example.com", "admin password 123"); r.Status != http.StatusSeeOther {
		t.Fatalf("admin login: %d", r.Status)
	}

	form := url.Values{"name": {"Free"}, "price": {"0"}, "cpu_ms": {"10"}, "sub_requests": {"50"}, "max_apps": {"3"},
		"max_routes": {"20"}, "max_script_kib": {"1024"}, "active": {"1"},
		"log_lines": {"3"}, "log_retention_hours": {"12"}, "log_max_mib": {"2"}}
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("log_lines", "5000")
	if r := admin.post("/admin/plans/free", bad); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Between 1 and 1000 lines.") {
		t.Fatalf("5000 lines a request: %d %.300s", r.Status, r.Body)
	}
	if r := admin.post("/admin/plans/free", form); r.Status != http.StatusSeeOther {
		t.Fatalf("save: %d %.300s", r.Status, r.Body)
	}
	d := admin.get("/admin/plans").doc(t)
	for field, want := range map[string]string{"log_lines": "3", "log_retention_hours": "12", "log_max_mib": "2"} {
		if got, _ := d.Find("#plan-free input[name=" + field + "]").Attr("value"); got != want {
			t.Errorf("editor shows %s = %q, want %q", field, got, want)
		}
	}
	pl, err := p.Store.PlanByKey(ctx, models.FreePlan)
	if err != nil || pl.LogLinesPerRequest != 3 || pl.LogRetentionHours != 12 || pl.LogMaxBytes != 2<<20 {
		t.Fatalf("stored plan %+v, %v", pl, err)
	}

	// The ingest applies it: five lines of one request keep three and say two were dropped.
	if r := postLogs(t, p, ingest, logRec(a.Slug, "many", 200, "info:1", "info:2", "info:3", "info:4", "info:5")); r.Status != http.StatusAccepted {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}
	_, pg := getLogs(t, p, tok, a.Slug, "?request_id=many")
	var kept, dropped int
	for _, l := range pg.Lines {
		if l.Level == "system" {
			dropped = l.Dropped
		} else {
			kept++
		}
	}
	if kept != 3 || dropped != 2 {
		t.Fatalf("kept %d lines and counted %d dropped, want 3 and 2: %+v", kept, dropped, pg.Lines)
	}
}
