package workers

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
)

// JWTLifetime is how long a facilitator JWT is valid; CDP accepts at most 120 s.
const JWTLifetime = 120 * time.Second

// SignJWT signs a facilitator JWT for one call as the dispatcher's facauth.js does: header
// {alg, kid, typ, nonce}, claims {iss, sub, nbf, exp, uri, uris}. The portal uses it to read an
// authenticating facilitator's /supported.
func SignJWT(a FacilitatorAuth, method, rawURL string, now time.Time) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, 16)
	_, _ = rand.Read(nonce)
	header := map[string]string{"alg": a.Alg, "kid": a.Kid, "typ": "JWT", "nonce": hex.EncodeToString(nonce)}
	uri := strings.ToUpper(method) + " " + u.Host + u.Path
	iss := a.Iss
	if iss == "" {
		iss = "cdp"
	}
	claims := map[string]any{"iss": iss, "sub": a.Kid, "nbf": now.Unix(), "exp": now.Add(JWTLifetime).Unix(), "uri": uri, "uris": []string{uri}}
	hb, _ := json.Marshal(header)
	cb, _ := json.Marshal(claims)
	signing := b64u(hb) + "." + b64u(cb)
	d, err := base64.RawURLEncoding.DecodeString(a.JWK["d"])
	if err != nil {
		return "", errors.New("facilitator auth: the key's private part does not decode")
	}
	var sig []byte
	switch a.Alg {
	case "EdDSA":
		if len(d) != ed25519.SeedSize {
			return "", errors.New("facilitator auth: an Ed25519 key's private part is 32 bytes")
		}
		sig = ed25519.Sign(ed25519.NewKeyFromSeed(d), []byte(signing))
	case "ES256":
		k := new(ecdsa.PrivateKey)
		k.Curve = elliptic.P256()
		k.D = new(big.Int).SetBytes(d)
		k.X, k.Y = k.Curve.ScalarBaseMult(d)
		h := sha256.Sum256([]byte(signing))
		r, s, err := ecdsa.Sign(rand.Reader, k, h[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		return "", fmt.Errorf("facilitator auth: unsupported alg %q", a.Alg)
	}
	return signing + "." + b64u(sig), nil
}

// AuthHeader is the Authorization header value for one call ("" for none).
func (a FacilitatorAuth) AuthHeader(method, rawURL string, now time.Time) (string, error) {
	switch a.Type {
	case "", models.FacilitatorAuthNone:
		return "", nil
	case models.FacilitatorAuthBearer:
		return "Bearer " + a.Token, nil
	case models.FacilitatorAuthJWT:
		tok, err := SignJWT(a, method, rawURL, now)
		if err != nil {
			return "", err
		}
		return "Bearer " + tok, nil
	}
	return "", fmt.Errorf("facilitator auth: unknown type %q", a.Type)
}

// FacilitatorAuthFor builds the dispatcher's credential from the operator's input: a bearer
// token as is, a JWT key through JWTAuth (whose error says what is wrong with the key).
func FacilitatorAuthFor(authType, keyID, secret string) (FacilitatorAuth, error) {
	switch authType {
	case "", models.FacilitatorAuthNone:
		return FacilitatorAuth{Type: models.FacilitatorAuthNone}, nil
	case models.FacilitatorAuthBearer:
		return FacilitatorAuth{Type: models.FacilitatorAuthBearer, Token: strings.TrimSpace(secret)}, nil
	case models.FacilitatorAuthJWT:
		return JWTAuth(keyID, secret)
	}
	return FacilitatorAuth{}, fmt.Errorf("unknown authentication %q", authType)
}

// StoredFacilitatorAuth opens a configured facilitator's credential (sealed as the JSON of its
// FacilitatorAuth).
func StoredFacilitatorAuth(key []byte, f models.Facilitator) (FacilitatorAuth, error) {
	if f.AuthType == "" || f.AuthType == models.FacilitatorAuthNone {
		return FacilitatorAuth{Type: models.FacilitatorAuthNone}, nil
	}
	plain, err := models.OpenFacilitatorSecret(key, f)
	if err != nil {
		return FacilitatorAuth{}, err
	}
	var a FacilitatorAuth
	if err := json.Unmarshal(plain, &a); err != nil {
		return FacilitatorAuth{}, fmt.Errorf("facilitator %s: the stored credential is not readable: %w", f.URL, err)
	}
	return a, nil
}

// ProbeTimeout bounds one read of /supported.
const ProbeTimeout = 5 * time.Second

// ProbeSupported reads base/supported with the facilitator's authentication. The error says
// what went wrong in words an operator can act on (unreachable, refused the credential, not an
// x402 facilitator).
func ProbeSupported(ctx context.Context, hc *http.Client, base string, a FacilitatorAuth) (x402.SupportedResponse, error) {
	var out x402.SupportedResponse
	if hc == nil {
		hc = http.DefaultClient
	}
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	u := strings.TrimRight(base, "/") + "/supported"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return out, fmt.Errorf("the URL %s is not usable: %w", u, err)
	}
	h, err := a.AuthHeader(http.MethodGet, u, time.Now())
	if err != nil {
		return out, err
	}
	if h != "" {
		req.Header.Set("Authorization", h)
	}
	req.Header.Set("Accept", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return out, fmt.Errorf("%s did not answer within %s", u, ProbeTimeout)
		}
		return out, fmt.Errorf("%s could not be reached: %v", u, errors.Unwrap(err))
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	switch {
	case res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden:
		return out, fmt.Errorf("%s refused the credential (HTTP %d): check the key id and the key, or the token", u, res.StatusCode)
	case res.StatusCode != http.StatusOK:
		return out, fmt.Errorf("%s answered HTTP %d, not the list of what it settles", u, res.StatusCode)
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Kinds == nil {
		return out, fmt.Errorf("%s did not answer an x402 /supported document (a JSON object with \"kinds\")", u)
	}
	return out, nil
}

// SettledNetworks are the networks of a /supported answer that 402claw can price: x402
// version 2, scheme exact, and in the networks table (whose asset and EIP-712 domain the
// portal fills in).
func SettledNetworks(sup x402.SupportedResponse) []string {
	var out []string
	for _, k := range sup.Kinds {
		if k.X402Version != x402.Version || k.Scheme != x402.SchemeExact {
			continue
		}
		if _, ok := x402.NetworkByCAIP2(k.Network); ok && !slices.Contains(out, k.Network) {
			out = append(out, k.Network)
		}
	}
	return out
}

// facilitatorEntry is one entry of the dispatcher's FACILITATORS binding (settle.js).
type facilitatorEntry struct {
	URL      string   `json:"url"`
	Networks []string `json:"networks"`
}

// FacilitatorBindings are the dispatcher's FACILITATORS (plain text: which facilitator settles
// which network) and FACILITATOR_AUTH (a secret binding: URL → credential) for the configured
// facilitators, in their order. Both are "" when none is configured.
func FacilitatorBindings(fs []models.Facilitator, key []byte) (list, auth string, err error) {
	if len(fs) == 0 {
		return "", "", nil
	}
	entries := make([]facilitatorEntry, 0, len(fs))
	auths := map[string]FacilitatorAuth{}
	for _, f := range fs {
		entries = append(entries, facilitatorEntry{URL: f.URL, Networks: f.NetworkList()})
		a, err := StoredFacilitatorAuth(key, f)
		if err != nil {
			return "", "", err
		}
		if a.Type != models.FacilitatorAuthNone {
			auths[f.URL] = a
		}
	}
	lb, _ := json.Marshal(entries)
	ab, _ := json.Marshal(auths)
	return string(lb), string(ab), nil
}
