package runtime

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/workers/facilitator"
)

// The ledger tests run the real chain: the dispatcher in workerd (with its PaymentLock on disk),
// the dev facilitator, and the real portal's ingest endpoint on a SQLite database. A tap in
// front of the portal records what the edge posted.

const ledgerIngestToken = "ledger-ingest-secret"

// ingestTap forwards to the portal and remembers, per post, the nonces of settled payments it
// carried as events and as outbox records.
type ingestTap struct {
	*httptest.Server
	mu          sync.Mutex
	eventPosts  int
	events      int
	settlements map[string]int // nonce → records received
	settledEvs  map[string]int // nonce → payment_success events received
}

func newIngestTap(t *testing.T, portalURL string) *ingestTap {
	u, _ := url.Parse(portalURL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	tap := &ingestTap{settlements: map[string]int{}, settledEvs: map[string]int{}}
	tap.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var in struct {
			Events      []map[string]any `json:"events"`
			Settlements []map[string]any `json:"settlements"`
		}
		json.Unmarshal(body, &in)
		tap.mu.Lock()
		if len(in.Events) > 0 {
			tap.eventPosts++
		}
		tap.events += len(in.Events)
		for _, e := range in.Events {
			if e["payment_success"] == true {
				tap.settledEvs[strings.ToLower(fmt.Sprint(e["nonce"]))]++
			}
		}
		for _, s := range in.Settlements {
			tap.settlements[strings.ToLower(fmt.Sprint(s["nonce"]))]++
		}
		tap.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(tap.Close)
	return tap
}

func (tap *ingestTap) seen(nonce string) (events, records int) {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	return tap.settledEvs[strings.ToLower(nonce)], tap.settlements[strings.ToLower(nonce)]
}

// ledgerEdge is the conformance edge (app "shop", the dev facilitator) posting to a real portal
// whose database knows the app.
type ledgerEdge struct {
	*conformance
	db  modeltest.DB
	app *models.App
	tap *ingestTap
}

func newLedgerEdge(t *testing.T) *ledgerEdge {
	t.Helper()
	c := newConformance(t)
	// newConformance started workerd with a fake ingest; restart it pointed at the portal.
	c.stop()
	db := modeltest.SQLite(t)
	store := models.NewStore(db.Gorm)
	ctx := context.Background()
	_, tn, err := store.SignUp(ctx, "shop@example.com", "x", "Shop owner", models.RoleTenant)
	if err != nil {
		t.Fatal(err)
	}
	app, err := store.CreateApp(ctx, tn, "shop", "Shop")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fa, _, err := web.New(web.Options{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: "http://" + ln.Addr().String(),
		SecretKey: make([]byte, 32), IngestToken: ledgerIngestToken})
	if err != nil {
		t.Fatal(err)
	}
	go fa.Listener(ln)
	t.Cleanup(func() { fa.ShutdownWithContext(context.Background()) })
	tap := newIngestTap(t, "http://"+ln.Addr().String())
	c.opts.IngestURL = tap.URL + "/internal/telemetry"
	c.opts.PortalURL = tap.URL // the portal's public address: where its docs and report links point
	c.opts.IngestToken = ledgerIngestToken
	c.start()
	return &ledgerEdge{conformance: c, db: db, app: app, tap: tap}
}

// payment signs a fresh payment for path with the dev wallet; it returns the header and nonce.
func (l *ledgerEdge) payment(path string) (string, string) {
	l.t.Helper()
	sig := signFor(l.t, l.req, l.e.rt.URL()+"/shop"+path)
	var p x402.PaymentPayload
	if err := x402.DecodeHeader(sig, &p); err != nil {
		l.t.Fatal(err)
	}
	return sig, p.Payload.Authorization.Nonce
}

func (l *ledgerEdge) ledgerRows(nonce string) int64 {
	var n int64
	l.db.Gorm.Model(&models.Payment{}).Where("nonce = ?", strings.ToLower(nonce)).Count(&n)
	return n
}

func (l *ledgerEdge) count(model any) int64 {
	var n int64
	if err := l.db.Gorm.Model(model).Count(&n).Error; err != nil {
		l.t.Fatal(err)
	}
	return n
}

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// M2: workerd dies right after a paid 200, before its telemetry batch (250 ms) leaves. The
// facilitator settled, so the ledger must get the payment anyway — from the PaymentLock's
// outbox after the restart — and exactly once, also when the same payment arrives twice.
func TestLedgerSurvivesWorkerdCrash(t *testing.T) {
	l := newLedgerEdge(t)

	t.Run("killed right after the paid answer", func(t *testing.T) {
		sig, nonce := l.payment("/paid")
		before := l.e.rt.Status()
		r := l.send("/paid", sig)
		if err := syscall.Kill(before.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if r.status != 200 || r.header.Get("PAYMENT-RESPONSE") == "" {
			t.Fatalf("paid request: %d %s", r.status, r.body)
		}
		if ev, _ := l.tap.seen(nonce); ev != 0 {
			t.Fatalf("the telemetry batch left before the kill (%d events): this run tests nothing", ev)
		}
		if !waitFor(15*time.Second, func() bool { st := l.e.rt.Status(); return st.Running && st.PID != before.PID }) {
			t.Fatalf("workerd was not restarted: %+v", l.e.rt.Status())
		}
		if !waitFor(15*time.Second, func() bool { return l.ledgerRows(nonce) > 0 }) {
			ev, rec := l.tap.seen(nonce)
			t.Fatalf("no ledger row 15 s after the restart (the portal saw %d events and %d outbox records of the payment)", ev, rec)
		}
		// The outbox deletes a record only once acknowledged: wait a little for a duplicate.
		time.Sleep(1500 * time.Millisecond)
		ev, rec := l.tap.seen(nonce)
		if n := l.ledgerRows(nonce); n != 1 || ev != 0 || rec < 1 {
			t.Fatalf("%d ledger rows, %d events, %d outbox records; want 1 row from the outbox", n, ev, rec)
		}
		var p models.Payment
		l.db.Gorm.Where("nonce = ?", strings.ToLower(nonce)).First(&p)
		if p.AppID != l.app.ID || p.TenantID != l.app.TenantID || p.Amount != "10000" || p.Network != x402.DefaultNetwork || !p.Success || !p.Simulated ||
			!strings.HasPrefix(p.Transaction, "0x") || p.Route != "GET /paid" {
			t.Errorf("ledger row %+v", p)
		}
	})

	t.Run("the batch and the outbox both deliver: one row, revenue once", func(t *testing.T) {
		var nonces []string
		for _, path := range []string{"/paid", "/before", "/replay/x"} {
			sig, nonce := l.payment(path)
			if r := l.send(path, sig); r.status != 200 {
				t.Fatalf("%s: %d %s", path, r.status, r.body)
			}
			nonces = append(nonces, nonce)
		}
		for _, n := range nonces {
			if !waitFor(10*time.Second, func() bool { ev, rec := l.tap.seen(n); return ev >= 1 && rec >= 1 }) {
				ev, rec := l.tap.seen(n)
				t.Fatalf("payment %s: %d events and %d outbox records reached the portal; want both", n, ev, rec)
			}
			if rows := l.ledgerRows(n); rows != 1 {
				t.Errorf("payment %s: %d ledger rows, want 1", n, rows)
			}
		}
		var paid int64
		var revenue string
		var rolls []models.UsageRollup
		l.db.Gorm.Where("app_id = ?", l.app.ID).Find(&rolls)
		revenue = "0"
		for _, r := range rolls {
			paid += r.Paid
			revenue = models.AddAtomic(revenue, r.RevenueAtomic)
		}
		if rows := l.count(&models.Payment{}); paid != rows || paid != 4 || revenue != "40000" {
			t.Errorf("rollups count %d paid, %s revenue; the ledger has %d rows (want 4 and 40000)", paid, revenue, rows)
		}
	})
}

// M3: a flood of junk payments and of requests to unknown apps through the real edge adds no
// row per request anywhere; the counters add up to the requests sent.
func TestLedgerJunkFloodIsCounted(t *testing.T) {
	l := newLedgerEdge(t)
	// One honest paid request first: the flood must not disturb it either.
	sig, nonce := l.payment("/paid")
	if r := l.send("/paid", sig); r.status != 200 {
		t.Fatalf("paid: %d %s", r.status, r.body)
	}
	if !waitFor(10*time.Second, func() bool { ev, rec := l.tap.seen(nonce); return ev >= 1 && rec >= 1 }) {
		t.Fatal("the honest payment never reached the portal")
	}
	// A free request ran the tenant: it is a raw event (the recent-request log) too.
	if r := l.e.do(t, "GET", "", "/shop/free", nil); r.status != 200 {
		t.Fatalf("free: %d %s", r.status, r.body)
	}
	tables := []struct {
		name  string
		model any
	}{{"telemetry_events", &models.TelemetryEvent{}}, {"payments", &models.Payment{}}, {"usage_rollups", &models.UsageRollup{}},
		{"payment_failure_rollups", &models.PaymentFailureRollup{}}, {"telemetry_counters", &models.TelemetryCounter{}}}
	rows := func() map[string]int64 {
		out := map[string]int64{}
		for _, tb := range tables {
			out[tb.name] = l.count(tb.model)
		}
		return out
	}

	// Every kind of junk the paywall refuses. The forged one is well formed (it reaches the
	// facilitator) but signed by nobody.
	forgedSig := func() string {
		s, _ := l.payment("/paid")
		b, _ := base64.StdEncoding.DecodeString(s)
		var p map[string]any
		json.Unmarshal(b, &p)
		p["payload"].(map[string]any)["signature"] = "0x" + strings.Repeat("11", 65)
		b, _ = json.Marshal(p)
		return base64.StdEncoding.EncodeToString(b)
	}
	junk := []struct {
		name string
		sig  func(i int) string
	}{
		{"not base64 JSON", func(i int) string { return fmt.Sprintf("%%%%junk-%d", i) }},
		{"base64 JSON of another version", func(i int) string {
			return base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf(`{"x402Version":1,"n":%d}`, i)))
		}},
		{"a forged signature", func(int) string { return forgedSig() }},
		{"a replay of the settled payment", func(int) string { return sig }},
	}
	send := func(n int) {
		for i := 0; i < n; i++ {
			j := junk[i%len(junk)]
			if r := l.send("/paid", j.sig(i)); r.status != 402 {
				t.Fatalf("%s: %d %s", j.name, r.status, r.body)
			}
			if r := l.e.do(t, "GET", "", fmt.Sprintf("/no-such-app-%d/x", i), nil); r.status != 404 {
				t.Fatalf("unknown app: %d %s", r.status, r.body)
			}
		}
	}
	sumRollups := func() (requests, failures int64) {
		var rolls []models.UsageRollup
		l.db.Gorm.Where("app_id = ? AND route = ?", l.app.ID, "GET /paid").Find(&rolls)
		for _, r := range rolls {
			requests += r.Requests
			failures += r.PaymentFailures
		}
		return
	}
	unknown := func() int64 {
		var ctrs []models.TelemetryCounter
		l.db.Gorm.Where("name = ?", models.CounterUnknownApp).Find(&ctrs)
		var n int64
		for _, c := range ctrs {
			n += c.Total
		}
		return n
	}
	settle := func(requests, failures, unknowns int64) {
		t.Helper()
		if !waitFor(15*time.Second, func() bool {
			r, f := sumRollups()
			return r == requests && f == failures && unknown() == unknowns
		}) {
			r, f := sumRollups()
			t.Fatalf("counters: %d requests, %d failed payments, %d unknown-app events; want %d, %d, %d", r, f, unknown(), requests, failures, unknowns)
		}
	}

	send(len(junk))
	settle(1+4, 4, 4)
	base := rows()
	const n = 160
	send(n)
	settle(1+4+n, 4+n, 4+n)
	if after := rows(); fmt.Sprint(after) != fmt.Sprint(base) {
		t.Errorf("rows per table grew with %d junk payments and %d unknown-app requests: before %v, after %v", n, n, base, after)
	}
	var fails []models.PaymentFailureRollup
	l.db.Gorm.Where("app_id = ?", l.app.ID).Find(&fails)
	byReason := map[string]int64{}
	for _, f := range fails {
		byReason[f.Reason] += f.Attempts
	}
	want := map[string]int64{"invalid_payment_header": 41, "invalid_x402_version": 41, "invalid_exact_evm_signature": 41, "invalid_exact_evm_nonce_already_used": 41}
	if fmt.Sprint(byReason) != fmt.Sprint(want) {
		t.Errorf("failed payments by reason %v, want %v", byReason, want)
	}
	if n := l.count(&models.TelemetryEvent{}); n != 2 {
		t.Errorf("%d raw events, want 2 (the honest payment and the free request)", n)
	}
	if n := l.count(&models.Payment{}); n != 1 {
		t.Errorf("%d ledger rows, want 1", n)
	}
}

