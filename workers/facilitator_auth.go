package workers

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// FacilitatorAuth is how the dispatcher authenticates to one facilitator (workers/dispatcher/
// facauth.js reads the same JSON): none, a static bearer token, or a JWT signed per call with the
// operator's API key (CDP, PayAI).
type FacilitatorAuth struct {
	Type  string            `json:"type"`            // none, bearer or jwt
	Token string            `json:"token,omitempty"` // bearer
	Alg   string            `json:"alg,omitempty"`   // jwt: EdDSA or ES256
	Kid   string            `json:"kid,omitempty"`   // jwt: the API key's id (sub and kid)
	Iss   string            `json:"iss,omitempty"`   // jwt: default "cdp"
	JWK   map[string]string `json:"jwk,omitempty"`   // jwt: the private key for WebCrypto
}

// JWTAuth builds a jwt FacilitatorAuth from an API key as providers hand them out: an Ed25519
// key as base64 (64 bytes, seed and public key, or the 32-byte seed), or a P-256 key as PEM
// ("EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY"). The error says what was wrong with the key without
// repeating it.
func JWTAuth(kid, secret string) (FacilitatorAuth, error) {
	kid = strings.TrimSpace(kid)
	if kid == "" {
		return FacilitatorAuth{}, errors.New("the API key id is missing")
	}
	secret = strings.TrimSpace(strings.ReplaceAll(secret, `\n`, "\n"))
	if strings.HasPrefix(secret, "-----BEGIN") {
		k, err := parseP256(secret)
		if err != nil {
			return FacilitatorAuth{}, err
		}
		pub, err := k.PublicKey.ECDH()
		if err != nil {
			return FacilitatorAuth{}, fmt.Errorf("the EC key is not a valid P-256 key: %w", err)
		}
		raw := pub.Bytes() // 0x04 ‖ X ‖ Y
		priv, err := k.ECDH()
		if err != nil {
			return FacilitatorAuth{}, fmt.Errorf("the EC key is not a valid P-256 key: %w", err)
		}
		return FacilitatorAuth{Type: "jwt", Alg: "ES256", Kid: kid, JWK: map[string]string{
			"kty": "EC", "crv": "P-256", "x": b64u(raw[1:33]), "y": b64u(raw[33:65]), "d": b64u(priv.Bytes()),
		}}, nil
	}
	b, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		return FacilitatorAuth{}, errors.New("the key is neither PEM (an EC key) nor base64 (an Ed25519 key)")
	}
	var k ed25519.PrivateKey
	switch len(b) {
	case ed25519.PrivateKeySize:
		k = ed25519.PrivateKey(b)
		if !k.Public().(ed25519.PublicKey).Equal(ed25519.NewKeyFromSeed(b[:32]).Public()) {
			return FacilitatorAuth{}, errors.New("the Ed25519 key's public half does not match its seed")
		}
	case ed25519.SeedSize:
		k = ed25519.NewKeyFromSeed(b)
	default:
		return FacilitatorAuth{}, fmt.Errorf("an Ed25519 key is 64 bytes (or a 32-byte seed), this one is %d", len(b))
	}
	return FacilitatorAuth{Type: "jwt", Alg: "EdDSA", Kid: kid, JWK: map[string]string{
		"kty": "OKP", "crv": "Ed25519", "x": b64u(k.Public().(ed25519.PublicKey)), "d": b64u(k.Seed()),
	}}, nil
}

func parseP256(pemText string) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("the PEM key could not be read")
	}
	var k any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the PEM key does not parse: %w", err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("the PEM key is not a P-256 (ES256) key")
	}
	return ec, nil
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
