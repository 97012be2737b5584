package billing

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

// stripeMock starts stripe-mock on a free port behind a recording proxy and
// returns the proxy's URL and the recorded requests.
func stripeMock(t *testing.T) (string, *recorder) {
	t.Helper()
	bin, err := exec.LookPath("stripe-mock")
	if err != nil {
		gopath, _ := exec.Command("go", "env", "GOPATH").Output()
		bin = filepath.Join(strings.TrimSpace(string(gopath)), "bin", "stripe-mock")
		if _, err := os.Stat(bin); err != nil {
			fmt.Fprintln(os.Stderr, "\n*** stripe-mock not found: outgoing Stripe calls are NOT tested (go install github.com/stripe/stripe-mock@v0.203.0) ***")
			t.Skip("stripe-mock not installed")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "-http-port", fmt.Sprint(port))
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	target, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", port))
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", target.Host)
		if err == nil {
			c.Close()
			break
		}
		if i > 200 {
			t.Fatal("stripe-mock did not start listening")
		}
		time.Sleep(25 * time.Millisecond)
	}
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		form, _ := url.ParseQuery(string(body))
		if r.Method == http.MethodGet {
			form = r.URL.Query()
		}
		rec.add(recorded{Method: r.Method, Path: r.URL.Path, Form: form, Idempotency: r.Header.Get("Idempotency-Key")})
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, rec
}

type recorded struct {
	Method, Path, Idempotency string
	Form                      url.Values
}

type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (r *recorder) add(x recorded) { r.mu.Lock(); r.reqs = append(r.reqs, x); r.mu.Unlock() }
func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// asUser runs handlers as the tenant's first user with a CSRF token.
func asUser(f *fixture, email string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u, err := f.store.UserByEmail(c.UserContext(), email)
		if err != nil {
			return err
		}
		reqctx.SetUser(c, u)
		reqctx.SetCSRF(c, "tok")
		return c.Next()
	}
}

func TestStripeCalls(t *testing.T) {
	mockURL, rec := stripeMock(t)
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		f := newFixture(t, db, func(o *Options) {
			o.StripeKey, o.StripeBaseURL, o.BaseURL = "sk_test_123", mockURL, "http://portal.test"
		})
		ctx := context.Background()
		for _, who := range []string{"a", "b"} {
			app := fiber.New()
			app.Use(asUser(f, who+"@example.com"))
			app.Post("/billing/checkout", f.svc.Checkout)
			app.Post("/billing/portal", f.svc.Portal)
			n0 := len(rec.all())
			resp, err := app.Test(httptest.NewRequest("POST", "/billing/checkout?plan=pro", nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 303 || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("checkout for %s = %d %q %s", who, resp.StatusCode, resp.Header.Get("Location"), body)
			}
			reqs := rec.all()[n0:]
			var tenant *models.Tenant
			if who == "a" {
				tenant = f.a
				if len(reqs) != 1 {
					t.Fatalf("tenant with a customer made %d calls, want only the session: %+v", len(reqs), reqs)
				}
			} else {
				tenant = f.b
				if len(reqs) != 2 || reqs[0].Path != "/v1/customers" || reqs[0].Idempotency != fmt.Sprintf("customer-tenant-%d", f.b.ID) {
					t.Fatalf("first checkout must create the customer with a deterministic key: %+v", reqs)
				}
				if reqs[0].Form.Get("metadata[tenant_id]") != fmt.Sprint(f.b.ID) {
					t.Fatalf("customer metadata = %v", reqs[0].Form)
				}
				tb, _ := f.store.TenantByID(ctx, f.b.ID)
				if tb.StripeCustomerID == "" {
					t.Fatal("customer id not stored")
				}
			}
			s := reqs[len(reqs)-1]
			want := map[string]string{"mode": "subscription", "client_reference_id": fmt.Sprint(tenant.ID), "line_items[0][price]": "price_pro",
				"line_items[0][quantity]": "1", "success_url": "http://portal.test/billing?checkout=success", "subscription_data[metadata][plan]": "pro"}
			if s.Path != "/v1/checkout/sessions" {
				t.Fatalf("session call = %+v", s)
			}
			for k, v := range want {
				if s.Form.Get(k) != v {
					t.Errorf("checkout %s = %q, want %q", k, s.Form.Get(k), v)
				}
			}
			resp, err = app.Test(httptest.NewRequest("POST", "/billing/portal", nil), -1)
			if err != nil {
				t.Fatal(err)
			}
			last := rec.all()[len(rec.all())-1]
			if resp.StatusCode != 303 || last.Path != "/v1/billing_portal/sessions" || last.Form.Get("return_url") != "http://portal.test/billing" {
				t.Fatalf("portal = %d %+v", resp.StatusCode, last)
			}
		}

		// Reconcile lists every customer's subscriptions; stripe-mock's fixture
		// (status active, an unknown price) becomes a row for the tenant.
		n0 := len(rec.all())
		r, err := f.svc.Reconcile(ctx)
		if err != nil {
			t.Fatal(err)
		}
		calls := rec.all()[n0:]
		// stripe-mock is stateless: it lists the same fixture subscription for
		// both customers, so the second one must be refused as a conflict.
		if len(calls) != 2 || r.Customers != 2 || len(r.Errors) != 1 || !strings.Contains(r.Errors[0], "is stored for tenant") {
			t.Fatalf("reconcile report %+v, calls %+v", r, calls)
		}
		for _, c := range calls {
			if c.Path != "/v1/subscriptions" || c.Form.Get("status") != "all" || c.Form.Get("customer") == "" {
				t.Fatalf("list call = %+v", c)
			}
		}
		if r.Fixed != 1 || r.Subscriptions != 2 {
			t.Fatalf("reconcile fixed nothing: %+v", r)
		}
		r2, err := f.svc.Reconcile(ctx)
		if err != nil || r2.Fixed != 0 {
			t.Fatalf("second reconcile must find no drift: %+v, %v", r2, err)
		}
	})
}
