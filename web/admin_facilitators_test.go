package web_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/facilitator"
)

// supportedStub answers /supported with the networks given, behind a JWT guard when keys are
// given; it counts the calls it let through.
func supportedStub(t *testing.T, keys map[string]crypto.PublicKey, networks ...string) *httptest.Server {
	t.Helper()
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/x402/supported" {
			http.NotFound(w, r)
			return
		}
		sup := x402.SupportedResponse{Kinds: []x402.SupportedKind{}}
		for _, n := range networks {
			sup.Kinds = append(sup.Kinds, x402.SupportedKind{X402Version: 2, Scheme: "exact", Network: n})
		}
		json.NewEncoder(w).Encode(sup)
	}))
	if keys != nil {
		h = (&facilitator.JWTGuard{Keys: keys}).Wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// TestAdminFacilitators: the operator configures a facilitator that demands a JWT and settles
// Base mainnet. Bad input is refused with the field's message and nothing stored; the saved one
// is written through to the edge (bindings with the sealed key), and the route editors and the
// API then offer Base mainnet with the USD Coin domain, which they refused before.
func TestAdminFacilitators(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	const kid = "organizations/o1/apiKeys/k1"
	cdp := supportedStub(t, map[string]crypto.PublicKey{kid: pub}, "eip155:84532", "eip155:8453")
	testnetOnly := supportedStub(t, nil, "eip155:84532")
	var mu sync.Mutex
	var applied []string
	var store *models.Store
	key := make([]byte, 32)
	p := startPortal(t, withEdge(true, "http://127.0.0.1:1"), func(o *web.Options) {
		o.ApplyFacilitators = func(ctx context.Context) error {
			fs, err := store.Facilitators(ctx)
			if err != nil {
				return err
			}
			list, auth, err := workers.FacilitatorBindings(fs, key)
			mu.Lock()
			applied = append(applied, list+"\n"+auth)
			mu.Unlock()
			return err
		}
	})
	store = p.Store
	ctx := context.Background()
	b, a := tenantApp(t, p, "fac@example.com", "Fac", "facapp")
	routes := "/apps/" + a.Slug + "/routes"
	tok := apiToken(t, p, "fac@example.com")
	mainnetPUT := `[{"method":"GET","path":"/m","access":"x402","price":"$0.01","network":"eip155:8453","pay_to":"` + payTo + `"}]`

	// Before: mainnet is neither offered nor accepted.
	if r := b.get(routes); strings.Contains(r.Body, `value="eip155:8453"`) {
		t.Fatal("the route editor offers Base mainnet with no facilitator settling it")
	}
	r := b.htmxForm(routes, routeForm("path", "/main", "network", "eip155:8453")...)
	if !strings.Contains(r.Body, "No facilitator of this installation settles Base (eip155:8453)") {
		t.Fatalf("mainnet route not refused: %.400s", r.Body)
	}
	if r := p.api(t, "PUT", "/api/v1/apps/facapp/routes", tok, "application/json", mainnetPUT); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "[0].network") {
		t.Fatalf("API mainnet route: %d %s", r.Status, r.Body)
	}

	hash, _ := models.HashPassword("admin password 123")
	p.Store.CreateUser(ctx, "root@example.com", hash, models.RoleAdmin, nil)
	admin := p.browser(t)
	admin.login("root@example.com", "admin password 123")
	good := url.Values{"url": {cdp.URL + "/x402/"}, "net:eip155:8453": {"on"}, "net:eip155:84532": {"on"}, "auth_type": {"jwt"}, "key_id": {kid},
		"secret": {base64.StdEncoding.EncodeToString(priv)}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f
	}
	bad := []struct {
		name string
		form url.Values
		want string
	}{
		{"no URL", with("url", ""), "Enter the facilitator's URL"},
		{"not a URL", with("url", "facilitator"), "This is not a URL"},
		{"credentials in the URL", with("url", "https://u:p@example.com"), "Leave credentials out"},
		{"ftp", with("url", "ftp://example.com"), "Use an https URL"},
		{"no network", url.Values{"url": {cdp.URL + "/x402"}, "auth_type": {"none"}}, "Choose at least one network"},
		{"unknown network", with("networks", "eip155:1"), `does not know the network "eip155:1"`},
		{"unknown auth", with("auth_type", "basic"), "Choose none, a bearer token or a signed JWT"},
		{"no key id", with("key_id", ""), "Enter the API key's id"},
		{"no key", with("secret", ""), "Paste the API key's private key"},
		{"key not parsing", with("secret", "not a key!"), "The key does not parse"},
		{"unreachable", with("url", "http://127.0.0.1:1/x402"), "could not be reached"},
		{"another key", with("secret", base64.StdEncoding.EncodeToString(otherPriv)), "refused the credential (HTTP 401)"},
		{"another key id", with("key_id", "organizations/o1/apiKeys/k2"), "refused the credential"},
		{"network it does not settle", url.Values{"url": {testnetOnly.URL + "/x402"}, "net:eip155:8453": {"on"}, "auth_type": {"none"}}, "does not settle Base (eip155:8453)"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			f := c.form
			r := admin.post("/admin/facilitators", f)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(html.UnescapeString(r.Body), c.want) {
				t.Fatalf("%d, want 422 saying %q: %.600s", r.Status, c.want, r.Body)
			}
			// What was typed comes back (the secret is never echoed).
			if v := f.Get("key_id"); v != "" && !strings.Contains(r.Body, v) {
				t.Errorf("the key id was lost")
			}
		})
	}
	if n := count(t, p, &models.Facilitator{}); n != 0 {
		t.Fatalf("%d facilitators stored after refusals", n)
	}
	// http is refused outside a local edge.
	remote := startPortal(t)
	hash2, _ := models.HashPassword("admin password 123")
	remote.Store.CreateUser(ctx, "root@example.com", hash2, models.RoleAdmin, nil)
	radmin := remote.browser(t)
	radmin.login("root@example.com", "admin password 123")
	if r := radmin.post("/admin/facilitators", with("url", good.Get("url"))); r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "Use https") {
		t.Fatalf("http facilitator on a Cloudflare edge: %d %.300s", r.Status, r.Body)
	}

	// The good one: saved, sealed, written through.
	if r := admin.post("/admin/facilitators", good); r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/admin/facilitators?done=saved" {
		t.Fatalf("save: %d %.600s", r.Status, r.Body)
	}
	fs, _ := p.Store.Facilitators(ctx)
	if len(fs) != 1 || fs[0].URL != cdp.URL+"/x402" || fs[0].Networks != "eip155:84532,eip155:8453" || fs[0].Alg != "EdDSA" || fs[0].KeyID != kid {
		t.Fatalf("stored %+v", fs)
	}
	seed := base64.RawURLEncoding.EncodeToString(priv.Seed())
	if strings.Contains(string(fs[0].Secret), seed) || strings.Contains(string(fs[0].Secret), base64.StdEncoding.EncodeToString(priv)) {
		t.Fatal("the private key is stored in clear")
	}
	mu.Lock()
	last := applied[len(applied)-1]
	mu.Unlock()
	if !strings.Contains(last, `"url":"`+cdp.URL+`/x402","networks":["eip155:84532","eip155:8453"]`) || !strings.Contains(last, `"kid":"`+kid+`"`) || !strings.Contains(last, seed) {
		t.Fatalf("bindings written through: %s", last)
	}
	page := admin.get("/admin/facilitators?done=saved")
	if body := html.UnescapeString(page.Body); !strings.Contains(body, "Facilitator saved") || !strings.Contains(body, `"USD Coin" version 2`) || !strings.Contains(page.Body, "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913") {
		t.Errorf("admin page does not offer Base mainnet USDC: %.3000s", page.Body)
	}

	// Now mainnet is offered and accepted, with the USD Coin domain.
	if r := b.get(routes); !strings.Contains(r.Body, `value="eip155:8453"`) {
		t.Error("the route editor does not offer Base mainnet")
	}
	r = b.htmxForm(routes, routeForm("path", "/main", "network", "eip155:8453")...)
	if !strings.Contains(r.Body, "Route added") || !strings.Contains(r.Body, "real USDC") {
		t.Fatalf("mainnet route: %.400s", r.Body)
	}
	r = p.api(t, "PUT", "/api/v1/apps/facapp/routes", tok, "application/json", mainnetPUT)
	var out []struct {
		Network, Asset, Warning string
		EIP712Name              string `json:"eip712_name"`
		EIP712Version           string `json:"eip712_version"`
	}
	json.Unmarshal([]byte(r.Body), &out)
	if r.Status != 200 || len(out) != 1 || out[0].Asset != "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913" || out[0].EIP712Name != "USD Coin" || out[0].EIP712Version != "2" || out[0].Warning != "" {
		t.Fatalf("API mainnet route: %d %s", r.Status, r.Body)
	}

	// An edit without a new key keeps the sealed one (and /supported still answers with it).
	edit := with("secret", "")
	edit.Del("net:eip155:84532")
	if r := admin.post("/admin/facilitators/"+itoa(fs[0].ID), edit); r.Status != http.StatusSeeOther {
		t.Fatalf("edit: %d %.600s", r.Status, r.Body)
	}
	f2, _ := p.Store.FacilitatorByID(ctx, fs[0].ID)
	if f2.Networks != "eip155:8453" || len(f2.Secret) == 0 {
		t.Fatalf("after edit %+v", f2)
	}

	// Removed: mainnet is no longer offered; the stored mainnet route is flagged.
	if r := admin.post("/admin/facilitators/"+itoa(fs[0].ID)+"/delete", nil); r.Status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.Status)
	}
	r = b.get(routes)
	if !strings.Contains(r.Body, "no facilitator settles it") {
		t.Error("a route on a network no facilitator settles is not flagged")
	}
	mu.Lock()
	if last := applied[len(applied)-1]; last != "\n" {
		t.Errorf("after removal the bindings are %q, want empty", last)
	}
	mu.Unlock()
	// Tenants cannot reach the page.
	if r := b.get("/admin/facilitators"); r.Status != http.StatusForbidden && r.Status != http.StatusNotFound {
		t.Errorf("tenant sees the facilitator page: %d", r.Status)
	}
}

func itoa(id uint) string { return strconv.FormatUint(uint64(id), 10) }
