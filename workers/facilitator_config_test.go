package workers

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
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers/facilitator"
)

// TestSignJWTPassesTheGuard: the portal's Go JWT (used for /supported) passes the same checks
// an authenticating facilitator makes, for both algorithms; another call, a stale token and a
// replayed nonce do not.
func TestSignJWTPassesTheGuard(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(ec)
	cases := []struct {
		name, secret string
		pub          crypto.PublicKey
	}{
		{"EdDSA", base64.StdEncoding.EncodeToString(edPriv), edPub},
		{"ES256", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), &ec.PublicKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := JWTAuth("kid-1", c.secret)
			if err != nil {
				t.Fatal(err)
			}
			g := &facilitator.JWTGuard{Keys: map[string]crypto.PublicKey{"kid-1": c.pub}}
			tok, err := SignJWT(a, "GET", "https://fac.example.com/x402/supported", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Check(tok, "GET", "fac.example.com", "/x402/supported"); err != nil {
				t.Fatalf("refused: %v", err)
			}
			if g.Check(tok, "GET", "fac.example.com", "/x402/supported") == nil {
				t.Error("a replayed nonce passed")
			}
			other, _ := SignJWT(a, "GET", "https://fac.example.com/x402/supported", time.Now())
			if g.Check(other, "POST", "fac.example.com", "/x402/settle") == nil {
				t.Error("a token for another call passed")
			}
			stale, _ := SignJWT(a, "GET", "https://fac.example.com/x402/supported", time.Now().Add(-3*time.Minute))
			if err := g.Check(stale, "GET", "fac.example.com", "/x402/supported"); err == nil || !strings.Contains(err.Error(), "expired") {
				t.Errorf("a stale token: %v", err)
			}
		})
	}
}

// TestFacilitatorBindings: the dispatcher's two bindings from stored facilitators, in order;
// the credential unsealed only into FACILITATOR_AUTH.
func TestFacilitatorBindings(t *testing.T) {
	key := make([]byte, 32)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	a, _ := JWTAuth("k", base64.StdEncoding.EncodeToString(priv))
	plain, _ := json.Marshal(a)
	sealed, _ := models.SealSecret(key, plain, []byte("402claw facilitator https://cdp.example/x402"))
	fs := []models.Facilitator{
		{URL: "https://cdp.example/x402", Networks: "eip155:8453", AuthType: "jwt", Secret: sealed},
		{URL: "https://x402.org/facilitator", Networks: "eip155:84532", AuthType: "none"},
	}
	list, auth, err := FacilitatorBindings(fs, key)
	if err != nil {
		t.Fatal(err)
	}
	if list != `[{"url":"https://cdp.example/x402","networks":["eip155:8453"]},{"url":"https://x402.org/facilitator","networks":["eip155:84532"]}]` {
		t.Errorf("FACILITATORS = %s", list)
	}
	var got map[string]FacilitatorAuth
	if json.Unmarshal([]byte(auth), &got) != nil || len(got) != 1 || got["https://cdp.example/x402"].JWK["d"] != a.JWK["d"] {
		t.Errorf("FACILITATOR_AUTH = %s", auth)
	}
	if strings.Contains(list, a.JWK["d"]) {
		t.Error("the key is in the plain-text binding")
	}
	up := DispatcherUpload(BootstrapOptions{Namespace: "ns", Facilitators: list, FacilitatorAuth: auth}, "kv")
	kinds := map[string]string{}
	for _, b := range up.Bindings {
		if n, _ := b["name"].(string); strings.HasPrefix(n, "FACILITATOR") {
			kinds[n], _ = b["type"].(string)
		}
	}
	if kinds["FACILITATORS"] != "plain_text" || kinds["FACILITATOR_AUTH"] != "secret_text" {
		t.Errorf("dispatcher bindings %v, want FACILITATORS plain text and FACILITATOR_AUTH secret", kinds)
	}
	// A credential sealed for another URL does not open.
	fs[0].URL = "https://evil.example/x402"
	if _, _, err := FacilitatorBindings(fs, key); err == nil {
		t.Error("a credential moved to another URL was opened")
	}
	if l, a, err := FacilitatorBindings(nil, key); l != "" || a != "" || err != nil {
		t.Errorf("none configured: %q %q %v", l, a, err)
	}
}
