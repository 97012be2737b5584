package facilitator

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MaxJWTLifetime is the longest lifetime (exp − nbf) an authenticating facilitator accepts, as
// CDP documents it.
const MaxJWTLifetime = 120

// JWTGuard is what an authenticating facilitator (CDP, PayAI) checks on every call, for tests
// and for trying an operator's configuration locally: a bearer JWT signed with one of Keys
// (by key id: an ed25519.PublicKey or an *ecdsa.PublicKey on P-256), header {alg, kid, typ
// "JWT", nonce}, claims iss, sub = kid, nbf, exp with exp − nbf ≤ 120 s and now inside,
// and uri = "METHOD host/path" of the call. A nonce is accepted once.
type JWTGuard struct {
	Keys map[string]crypto.PublicKey
	Iss  string           // expected iss; "" is "cdp"
	Now  func() time.Time // nil: time.Now

	mu     sync.Mutex
	nonces map[string]int64 // nonce → exp
}

// Wrap answers 401 with the reason to a call without an acceptable JWT, and passes the others.
func (g *JWTGuard) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, `{"error":"unauthorized: no bearer JWT"}`, http.StatusUnauthorized)
			return
		}
		if err := g.Check(tok, r.Method, r.Host, r.URL.Path); err != nil {
			http.Error(w, fmt.Sprintf(`{"error":%q}`, "unauthorized: "+err.Error()), http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check verifies one token for a call.
func (g *JWTGuard) Check(token, method, host, path string) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var header struct{ Alg, Kid, Typ, Nonce string }
	var claims struct {
		Iss, Sub, URI string
		Nbf, Exp      int64
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return errors.New("undecodable JWT")
	}
	key, ok := g.Keys[header.Kid]
	if !ok {
		return fmt.Errorf("unknown key id %q", header.Kid)
	}
	signed := []byte(parts[0] + "." + parts[1])
	switch k := key.(type) {
	case ed25519.PublicKey:
		if header.Alg != "EdDSA" || !ed25519.Verify(k, signed, sig) {
			return errors.New("bad EdDSA signature")
		}
	case *ecdsa.PublicKey:
		h := sha256.Sum256(signed)
		if header.Alg != "ES256" || len(sig) != 64 || !ecdsa.Verify(k, h[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("bad ES256 signature")
		}
	default:
		return errors.New("unsupported key type")
	}
	iss := g.Iss
	if iss == "" {
		iss = "cdp"
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	t := now().Unix()
	switch {
	case header.Typ != "JWT":
		return errors.New("typ is not JWT")
	case len(header.Nonce) < 16:
		return errors.New("no nonce in the header")
	case claims.Iss != iss:
		return fmt.Errorf("iss %q", claims.Iss)
	case claims.Sub != header.Kid:
		return errors.New("sub is not the key id")
	case claims.Exp <= claims.Nbf || claims.Exp-claims.Nbf > MaxJWTLifetime:
		return fmt.Errorf("lifetime %d s (at most %d)", claims.Exp-claims.Nbf, MaxJWTLifetime)
	case t < claims.Nbf-5:
		return errors.New("not valid yet")
	case t >= claims.Exp:
		return errors.New("expired")
	case claims.URI != strings.ToUpper(method)+" "+host+path:
		return fmt.Errorf("uri %q is not this call (%s %s%s)", claims.URI, method, host, path)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.nonces == nil {
		g.nonces = map[string]int64{}
	}
	for n, exp := range g.nonces {
		if exp < t {
			delete(g.nonces, n)
		}
	}
	if _, used := g.nonces[header.Nonce]; used {
		return errors.New("nonce used before")
	}
	g.nonces[header.Nonce] = claims.Exp
	return nil
}
