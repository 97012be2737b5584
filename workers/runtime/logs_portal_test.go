package runtime

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/web"
)

// TestLogsReachPortalLive: a request through real workerd, its console line and its uncaught
// exception readable through the portal's API (the live tail's after=) within 2 s of the
// answer — a functional wait with a deadline, not a timing measurement.
func TestLogsReachPortalLive(t *testing.T) {
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	db := modeltest.SQLite(t)
	store := models.NewStore(db.Gorm)
	ctx := context.Background()
	u, tn, err := store.SignUp(ctx, "tail@example.com", "x", "Tail owner", models.RoleTenant)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateApp(ctx, tn, "tailed", "Tailed"); err != nil {
		t.Fatal(err)
	}
	_, tok, err := store.CreateAPIToken(ctx, u.ID, "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	portalURL := "http://" + ln.Addr().String()
	fa, _, err := web.New(web.Options{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: portalURL,
		SecretKey: make([]byte, 32), IngestToken: "tail-ingest-token"})
	if err != nil {
		t.Fatal(err)
	}
	go fa.Listener(ln)
	t.Cleanup(func() { fa.ShutdownWithContext(context.Background()) })

	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	e := &edgeEnv{rt: startOwnEdge(t, wd, srv.URL, func(o *Options) {
		o.IngestURL, o.IngestToken = portalURL+"/internal/telemetry", "tail-ingest-token"
	}), edge: fe}
	e.deploy("tailed", `export default { fetch(req) {
  if (new URL(req.url).pathname === "/boom") throw new Error("tail boom");
  console.log("tail hello");
  return new Response("ok");
} };`, nil, nil)

	read := func(query string) []models.AppLog {
		req, _ := http.NewRequest("GET", portalURL+"/api/v1/apps/tailed/logs"+query, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var pg struct{ Lines []models.AppLog }
		json.NewDecoder(r.Body).Decode(&pg)
		return pg.Lines
	}
	for _, c := range []struct{ path, level, want string }{{"/tailed/", "info", "tail hello"}, {"/tailed/boom", "error", "Uncaught Error: tail boom"}} {
		r := e.do(t, "GET", "", c.path, nil)
		rid := r.header.Get("Claw-Request-Id")
		deadline := time.Now().Add(2 * time.Second)
		var got []models.AppLog
		for time.Now().Before(deadline) {
			if got = read("?after=1&request_id=" + rid); len(got) > 0 {
				break
			}
			if got = read("?request_id=" + rid); len(got) > 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if len(got) == 0 {
			t.Fatalf("%s: no line for request %s within 2 s", c.path, rid)
		}
		if got[0].Level != c.level || !strings.HasPrefix(got[0].Message, c.want) {
			t.Errorf("%s: line %+v", c.path, got[0])
		}
	}
}
