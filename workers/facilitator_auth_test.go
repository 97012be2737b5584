package workers

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// signWithDispatcher runs the dispatcher's facauth.js under node and returns its JWT.
func signWithDispatcher(t *testing.T, auth FacilitatorAuth, method, url string, now time.Time) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node is not installed")
	}
	in, _ := json.Marshal(map[string]any{"auth": auth, "method": method, "url": url, "nowMs": now.UnixMilli()})
	cmd := exec.Command(node, "dispatcher/testdata/sign_jwt.mjs")
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v: %s", err, out)
	}
	return string(out)
}

// verifyJWT is what an authenticating facilitator checks: the signature with the key's public
// half, the claims CDP documents, and a lifetime of at most 120 s around now.
func verifyJWT(token string, pub any, method, host, path string, now time.Time) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var header struct{ Alg, Kid, Typ, Nonce string }
	var claims struct {
		Iss, Sub, URI string
		Uris          []string
		Nbf, Exp      int64
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	cb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return errors.New("undecodable")
	}
	signed := []byte(parts[0] + "." + parts[1])
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if header.Alg != "EdDSA" || !ed25519.Verify(k, signed, sig) {
			return errors.New("bad EdDSA signature")
		}
	case *ecdsa.PublicKey:
		h := sha256.Sum256(signed)
		if header.Alg != "ES256" || len(sig) != 64 || !ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("bad ES256 signature")
		}
	}
	uri := method + " " + host + path
	switch {
	case header.Typ != "JWT" || len(header.Nonce) != 32 || header.Kid == "":
		return fmt.Errorf("header %+v", header)
	case claims.Iss != "cdp" || claims.Sub != header.Kid:
		return fmt.Errorf("iss/sub %q %q", claims.Iss, claims.Sub)
	case claims.URI != uri || len(claims.Uris) != 1 || claims.Uris[0] != uri:
		return fmt.Errorf("uri %q %v, want %q", claims.URI, claims.Uris, uri)
	case claims.Exp-claims.Nbf > 120 || claims.Exp <= claims.Nbf:
		return fmt.Errorf("lifetime %d s", claims.Exp-claims.Nbf)
	case now.Unix() < claims.Nbf-5 || now.Unix() >= claims.Exp:
		return errors.New("expired or not yet valid")
	}
	return nil
}

func TestFacilitatorJWTGolden(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ecPriv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecPriv)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ecPriv)
	now := time.Now()
	cases := []struct {
		name, secret string
		pub          any
	}{
		{"Ed25519, 64 bytes base64", base64.StdEncoding.EncodeToString(edPriv), edPub},
		{"Ed25519, seed", base64.StdEncoding.EncodeToString(edPriv.Seed()), edPub},
		{"P-256, SEC1 PEM", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})), &ecPriv.PublicKey},
		{"P-256, PKCS#8 PEM with escaped newlines", strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})), "\n", `\n`), &ecPriv.PublicKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auth, err := JWTAuth("organizations/o/apiKeys/k1", c.secret)
			if err != nil {
				t.Fatal(err)
			}
			tok := signWithDispatcher(t, auth, "POST", "https://api.cdp.coinbase.com/platform/v2/x402/verify", now)
			if err := verifyJWT(tok, c.pub, "POST", "api.cdp.coinbase.com", "/platform/v2/x402/verify", now); err != nil {
				t.Fatalf("the dispatcher's JWT does not verify: %v", err)
			}
			// A stale token, another endpoint, another key: refused.
			if verifyJWT(tok, c.pub, "POST", "api.cdp.coinbase.com", "/platform/v2/x402/settle", now) == nil {
				t.Error("a verify token passed for settle")
			}
			if verifyJWT(tok, c.pub, "POST", "api.cdp.coinbase.com", "/platform/v2/x402/verify", now.Add(3*time.Minute)) == nil {
				t.Error("a token passed three minutes later")
			}
			otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
			if _, ok := c.pub.(ed25519.PublicKey); ok && verifyJWT(tok, otherPub, "POST", "api.cdp.coinbase.com", "/platform/v2/x402/verify", now) == nil {
				t.Error("another key's public half accepted the token")
			}
		})
	}
}

// TestFacilitatorStubDemandsJWT: a facilitator that demands the JWT accepts the dispatcher's and
// refuses a missing, stale or foreign one.
func TestFacilitatorStubDemandsJWT(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	auth, err := JWTAuth("k1", base64.StdEncoding.EncodeToString(priv))
	if err != nil {
		t.Fatal(err)
	}
	stub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if err := verifyJWT(tok, pub, r.Method, r.Host, r.URL.Path, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"isValid":true}`))
	}))
	defer stub.Close()
	call := func(tok string) int {
		req, _ := http.NewRequest("POST", stub.URL+"/verify", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := call(signWithDispatcher(t, auth, "POST", stub.URL+"/verify", time.Now())); got != 200 {
		t.Errorf("the dispatcher's JWT: %d", got)
	}
	if got := call(""); got != 401 {
		t.Errorf("no JWT: %d", got)
	}
	if got := call(signWithDispatcher(t, auth, "POST", stub.URL+"/verify", time.Now().Add(-5*time.Minute))); got != 401 {
		t.Errorf("a stale JWT: %d", got)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	wrong, _ := JWTAuth("k1", base64.StdEncoding.EncodeToString(other))
	if got := call(signWithDispatcher(t, wrong, "POST", stub.URL+"/verify", time.Now())); got != 401 {
		t.Errorf("a JWT signed with another key: %d", got)
	}
}

func TestJWTAuthRefusesBadKeys(t *testing.T) {
	rsaLike := "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	der, _ := x509.MarshalECPrivateKey(p384)
	cases := map[string]struct{ kid, secret, want string }{
		"no kid":        {"", base64.StdEncoding.EncodeToString(make([]byte, 32)), "id is missing"},
		"not base64":    {"k", "not a key!", "neither PEM"},
		"short ed25519": {"k", base64.StdEncoding.EncodeToString(make([]byte, 16)), "is 16"},
		"broken pem":    {"k", "-----BEGIN EC PRIVATE KEY-----\nxx\n-----END EC PRIVATE KEY-----", "could not be read"},
		"rsa":           {"k", rsaLike, "not a private key"},
		"p-384":         {"k", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), "P-256"},
	}
	for name, c := range cases {
		if _, err := JWTAuth(c.kid, c.secret); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}
