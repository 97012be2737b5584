package runtime

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// cookieWorker sets the portal's cookies (every spelling a browser would
// take for them) beside one of its own, as the tenant app in the CSRF attack
// did: cookies ignore ports, so locally the edge's cookies reach the portal.
const cookieWorker = `export default { fetch() {
  const h = new Headers({ "content-type": "text/plain" });
  h.append("set-cookie", "claw_csrf=planted; Path=/");
  h.append("set-cookie", "CLAW_SESSION=planted; Path=/");
  h.append("set-cookie", "__Host-claw_session=planted; Path=/; Secure");
  h.append("set-cookie", "__secure-claw_csrf=planted; Path=/; Secure");
  h.append("set-cookie", " claw_session =planted; Max-Age=999999");
  h.append("set-cookie", "tenant_pref=kept; Path=/");
  return new Response("cookies", { headers: h });
} };`

// TestEdgeStripsPortalCookies: the dispatcher removes Set-Cookie headers for
// the portal's cookie names from tenant responses and keeps the tenant's
// own, on both ways a response leaves the dispatcher: as the tenant's
// isolate made it (CORS applied there, the shared edge with subrequest
// emulation) and copied by the dispatcher for CORS (without emulation).
func TestEdgeStripsPortalCookies(t *testing.T) {
	shared := edge(t)
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	plain := &edgeEnv{rt: startOwnEdge(t, wd, srv.URL, func(o *Options) { o.SubrequestEmulation = false }), edge: fe}

	for _, c := range []struct {
		name string
		e    *edgeEnv
	}{{"cors applied in the tenant's isolate", shared}, {"cors applied by the dispatcher", plain}} {
		t.Run(c.name, func(t *testing.T) {
			c.e.deploy("cookie-setter", cookieWorker, nil, nil)
			for _, host := range []string{"", "cookie-setter.localhost"} {
				path := "/cookie-setter/"
				if host != "" {
					path = "/"
				}
				r := c.e.do(t, "GET", host, path, nil)
				if r.status != 200 || r.body != "cookies" {
					t.Fatalf("host %q: %d %q", host, r.status, r.body)
				}
				// Both ways carry the request's id, for its logs.
				if id := r.header.Get("Claw-Request-Id"); len(id) != 32 {
					t.Fatalf("host %q: Claw-Request-Id %q", host, id)
				}
				got := r.header.Values("Set-Cookie")
				if !slices.Equal(got, []string{"tenant_pref=kept; Path=/"}) {
					t.Fatalf("host %q: Set-Cookie %q, want only the tenant's own cookie", host, got)
				}
				for _, v := range got {
					if strings.Contains(strings.ToLower(v), "claw_") {
						t.Fatalf("a portal cookie got through: %q", v)
					}
				}
			}
		})
	}
}
