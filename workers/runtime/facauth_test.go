package runtime

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/facilitator"
)

// guardedFacilitator is an authenticating facilitator (as CDP and PayAI are): the dev
// facilitator behind a JWTGuard, counting what the guard let through and what it refused.
type guardedFacilitator struct {
	guard       *facilitator.JWTGuard
	next        http.Handler
	shift       atomic.Int64 // added to the guard's clock, in ns: the dispatcher's JWTs look stale
	refuseSet   atomic.Bool  // refuse /settle with 401 (a key revoked between verify and settle)
	mu          sync.Mutex
	accepted    map[string]int // path → calls the guard let through
	refused     map[string]int // path → calls answered 401
	lastRefusal string
}

func (g *guardedFacilitator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	err := g.guard.Check(tok, r.Method, r.Host, r.URL.Path)
	g.mu.Lock()
	if err == nil && g.refuseSet.Load() && r.URL.Path == "/settle" {
		err = errRevoked
	}
	if err != nil {
		g.refused[r.URL.Path]++
		g.lastRefusal = err.Error()
		g.mu.Unlock()
		http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	g.accepted[r.URL.Path]++
	g.mu.Unlock()
	g.next.ServeHTTP(w, r)
}

type revoked struct{}

func (revoked) Error() string { return "key revoked" }

var errRevoked = revoked{}

func (g *guardedFacilitator) counts() (accepted, refused map[string]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	a, r := map[string]int{}, map[string]int{}
	for k, v := range g.accepted {
		a[k] = v
	}
	for k, v := range g.refused {
		r[k] = v
	}
	return a, r
}

// setFacilitators writes the facilitators to the running local edge (what the portal does on a
// change in Admin → Facilitators) and waits for the restarted workerd to answer.
func (c *conformance) setFacilitators(list, auth string) {
	c.t.Helper()
	old := c.e.rt.Status().PID
	if err := c.e.rt.SetFacilitators(list, auth); err != nil {
		c.t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st := c.e.rt.Status()
		if st.Running && st.PID != 0 && st.PID != old {
			if r := c.e.do(c.t, "GET", "", "/shop/free", nil); r.status == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("workerd did not come back with the new facilitators: %+v", c.e.rt.Status())
}

// TestFacilitatorJWTThroughWorkerd: the dispatcher in workerd signs a JWT per facilitator call
// with the operator's key (Ed25519 and ES256), and a facilitator that demands it (signature with
// the public key, iss, sub = kid, nbf, exp ≤ 120 s, uri "METHOD host/path", kid and a nonce used
// once) accepts every call of a real paid request by the official client. A refused JWT (stale,
// another key) fails the paid call cleanly: 503 before the tenant ran, the answer withheld and a
// ledger row after; nothing is charged. The facilitators reach the edge as the portal writes
// them, through Runtime.SetFacilitators.
func TestFacilitatorJWTThroughWorkerd(t *testing.T) {
	c := newConformance(t)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecPriv)
	g := &guardedFacilitator{next: c.fac, accepted: map[string]int{}, refused: map[string]int{}}
	g.guard = &facilitator.JWTGuard{
		Keys: map[string]crypto.PublicKey{"organizations/o/apiKeys/ed": edPub, "organizations/o/apiKeys/es": &ecPriv.PublicKey},
		Now:  func() time.Time { return time.Now().Add(time.Duration(g.shift.Load())) },
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)

	list, _ := json.Marshal([]map[string]any{{"url": srv.URL, "networks": []string{x402.DefaultNetwork, "eip155:8453"}}})
	authWith := func(kid, secret string) string {
		t.Helper()
		a, err := workers.JWTAuth(kid, secret)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]workers.FacilitatorAuth{srv.URL: a})
		return string(b)
	}
	edAuth := authWith("organizations/o/apiKeys/ed", base64.StdEncoding.EncodeToString(edPriv))
	esAuth := authWith("organizations/o/apiKeys/es", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})))
	_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
	wrongAuth := authWith("organizations/o/apiKeys/ed", base64.StdEncoding.EncodeToString(otherPriv))

	paysThrough := func(t *testing.T, path string) {
		t.Helper()
		a0, r0 := g.counts()
		settles := c.fac.settles.Load()
		r := c.pay(path)
		if r.Error != "" || r.Status != 200 || r.Receipt == nil || !r.Receipt.Success {
			t.Fatalf("paid call through the authenticating facilitator: %+v (last refusal: %s)", r, g.lastRefusal)
		}
		a1, r1 := g.counts()
		if a1["/verify"]-a0["/verify"] != 1 || a1["/settle"]-a0["/settle"] != 1 {
			t.Errorf("the guard let through %v (before %v), want one verify and one settle", a1, a0)
		}
		if r1["/verify"] != r0["/verify"] || r1["/settle"] != r0["/settle"] {
			t.Errorf("the guard refused the dispatcher's JWT: %v (%s)", r1, g.lastRefusal)
		}
		if c.fac.settles.Load()-settles != 1 {
			t.Errorf("%d settlements, want 1", c.fac.settles.Load()-settles)
		}
	}

	t.Run("Ed25519 key", func(t *testing.T) {
		c.setFacilitators(string(list), edAuth)
		paysThrough(t, "/replay/ed")
	})

	t.Run("Base mainnet: the official client pays the USD Coin domain through the JWT facilitator", func(t *testing.T) {
		pr := decodeRequired(t, c.e.do(t, "GET", "", "/shop/mainnet/x", nil))
		a := pr.Accepts[0]
		if a.Network != "eip155:8453" || a.Asset != "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913" || a.Extra["name"] != "USD Coin" || a.Extra["version"] != "2" {
			t.Fatalf("mainnet requirements: %+v", a)
		}
		paysThrough(t, "/mainnet/x")
	})

	t.Run("SetFacilitators switches to an ES256 key", func(t *testing.T) {
		c.setFacilitators(string(list), esAuth)
		paysThrough(t, "/replay/es")
	})

	refusedCleanly := func(t *testing.T, path, sig string) {
		t.Helper()
		settles := c.fac.settles.Load()
		r := c.send(path, sig)
		if r.status != 503 || r.errorCode() != "facilitator_unauthorized" || r.header.Get("Retry-After") == "" || strings.Contains(r.body, `"ok":true`) {
			t.Errorf("%s with a refused JWT: %d %s, want 503 facilitator_unauthorized with Retry-After", path, r.status, r.body)
		}
		if n := c.runs(path); n != 0 {
			t.Errorf("%s: the tenant ran %d times though the facilitator refused the credential", path, n)
		}
		if c.fac.settles.Load() != settles {
			t.Errorf("%s: charged though the facilitator refused the credential", path)
		}
	}

	t.Run("a JWT signed with another key is refused: 503, not run, not charged", func(t *testing.T) {
		c.setFacilitators(string(list), wrongAuth)
		_, r0 := g.counts()
		sig := c.sign(c.challengeFor("/replay/wrong", nil))[0]
		refusedCleanly(t, "/replay/wrong", sig)
		if _, r1 := g.counts(); r1["/verify"] == r0["/verify"] || !strings.Contains(g.lastRefusal, "signature") {
			t.Errorf("the guard did not see a bad signature: %v %q", r1, g.lastRefusal)
		}
		// The operator fixes the key: the same payment is good (nothing was used up).
		c.setFacilitators(string(list), edAuth)
		if r := c.send("/replay/wrong", sig); r.status != 200 {
			t.Errorf("the same payment with the right key: %d %s", r.status, r.body)
		}
	})

	t.Run("a stale JWT is refused: 503, not run, not charged", func(t *testing.T) {
		sig := c.sign(c.challengeFor("/replay/stale", nil))[0]
		g.shift.Store(int64(3 * time.Minute)) // every JWT the dispatcher signs is past its exp for the guard
		refusedCleanly(t, "/replay/stale", sig)
		g.shift.Store(0)
		if !strings.Contains(g.lastRefusal, "expired") {
			t.Errorf("the guard's last refusal: %q, want expired", g.lastRefusal)
		}
		if r := c.send("/replay/stale", sig); r.status != 200 {
			t.Errorf("the same payment once the JWT is fresh: %d %s", r.status, r.body)
		}
	})

	t.Run("settle refused after the tenant ran: answer withheld, not charged, a ledger row", func(t *testing.T) {
		sig := c.sign(c.challengeFor("/replay/revoked", nil))[0]
		settles := c.fac.settles.Load()
		g.refuseSet.Store(true)
		r := c.send("/replay/revoked", sig)
		g.refuseSet.Store(false)
		if r.status != 402 || r.errorCode() != "settlement_failed" || strings.Contains(r.body, `"ok":true`) || decodeRequired(t, r).Error != "facilitator_unauthorized" {
			t.Errorf("settle refused: %d %s", r.status, r.body)
		}
		if c.fac.settles.Load() != settles {
			t.Error("charged though settle was refused")
		}
		if n := c.runs("/replay/revoked"); n != 1 {
			t.Errorf("tenant ran %d times, want 1", n)
		}
		c.ingest.waitSettlement(t, 10*time.Second, func(m map[string]any) bool {
			return strings.EqualFold(m["nonce"].(string), nonceOf(t, sig)) && m["success"] == false && m["settlement_result"] == "facilitator_unauthorized"
		})
	})
}
