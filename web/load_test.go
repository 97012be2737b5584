package web_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/web"
	"github.com/gofiber/fiber/v2"
)

// TestLoadPages is the `make bench` load run for the foundation: 10,000
// tenants in the database, wrk on loopback against the tenant dashboard and
// the admin tenant list, the same components rendered from memory, and a
// bare "ok" handler for scale. It runs only with CLAW_BENCH=1.
func TestLoadPages(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("load run: set CLAW_BENCH=1 (make bench)")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Skip("wrk is not installed (apt-get install -y wrk)")
	}
	db := modeltest.SQLite(t)
	if os.Getenv("CLAW_BENCH_POSTGRES") != "" {
		db = modeltest.Postgres(t)
	}
	ctx := context.Background()
	store := models.NewStore(db.Gorm)
	start := time.Now()
	loadTenants(t, db, 10_000)
	t.Logf("loaded 10,000 tenants in %s (%s)", time.Since(start).Round(time.Millisecond), db.Name)

	hash, _ := models.HashPassword("bench password 123")
	tenantUser, _, err := store.SignUp(ctx, "bench@example.com", hash, "Bench Tenant", models.RoleTenant)
	if err != nil {
		t.Fatal(err)
	}
	admin, _ := store.CreateUser(ctx, "admin@example.com", hash, models.RoleAdmin, nil)
	pol := models.SessionPolicy{Idle: time.Hour, Absolute: time.Hour}
	tenantCookie, _ := store.CreateSession(ctx, tenantUser.ID, "127.0.0.1", "wrk", pol)
	adminCookie, _ := store.CreateSession(ctx, admin.ID, "127.0.0.1", "wrk", pol)

	p := startPortalOn(t, db, func(o *web.Options) { o.Session = pol })

	// In-memory twins: the same components, data prepared once.
	plan, _ := store.PlanByKey(ctx, "free")
	u, _ := store.UserByID(ctx, tenantUser.ID)
	tenantPage, _ := store.SearchTenants(ctx, models.TenantQuery{Limit: 50})
	adminUser, _ := store.UserByID(ctx, admin.ID)
	twin := fiber.New(fiber.Config{DisableStartupMessage: true})
	twin.Get("/ok", func(c *fiber.Ctx) error { return c.SendString("ok") })
	twin.Get("/dashboard", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		pg := views.Page{Title: "Dashboard", User: u, CSRF: strings.Repeat("x", 43), Nav: "dashboard"}
		return views.DashboardPage(pg, views.Dashboard{Tenant: u.Tenant, Plan: plan, Tokens: 1}).Render(c.UserContext(), c.Response().BodyWriter())
	})
	twin.Get("/admin/tenants", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		pg := views.Page{Title: "Tenants", User: adminUser, CSRF: strings.Repeat("x", 43), Nav: "admin"}
		return views.AdminTenantsPage(pg, views.AdminTenants{Page: tenantPage, Query: models.TenantQuery{Sort: models.TenantSortNewest}, Sorts: models.TenantSorts}).Render(c.UserContext(), c.Response().BodyWriter())
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go twin.Listener(ln)
	defer twin.Shutdown()
	twinURL := "http://" + ln.Addr().String()

	csrf := "Cookie: claw_csrf=" + strings.Repeat("x", 43)
	runs := []struct{ name, url, cookie string }{
		{"ok (bare fiber)", twinURL + "/ok", ""},
		{"dashboard (db)", p.URL + "/dashboard", csrf + "; claw_session=" + tenantCookie},
		{"dashboard (memory)", twinURL + "/dashboard", ""},
		{"admin tenants (db)", p.URL + "/admin/tenants", csrf + "; claw_session=" + adminCookie},
		{"admin tenants (memory)", twinURL + "/admin/tenants", ""},
	}
	res := map[string]wrkResult{}
	var report strings.Builder
	fmt.Fprintf(&report, "\n| page | req/s (50 conns) | p50 | p99 | p99 (1 conn) |\n|---|---|---|---|---|\n")
	for _, r := range runs {
		many := runWrk(t, wrk, r.url, r.cookie, 50, 8*time.Second)
		one := runWrk(t, wrk, r.url, r.cookie, 1, 4*time.Second)
		res[r.name] = many
		fmt.Fprintf(&report, "| %s | %.0f | %s | %s | %s |\n", r.name, many.rps, many.p50, many.p99, one.p99)
	}
	fmt.Fprintf(&report, "\ndashboard db/memory = %.2f×, admin tenants db/memory = %.2f× (goal ≥ 0.8×)\n",
		res["dashboard (db)"].rps/res["dashboard (memory)"].rps, res["admin tenants (db)"].rps/res["admin tenants (memory)"].rps)
	t.Log(report.String())
	fmt.Println(report.String())
}

func loadTenants(t *testing.T, db modeltest.DB, n int) {
	now := time.Now().UTC()
	const batch = 1000
	for i := 0; i < n; i += batch {
		ts := make([]models.Tenant, 0, batch)
		for j := i; j < i+batch && j < n; j++ {
			ts = append(ts, models.Tenant{Slug: fmt.Sprintf("tenant-%05d", j), Name: fmt.Sprintf("Tenant %d", j), PlanKey: "free", Status: "active", CreatedAt: now, UpdatedAt: now})
		}
		if err := db.Gorm.CreateInBatches(ts, 500).Error; err != nil {
			t.Fatal(err)
		}
		us := make([]models.User, 0, len(ts))
		for _, tn := range ts {
			id := tn.ID
			us = append(us, models.User{Email: tn.Slug + "@example.com", PasswordHash: "x", Role: "tenant", TenantID: &id, CreatedAt: now, UpdatedAt: now})
		}
		if err := db.Gorm.CreateInBatches(us, 500).Error; err != nil {
			t.Fatal(err)
		}
	}
}

type wrkResult struct {
	rps      float64
	p50, p99 string
}

var (
	wrkRPS = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP   = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+(\S+)`)
	wrkErr = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func runWrk(t *testing.T, wrk, url, cookie string, conns int, d time.Duration) wrkResult {
	threads := 2
	if conns < 2 {
		threads = 1
	}
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", d.String(), "--latency"}
	if cookie != "" {
		args = append(args, "-H", cookie)
	}
	out, err := exec.Command(wrk, append(args, url)...).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	if m := wrkErr.FindSubmatch(out); m != nil {
		t.Fatalf("wrk saw %s error responses on %s:\n%s", m[1], url, out)
	}
	var r wrkResult
	if m := wrkRPS.FindSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	for _, m := range wrkP.FindAllSubmatch(out, -1) {
		if string(m[1]) == "50" {
			r.p50 = string(m[2])
		} else {
			r.p99 = string(m[2])
		}
	}
	return r
}