// TestBenchLedger measures what the durable settlement record costs a paid request: N
// sequential paid requests (settle after), wall-clock latency and workerd's CPU time per
// request (the storage commit is native work the async trace does not count), with telemetry
// and the outbox posting to a sink as under serve. Measurement only; CLAW_BENCH=1
// (CLAW_BENCH_LEDGER_N requests, default 400). Compare with the dispatcher before the outbox
// by checking out the old workers/dispatcher/*.js and running it again.
func TestBenchLedger(t *testing.T) {
	if os.Getenv("CLAW_BENCH") == "" {
		t.Skip("benchmark: set CLAW_BENCH=1 to run")
	}
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING benchmark: %v", err)
	}
	n := 400
	if v, err := strconv.Atoi(os.Getenv("CLAW_BENCH_LEDGER_N")); err == nil && v > 0 {
		n = v
	}
	f, err := facilitator.New(facilitator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fac := httptest.NewServer(f)
	defer fac.Close()
	var posts, records atomic.Int64
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Settlements []json.RawMessage `json:"settlements"`
		}
		json.NewDecoder(r.Body).Decode(&in)
		if len(in.Settlements) > 0 {
			posts.Add(1)
			records.Add(int64(len(in.Settlements)))
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer sink.Close()
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	rt, err := Start(context.Background(), Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, Namespace: testNS, ConfigKVNamespaceID: testConfigNS,
		DataDir: t.TempDir(), FacilitatorURL: fac.URL, IngestURL: sink.URL, IngestToken: "t", Logger: benchLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Stop(context.Background())
	e := &edgeEnv{rt: rt, edge: fe}
	req, _ := x402.Resolve(x402.DefaultNetwork, "10000", payTo)
	e.deploy("hello", helloWorker, nil, func(c *appConfig) {
		c.Routes = []map[string]any{{"method": "GET", "path": "/paid", "access": "x402", "settle": "after", "requirements": req}}
	})
	if _, err := rt.Preload(context.Background(), "hello"); err != nil {
		t.Fatal(err)
	}
	url := rt.URL() + "/hello/paid"
	client := &http.Client{Timeout: 20 * time.Second}
	run := func(count int) []time.Duration {
		sigs := make([]string, count)
		for i := range sigs {
			sigs[i] = signFor(t, req, url)
		}
		lat := make([]time.Duration, count)
		for i, sig := range sigs {
			r, _ := http.NewRequest("GET", url, nil)
			r.Header.Set("PAYMENT-SIGNATURE", sig)
			start := time.Now()
			resp, err := client.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(start)
			if resp.StatusCode != 200 {
				t.Fatalf("paid request: %d", resp.StatusCode)
			}
		}
		return lat
	}
	run(100) // warm
	time.Sleep(1500 * time.Millisecond)
	pid := rt.Status().PID
	cpu0 := cpuTime(pid)
	lat := run(n)
	// The write-behind (250 ms), the telemetry batch and the outbox's delivery (1 s) belong to
	// these requests.
	time.Sleep(1500 * time.Millisecond)
	cpu := cpuTime(pid) - cpu0
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	t.Logf("%d paid requests: mean %v, p50 %v, p90 %v, p99 %v; workerd CPU %v per request; outbox: %d posts, %d records (warm-up included)",
		n, (sum / time.Duration(n)).Round(time.Microsecond), pct(0.5).Round(time.Microsecond), pct(0.9).Round(time.Microsecond),
		pct(0.99).Round(time.Microsecond), (cpu / time.Duration(n)).Round(time.Microsecond), posts.Load(), records.Load())
}
