package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/browsertest"
	"github.com/chromedp/chromedp"
)

// loginAdminInBrowser creates an admin and logs it in through the form.
func loginAdminInBrowser(t *testing.T, ctx context.Context, p *portal) {
	t.Helper()
	hash, _ := models.HashPassword("admin password 123")
	if _, err := p.Store.CreateUser(context.Background(), "root@example.com", hash, models.RoleAdmin, nil); err != nil {
		t.Fatal(err)
	}
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/login"),
		chromedp.WaitVisible(css(`form[action="/login"]`)),
		chromedp.SendKeys(css(`input[name=email]`), "root@example.com"),
		chromedp.SendKeys(css(`input[name=password]`), "admin password 123"),
		chromedp.Submit(css(`form[action="/login"]`)),
		chromedp.WaitVisible(css(`.page-head h1`)),
	)
	if err != nil {
		t.Fatal(err)
	}
}

// TestBrowserAdminTenantSearch: typing in the tenant search narrows the list
// in place (htmx, no reload), the address keeps the search, and a filter
// box does the same.
func TestBrowserAdminTenantSearch(t *testing.T) {
	ctx := browsertest.New(t)
	p := startPortal(t)
	bg := context.Background()
	for i, e := range []string{"alice@northwind.test", "bob@contoso.test", "carol@example.org"} {
		_, tn, err := p.Store.SignUp(bg, e, "x", []string{"Acme Widgets", "Beta Labs", "Gamma"}[i], models.RoleTenant)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Store.CreateApp(bg, tn, fmt.Sprintf("app-%d-shop", i), fmt.Sprintf("Shop %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.DB.Gorm.Exec("UPDATE tenants SET status = 'suspended' WHERE name = 'Beta Labs'").Error; err != nil {
		t.Fatal(err)
	}
	loginAdminInBrowser(t, ctx, p)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	rows := func() string {
		s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#tenant-results tbody tr td:first-child a')].map(a => a.textContent).join(',')`))
		return s
	}
	waitRows := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for rows() != want {
			if time.Now().After(deadline) {
				t.Fatalf("rows %q, want %q", rows(), want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(p.URL+"/admin/tenants"),
		chromedp.WaitVisible(css(`#tenant-results`)),
		chromedp.Evaluate[chromedp.Void](`window.__noReload = true; undefined`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitRows("Gamma,Beta Labs,Acme Widgets")
	browsertest.Screenshot(t, ctx, "admin-tenants")
	if err := chromedp.Do(ctx, chromedp.SendKeys(css(`#tenant-q`), "1-SHO")); err != nil {
		t.Fatal(err)
	}
	waitRows("Beta Labs")
	browsertest.Screenshot(t, ctx, "admin-tenants-search")
	loc, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
	if !strings.Contains(loc, "q=1-SHO") {
		t.Fatalf("the address does not keep the search: %q", loc)
	}
	err = chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#tenant-q').value = '';
			const s = document.querySelector('select[name=status]'); s.value = 'active';
			s.dispatchEvent(new Event('change', {bubbles: true})); undefined`),
	)
	if err != nil {
		t.Fatal(err)
	}
	waitRows("Gamma,Acme Widgets")
	if same, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__noReload === true`)); !same {
		t.Fatal("searching reloaded the page instead of swapping the results")
	}
}
