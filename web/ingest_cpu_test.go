package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
)

// On the local edge the dispatcher sends cpu_ms null; ingest puts the runtime's measurement of
// the request into the event (and so into the rollups), only for requests the tenant served and
// only when the edge did not send a value of its own.
func TestIngestPutsLocalCPUIntoEvents(t *testing.T) {
	var mu sync.Mutex
	queue := map[string][]time.Duration{"app-cpuapp": {7500 * time.Microsecond, 2 * time.Millisecond, 9 * time.Millisecond}}
	p := startPortal(t, withIngestToken("tok"), func(o *web.Options) {
		o.EdgeInfo.RequestCPU = func(script string) (time.Duration, bool) {
			mu.Lock()
			defer mu.Unlock()
			q := queue[script]
			if len(q) == 0 {
				return 0, false
			}
			queue[script] = q[1:]
			return q[0], true
		}
	})
	tenantApp(t, p, "cpu@example.com", "Cpu", "cpuapp")
	now := time.Now().UnixMilli()
	ev := func(route, cpu string, served bool) string {
		return fmt.Sprintf(`{"ts":%d,"app":"cpuapp","worker_name":"app-cpuapp","route":%q,"method":"GET","status_code":200,"served":%v,"cpu_ms":%s,"duration_ms":3}`, now, route, served, cpu)
	}
	body := `{"events":[` + strings.Join([]string{ev("/a", "null", true), ev("/b", "0.4", true), ev("/c", "null", false), ev("/d", "null", true)}, ",") + `]}`
	r := (&browser{t: t, base: p.URL, c: http.DefaultClient}).do("POST", "/internal/telemetry", strings.NewReader(body),
		map[string]string{"Content-Type": "application/json", "Authorization": "Bearer tok"})
	if r.Status != 202 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	want := map[string]float64{"/a": 7.5, "/b": 0.4, "/d": 2}
	var evs []models.TelemetryEvent
	p.DB.Gorm.Find(&evs)
	if len(evs) != 3 {
		t.Fatalf("%d events stored, want 3", len(evs))
	}
	for _, e := range evs {
		if e.CPUMs == nil || *e.CPUMs != want[e.Route] {
			t.Errorf("%s: cpu_ms %v, want %v", e.Route, e.CPUMs, want[e.Route])
		}
	}
	var sum float64
	p.DB.Gorm.Model(&models.UsageRollup{}).Select("SUM(cpu_ms)").Scan(&sum)
	if sum != 9.9 {
		t.Errorf("rollups hold %.2f CPU ms, want 9.9", sum)
	}
	if left := queue["app-cpuapp"]; len(left) != 1 {
		t.Errorf("%d measurements left, want 1 (the refused request took none)", len(left))
	}
}
