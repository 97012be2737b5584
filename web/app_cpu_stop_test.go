package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
)

// An app the local edge's watchdog stopped says why on its pages and in the API; a first stop
// can be resumed at once, a repeat only by a deploy, and only by its tenant.
func TestCPUStopSeenAndResumedByItsTenant(t *testing.T) {
	p := startPortal(t)
	ctx := context.Background()
	b, a := tenantApp(t, p, "spin@example.com", "Spin", "spinner")
	other, _ := tenantApp(t, p, "other@example.com", "Other", "bystander")
	if _, err := p.Store.CreateVersion(ctx, a, 1, models.NewVersion{MainModule: "index.js", Sources: map[string]string{"index.js": "x"}, Bundle: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	stop := func(at time.Time) {
		t.Helper()
		if _, changed, err := p.Store.StopRunaway(ctx, "app-spinner", 1500*time.Millisecond, at); err != nil || !changed {
			t.Fatalf("stop: changed=%v %v", changed, err)
		}
	}
	banner := func() (text string, button string) {
		doc := b.get("/apps/spinner").doc(t)
		return doc.Find("#paused").Text(), strings.TrimSpace(doc.Find("#paused button").Text())
	}

	stop(time.Now())
	text, button := banner()
	if !strings.Contains(text, models.CPUStopReason) || !strings.Contains(text, "ran JavaScript for 1.5s without yielding") || button != "Resume now" {
		t.Fatalf("first stop: banner %q, button %q", text, button)
	}
	if got := b.get("/apps").doc(t).Find(".paused-reason").Text(); !strings.HasPrefix(got, models.CPUStopReason) {
		t.Errorf("apps list: reason %q", got)
	}
	tok := apiToken(t, p, "spin@example.com")
	var j struct {
		Status       string `json:"status"`
		StatusReason string `json:"status_reason"`
	}
	if r := p.api(t, "GET", "/api/v1/apps/spinner", tok, "", ""); r.Status != 200 || json.Unmarshal([]byte(r.Body), &j) != nil ||
		j.Status != "paused" || !strings.HasPrefix(j.StatusReason, models.CPUStopReason) {
		t.Errorf("API: %d %s", r.Status, r.Body)
	}
	if r := other.post("/apps/spinner/resume", nil); r.Status != http.StatusNotFound {
		t.Errorf("another tenant's Resume: %d", r.Status)
	}
	if mustApp(t, p, a.ID).Status != models.AppPaused {
		t.Fatal("another tenant resumed the app")
	}
	if r := b.post("/apps/spinner/resume", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("Resume: %d %s", r.Status, r.Body)
	}
	if got := mustApp(t, p, a.ID); got.Status != models.AppActive || jobOf(t, p, got).DesiredGen != got.Generation {
		t.Fatalf("after Resume: %+v", got)
	}

	// Again within 24 hours: no Resume, a deploy.
	stop(time.Now())
	text, button = banner()
	if !strings.Contains(text, "again within 24 hours") || !strings.Contains(text, "deploy on the Code tab") || button != "" {
		t.Fatalf("repeat: banner %q, button %q", text, button)
	}
	if r := b.post("/apps/spinner/resume", nil); r.Status != http.StatusConflict || !strings.Contains(r.Body, "until you deploy a fixed version") {
		t.Fatalf("Resume of a repeat: %d %.300s", r.Status, r.Body)
	}
	if mustApp(t, p, a.ID).Status != models.AppPaused {
		t.Fatal("a repeat was resumed without a deploy")
	}
	if _, err := p.Store.Deploy(ctx, a, 0); err != nil {
		t.Fatal(err)
	}
	if got := mustApp(t, p, a.ID); got.Status != models.AppActive || got.StatusReason != "" {
		t.Fatalf("after the deploy: %s %q", got.Status, got.StatusReason)
	}
	if text, _ := banner(); text != "" {
		t.Errorf("banner after the deploy: %q", text)
	}
}
