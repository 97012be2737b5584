package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
)

// tenantApp signs a tenant up in a browser and gives it an app created through the store.
func tenantApp(t testing.TB, p *portal, email, tenant, slug string) (*browser, *models.App) {
	t.Helper()
	b := p.browser(t)
	b.signup(email, tenant)
	u, err := p.Store.UserByEmail(context.Background(), email)
	if err != nil || u.Tenant == nil {
		t.Fatalf("user %s: %v", email, err)
	}
	a, err := p.Store.CreateApp(context.Background(), u.Tenant, slug, strings.ToUpper(slug[:1])+slug[1:])
	if err != nil {
		t.Fatal(err)
	}
	return b, a
}

// apiToken logs in through the API and returns a bearer token.
func apiToken(t testing.TB, p *portal, email string) string {
	t.Helper()
	r := p.api(t, "POST", "/api/v1/tokens", "", "application/json", `{"email":"`+email+`","password":"a good long password"}`)
	var out struct{ Token string }
	if r.Status != http.StatusCreated || json.Unmarshal([]byte(r.Body), &out) != nil || out.Token == "" {
		t.Fatalf("token for %s: %d %s", email, r.Status, r.Body)
	}
	return out.Token
}

// htmxForm posts a form as htmx does (CSRF in the header).
func (b *browser) htmxForm(path string, kv ...string) resp {
	b.t.Helper()
	form := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		form.Add(kv[i], kv[i+1])
	}
	return b.htmxPost(path, form)
}

func withIngestToken(tok string) func(*web.Options) {
	return func(o *web.Options) { o.IngestToken = tok }
}

func withEdge(local bool, edgeURL string) func(*web.Options) {
	return func(o *web.Options) { o.EdgeInfo = web.EdgeInfo{Local: local, EdgeURL: edgeURL} }
}

// mustApp re-reads an app from the database.
func mustApp(t testing.TB, p *portal, id uint) *models.App {
	t.Helper()
	a, err := p.Store.AppByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// jobOf returns the sync job of an app.
func jobOf(t testing.TB, p *portal, a *models.App) models.SyncJob {
	t.Helper()
	var j models.SyncJob
	if err := p.DB.Gorm.Where("target = ?", a.JobTarget()).First(&j).Error; err != nil {
		t.Fatal(err)
	}
	return j
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
