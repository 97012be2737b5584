package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/web/billing"
	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/chromedp"
)

// TestBrowserDemoUpgrade: a free tenant with a deployed app clicks Upgrade,
// pays on the demo checkout (which posts a signed webhook to the portal),
// sees Pro on the billing page, and the app's config document in the local
// Cloudflare API carries Pro's limits.
func TestBrowserDemoUpgrade(t *testing.T) {
	ctx := browsertest.New(t)
	ep := startEdgePortal(t, func(o *web.Options) {
		svc, err := billing.New(billing.Options{
			Store: o.Store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BaseURL: o.BaseURL, Demo: true,
			OnPlanChange: func(ctx context.Context, tx models.BillingTx, tenantID uint, _, _ string) error {
				return tx.EnqueueTenantApps(ctx, tenantID)
			},
			PauseExcess: func(ctx context.Context, tx models.BillingTx, tenantID uint, p models.Plan) ([]string, error) {
				return tx.ApplyPlanCaps(ctx, tenantID, p)
			},
			Usage: o.Store.TenantUsage,
		})
		if err != nil {
			t.Fatal(err)
		}
		o.Billing = svc
	})
	// The background syncer pushes the plan change, as in serve.
	sctx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go ep.Syncer.Run(sctx)

	tok := apiTenant(t, ep.portal, "buyer@example.com", "Buyer")
	ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"paid-app","name":"Paid app"}`)
	ep.api(t, "POST", "/api/v1/apps/paid-app/versions", tok, "application/json", jsonVersion("index.js", map[string]string{"index.js": goodWorker}))
	if r := ep.api(t, "POST", "/api/v1/apps/paid-app/deployments", tok, "", ""); r.Status != 202 {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	limits := func() (int, int) {
		doc, err := ep.CF.GetKV(context.Background(), ep.KVID, "app:paid-app")
		if err != nil {
			return 0, 0
		}
		var cfg struct {
			Plan struct {
				Key         string `json:"key"`
				CPUMs       int    `json:"cpuMs"`
				SubRequests int    `json:"subRequests"`
			} `json:"plan"`
		}
		json.Unmarshal(doc, &cfg)
		return cfg.Plan.CPUMs, cfg.Plan.SubRequests
	}
	waitLimits := func(cpu, sub int) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			c, s := limits()
			if c == cpu && s == sub {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("config document has cpuMs %d subRequests %d, want %d and %d", c, s, cpu, sub)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitLimits(50, 10)

	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err := chromedp.Do(ctx,
		chromedp.Navigate(ep.URL+"/login"),
		chromedp.SendKeys(css(`input[name=email]`), "buyer@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "a good long password"),
		chromedp.Submit(css(`form[action="/login"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
		chromedp.Click(css(`nav a[href="/billing"]`)),
		chromedp.WaitVisible(css(`button[data-plan=pro]`)),
		chromedp.Click(css(`button[data-plan=pro]`)),
		chromedp.WaitVisible(css(`#demo-pay`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "demo-checkout")
	err = chromedp.Do(ctx,
		chromedp.Click(css(`#demo-pay`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(t, ctx, "billing-pro")
	body, _ := chromedp.Run(ctx, chromedp.Text(css(`main`)))
	if !strings.Contains(body, "Pro plan limits") {
		t.Fatalf("billing page after paying does not show Pro:\n%.600s", body)
	}
	waitLimits(200, 50)
}
