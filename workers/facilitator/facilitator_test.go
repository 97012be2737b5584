package facilitator

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// The golden vector of the x402 spec (reference/x402.md).
const (
	goldenFrom        = "0x857b06519E91e3A54538791bDbb0E22373e36b66"
	goldenTo          = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"
	goldenValidAfter  = 1740672089
	goldenValidBefore = 1740672154
	goldenNonce       = "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13480"
	goldenSignature   = "0x2d6a7588d6acca505cbf0d9a4a227e0c52c6c34008c8e8986a1283259764173608a2ce6496642e377d6da8dbbf5836e9bd15092f9ecab05ded3d6293af148b571c"
)

// goldenNow lies inside the vector's window with the 6 s margin.
var goldenNow = time.Unix(goldenValidAfter+10, 0)

func goldenRequirements() x402.Requirements {
	return x402.Requirements{
		Scheme: "exact", Network: "eip155:84532", Amount: "10000",
		Asset: "0x036CbD53842c5426634e7929541eC2318f3dCF7e", PayTo: goldenTo,
		MaxTimeoutSeconds: 60, Extra: map[string]string{"name": "USDC", "version": "2"},
	}
}

// goldenRequest is the facilitator body for the golden payment, as a generic
// JSON tree so that tests can change any field, including into wrong types.
func goldenRequest() map[string]any {
	req := goldenRequirements()
	p := x402.PaymentPayload{
		X402Version: 2,
		Resource:    &x402.Resource{URL: "https://weather.example.com/forecast"},
		Accepted:    req,
		Payload: x402.ExactPayload{
			Signature: goldenSignature,
			Authorization: x402.Authorization{
				From: goldenFrom, To: goldenTo, Value: "10000",
				ValidAfter: "1740672089", ValidBefore: "1740672154", Nonce: goldenNonce,
			},
		},
	}
	return toTree(x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: req})
}

func toTree(v any) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	return m
}

// set changes a field at a dotted path ("paymentPayload.accepted.asset").
func set(tree map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	m := tree
	for _, p := range parts[:len(parts)-1] {
		m = m[p].(map[string]any)
	}
	if v == nil {
		delete(m, parts[len(parts)-1])
		return
	}
	m[parts[len(parts)-1]] = v
}

func newFacilitator(t *testing.T, now time.Time, path string) *Facilitator {
	t.Helper()
	f, err := New(Options{NoncePath: path, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func post(t *testing.T, h http.Handler, path string, body any) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	var b []byte
	if s, ok := body.(string); ok {
		b = []byte(s)
	} else {
		var err error
		if b, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(b)))
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

func TestGoldenVectorVerifies(t *testing.T) {
	f := newFacilitator(t, goldenNow, "")
	rec, out := post(t, f, "/verify", goldenRequest())
	if rec.Code != 200 || out["isValid"] != true || out["payer"] != goldenFrom {
		t.Fatalf("golden vector: %d %s", rec.Code, rec.Body)
	}
	if _, has := out["invalidReason"]; has {
		t.Errorf("valid answer carries invalidReason: %s", rec.Body)
	}
}

// TestGoldenVectorTampered changes one thing at a time; each must fail, with
// the reason the reference facilitator would give.
func TestGoldenVectorTampered(t *testing.T) {
	const other = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	sig, _ := hex.DecodeString(goldenSignature[2:])
	flip := func(i int) string {
		b := bytes.Clone(sig)
		b[i] ^= 0x01
		return "0x" + hex.EncodeToString(b)
	}
	// The same signature with s replaced by n-s and v flipped recovers the
	// same key: only the low-s rule refuses it.
	n := crypto.S256().Params().N
	highS := bytes.Clone(sig)
	new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:64])).FillBytes(highS[32:64])
	highS[64] = 27 + (1 - (sig[64] - 27))

	auth := "paymentPayload.payload.authorization."
	tests := []struct {
		name  string
		path  string
		value any
		now   time.Time
		want  string
	}{
		{"from", auth + "from", other, goldenNow, ReasonSignature},
		{"to", auth + "to", other, goldenNow, ReasonSignature},
		{"value", auth + "value", "10001", goldenNow, ReasonSignature},
		{"validAfter", auth + "validAfter", "1740672088", goldenNow, ReasonSignature},
		{"validBefore", auth + "validBefore", "1740672155", goldenNow, ReasonSignature},
		{"nonce", auth + "nonce", "0xf3746613c2d920b5fdabc0856f2aeb2d4f88ee6037b8cc5d04a71a4462f13481", goldenNow, ReasonSignature},
		{"signature r byte", "paymentPayload.payload.signature", flip(3), goldenNow, ReasonSignature},
		{"signature s byte", "paymentPayload.payload.signature", flip(40), goldenNow, ReasonSignature},
		{"signature v 27/28 swapped", "paymentPayload.payload.signature", goldenSignature[:130] + map[string]string{"1b": "1c", "1c": "1b"}[goldenSignature[130:]], goldenNow, ReasonSignature},
		{"signature v 29", "paymentPayload.payload.signature", goldenSignature[:130] + "1d", goldenNow, ReasonSignature},
		{"signature high s", "paymentPayload.payload.signature", "0x" + hex.EncodeToString(highS), goldenNow, ReasonSignature},
		{"signature short", "paymentPayload.payload.signature", goldenSignature[:128], goldenNow, ReasonSignature},
		{"signature not hex", "paymentPayload.payload.signature", "0xzz" + goldenSignature[4:], goldenNow, ReasonPayload},
		{"required name", "paymentRequirements.extra.name", "USD Coin", goldenNow, ReasonSignature},
		{"required version", "paymentRequirements.extra.version", "1", goldenNow, ReasonSignature},
		{"name missing", "paymentRequirements.extra.name", nil, goldenNow, ReasonMissingDomain},
		{"version missing", "paymentRequirements.extra.version", nil, goldenNow, ReasonMissingDomain},
		{"required payTo", "paymentRequirements.payTo", other, goldenNow, ReasonRecipient},
		{"required amount", "paymentRequirements.amount", "10001", goldenNow, ReasonValueMismatch},
		{"accepted network", "paymentPayload.accepted.network", "eip155:8453", goldenNow, ReasonNetworkMismatch},
		{"accepted asset", "paymentPayload.accepted.asset", other, goldenNow, ReasonAssetMismatch},
		{"accepted scheme", "paymentPayload.accepted.scheme", "upto", goldenNow, ReasonScheme},
		{"required scheme", "paymentRequirements.scheme", "upto", goldenNow, ReasonScheme},
		{"x402Version", "x402Version", 1, goldenNow, ReasonVersion},
		{"payload x402Version", "paymentPayload.x402Version", 1, goldenNow, ReasonVersion},
		{"value not decimal", auth + "value", "0x2710", goldenNow, ReasonPayload},
		{"value a number", auth + "value", 10000, goldenNow, ReasonPayload},
		{"nonce short", auth + "nonce", goldenNonce[:64], goldenNow, ReasonPayload},
		{"from not an address", auth + "from", "0x857b", goldenNow, ReasonPayload},
		{"authorization missing", "paymentPayload.payload.authorization", nil, goldenNow, ReasonPayload},
		{"expired", "", nil, time.Unix(goldenValidBefore-5, 0), ReasonValidBefore},
		{"not yet valid", "", nil, time.Unix(goldenValidAfter-1, 0), ReasonValidAfter},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFacilitator(t, tt.now, "")
			req := goldenRequest()
			if tt.path != "" {
				set(req, tt.path, tt.value)
			}
			rec, out := post(t, f, "/verify", req)
			if rec.Code != 200 || out["isValid"] != false || out["invalidReason"] != tt.want {
				t.Errorf("got %d %s, want invalidReason %s", rec.Code, strings.TrimSpace(rec.Body.String()), tt.want)
			}
		})
	}

	// Both sides of the chain id and the asset change together: the domain
	// is then another one, and the signature no longer fits.
	both := []struct {
		name   string
		field  string
		value  string
		reason string
	}{
		{"chain id", "network", "eip155:8453", ReasonSignature},
		{"asset", "asset", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", ReasonSignature},
		{"unsupported chain", "network", "eip155:1", ReasonNetworkMismatch},
	}
	for _, tt := range both {
		t.Run("both "+tt.name, func(t *testing.T) {
			f := newFacilitator(t, goldenNow, "")
			req := goldenRequest()
			set(req, "paymentPayload.accepted."+tt.field, tt.value)
			set(req, "paymentRequirements."+tt.field, tt.value)
			_, out := post(t, f, "/verify", req)
			if out["isValid"] != false || out["invalidReason"] != tt.reason {
				t.Errorf("got %v, want %s", out, tt.reason)
			}
		})
	}
}

// TestRecoveryIDForms: wallets write v as 27/28, raw signers as 0/1.
func TestRecoveryIDForms(t *testing.T) {
	f := newFacilitator(t, goldenNow, "")
	req := goldenRequest()
	v := goldenSignature[130:]
	raw := map[string]string{"1b": "00", "1c": "01"}[v]
	set(req, "paymentPayload.payload.signature", goldenSignature[:130]+raw)
	if _, out := post(t, f, "/verify", req); out["isValid"] != true {
		t.Errorf("v = %s refused: %v", raw, out)
	}
}

// TestReasonCodes reaches every check past the signature with a correctly
// signed payment (the dev wallet signs whatever the requirement says).
func TestReasonCodes(t *testing.T) {
	key, addr := DevWallet()
	now := time.Unix(1_800_000_000, 0)
	nonce := [32]byte{1, 2, 3}
	tests := []struct {
		name          string
		signed        func(r *x402.Requirements) // what the payer signed
		required      func(r *x402.Requirements) // what the server then asks
		after, before time.Time
		want          string
	}{
		{"valid", nil, nil, now.Add(-time.Minute), now.Add(time.Minute), ""},
		{"valid before: expires within 6 s", nil, nil, now.Add(-time.Minute), now.Add(5 * time.Second), ReasonValidBefore},
		{"valid before: 6 s is enough", nil, nil, now.Add(-time.Minute), now.Add(6 * time.Second), ""},
		{"valid after: future", nil, nil, now.Add(time.Second), now.Add(time.Minute), ReasonValidAfter},
		{"valid after: now is enough", nil, nil, now, now.Add(time.Minute), ""},
		{"token name", func(r *x402.Requirements) { r.Extra = map[string]string{"name": "USD Coin", "version": "2"} }, nil, now.Add(-time.Minute), now.Add(time.Minute), ReasonTokenName},
		{"token version", func(r *x402.Requirements) { r.Extra = map[string]string{"name": "USDC", "version": "1"} }, nil, now.Add(-time.Minute), now.Add(time.Minute), ReasonTokenVersion},
		{"asset not USDC", func(r *x402.Requirements) { r.Asset = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed" }, nil, now.Add(-time.Minute), now.Add(time.Minute), ReasonAssetNotDeployed},
		{"mainnet domain", func(r *x402.Requirements) {
			r.Network, r.Asset = "eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
			r.Extra = map[string]string{"name": "USD Coin", "version": "2"}
		}, nil, now.Add(-time.Minute), now.Add(time.Minute), ""},
		{"mainnet with the testnet name", func(r *x402.Requirements) {
			r.Network, r.Asset = "eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
		}, nil, now.Add(-time.Minute), now.Add(time.Minute), ReasonTokenName},
		{"server asks another amount", nil, func(r *x402.Requirements) { r.Amount = "20000" }, now.Add(-time.Minute), now.Add(time.Minute), ReasonValueMismatch},
		{"server asks another recipient", nil, func(r *x402.Requirements) { r.PayTo = addr }, now.Add(-time.Minute), now.Add(time.Minute), ReasonRecipient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFacilitator(t, now, "")
			signed := goldenRequirements()
			signed.Extra = map[string]string{"name": "USDC", "version": "2"}
			if tt.signed != nil {
				tt.signed(&signed)
			}
			p, err := SignPayment(key, signed, nil, tt.after, tt.before, nonce)
			if err != nil {
				t.Fatal(err)
			}
			required := signed
			if tt.required != nil {
				tt.required(&required)
				p.Accepted = required
			}
			_, out := post(t, f, "/verify", x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: required})
			if tt.want == "" {
				if out["isValid"] != true || out["payer"] != addr {
					t.Errorf("got %v, want valid from %s", out, addr)
				}
				return
			}
			if out["isValid"] != false || out["invalidReason"] != tt.want || out["payer"] != addr {
				t.Errorf("got %v, want %s from %s", out, tt.want, addr)
			}
		})
	}
}

func TestSettle(t *testing.T) {
	f := newFacilitator(t, goldenNow, filepath.Join(t.TempDir(), "nonces"))
	rec, out := post(t, f, "/settle", goldenRequest())
	wantTx := SimulatedTransaction("eip155:84532", goldenFrom, goldenNonce)
	if rec.Code != 200 || out["success"] != true || out["transaction"] != wantTx || out["network"] != "eip155:84532" || out["payer"] != goldenFrom || out["simulated"] != true {
		t.Fatalf("settle: %d %s", rec.Code, rec.Body)
	}
	if !strings.HasPrefix(wantTx, "0x") || len(wantTx) != 66 {
		t.Errorf("transaction %q is not a 32-byte hash", wantTx)
	}
	// Between verify and settle a payment verifies again (reference
	// behaviour); after settle it never does.
	if _, out := post(t, f, "/verify", goldenRequest()); out["isValid"] != false || out["invalidReason"] != ReasonNonceUsed {
		t.Errorf("verify after settle: %v", out)
	}
	rec, out = post(t, f, "/settle", goldenRequest())
	if rec.Code != 200 || out["success"] != false || out["errorReason"] != ReasonNonceUsed || out["transaction"] != "" || out["network"] != "eip155:84532" {
		t.Errorf("second settle: %d %s", rec.Code, rec.Body)
	}
	// A failed check is a failed settlement, not an HTTP error.
	req := goldenRequest()
	set(req, "paymentRequirements.amount", "1")
	if rec, out := post(t, f, "/settle", req); rec.Code != 200 || out["success"] != false || out["errorReason"] != ReasonValueMismatch {
		t.Errorf("settle of a wrong amount: %d %s", rec.Code, rec.Body)
	}
}

func TestSettlementResponseDecodes(t *testing.T) {
	f := newFacilitator(t, goldenNow, "")
	rec, _ := post(t, f, "/settle", goldenRequest())
	var sr x402.SettlementResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &sr); err != nil || !sr.Success || !sr.Simulated {
		t.Fatalf("%s: %+v %v", rec.Body, sr, err)
	}
	h, err := x402.EncodeHeader(sr)
	if err != nil {
		t.Fatal(err)
	}
	var back x402.SettlementResponse
	if err := x402.DecodeHeader(h, &back); err != nil || back != sr {
		t.Errorf("PAYMENT-RESPONSE round trip: %+v %v", back, err)
	}
}

func TestNoncesSurviveRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nonces")
	f, err := New(Options{NoncePath: path, Now: func() time.Time { return goldenNow }})
	if err != nil {
		t.Fatal(err)
	}
	if _, out := post(t, f, "/settle", goldenRequest()); out["success"] != true {
		t.Fatalf("first settle: %v", out)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash in the middle of the next write leaves half a line behind.
	fh, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("eip155:84532 0xhalf-writ")
	fh.Close()

	f2 := newFacilitator(t, goldenNow, path)
	if _, out := post(t, f2, "/verify", goldenRequest()); out["invalidReason"] != ReasonNonceUsed {
		t.Errorf("verify after restart: %v", out)
	}
	if _, out := post(t, f2, "/settle", goldenRequest()); out["success"] != false || out["errorReason"] != ReasonNonceUsed {
		t.Errorf("settle after restart: %v", out)
	}
	// A new payment settles, and its line is whole: the half line is gone.
	key, _ := DevWallet()
	p, _ := SignPayment(key, goldenRequirements(), nil, goldenNow.Add(-time.Second), goldenNow.Add(time.Minute), [32]byte{9})
	if _, out := post(t, f2, "/settle", x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: goldenRequirements()}); out["success"] != true {
		t.Fatalf("new payment after restart: %v", out)
	}
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || strings.Contains(string(b), "half") {
		t.Errorf("nonce file after repair:\n%s", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("nonce file mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestConcurrentSettleOnce(t *testing.T) {
	f := newFacilitator(t, goldenNow, filepath.Join(t.TempDir(), "nonces"))
	body, _ := json.Marshal(goldenRequest())
	const n = 20
	results := make([]map[string]any, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/settle", bytes.NewReader(body)))
			json.Unmarshal(rec.Body.Bytes(), &results[i])
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for _, r := range results {
		switch {
		case r["success"] == true:
			wins++
		case r["errorReason"] != ReasonNonceUsed:
			t.Errorf("loser answered %v", r)
		}
	}
	if wins != 1 {
		t.Errorf("%d of %d concurrent settles succeeded, want exactly 1", wins, n)
	}
}

func TestHTTP(t *testing.T) {
	f := newFacilitator(t, goldenNow, "")
	tests := []struct {
		method, path, body string
		status             int
		contains           string
	}{
		{"GET", "/supported", "", 200, `"kinds":[{"x402Version":2,"scheme":"exact","network":"eip155:84532"},{"x402Version":2,"scheme":"exact","network":"eip155:8453"}]`},
		{"GET", "/supported", "", 200, `"simulated":true`},
		{"POST", "/verify", "not json", 400, "not a JSON object"},
		{"POST", "/settle", "[1,2]", 400, "not a JSON object"},
		{"POST", "/verify", `{"x402Version":2,"paymentPayload":"x","paymentRequirements":{}}`, 200, ReasonPayload},
		{"POST", "/verify", `{}`, 200, ReasonPayload},
		{"POST", "/verify", `{"x402Version":2,"paymentPayload":` + mustJSON(goldenRequest()["paymentPayload"]) + `,"paymentRequirements":7}`, 200, ReasonRequirements},
		{"POST", "/verify", `{"pad":"` + strings.Repeat("a", maxBody) + `"}`, 400, "over"},
		{"GET", "/verify", "", 405, ""},
		{"POST", "/supported", "", 405, ""},
		{"GET", "/nope", "", 404, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body)))
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.contains) {
			t.Errorf("%s %s %.30q: %d %s, want %d containing %q", tt.method, tt.path, tt.body, rec.Code, rec.Body, tt.status, tt.contains)
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestOptionsNetworks(t *testing.T) {
	testnet, _ := x402.NetworkByCAIP2(x402.DefaultNetwork)
	f, err := New(Options{Networks: []x402.Network{testnet}, Now: func() time.Time { return goldenNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	key, _ := DevWallet()
	req, _ := x402.Resolve("eip155:8453", "10000", goldenTo)
	p, _ := SignPayment(key, req, nil, goldenNow.Add(-time.Second), goldenNow.Add(time.Minute), [32]byte{})
	if _, out := post(t, f, "/verify", x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: req}); out["invalidReason"] != ReasonNetworkMismatch {
		t.Errorf("mainnet on a testnet-only facilitator: %v", out)
	}
	bad := testnet
	bad.ChainID = 1
	if _, err := New(Options{Networks: []x402.Network{bad}}); err == nil {
		t.Error("a network whose chain id disagrees with its CAIP-2 id was accepted")
	}
	if _, err := New(Options{Networks: []x402.Network{testnet, testnet}}); err == nil {
		t.Error("a duplicate network was accepted")
	}
}

func TestDevWallet(t *testing.T) {
	key, addr := DevWallet()
	if addr != DevWalletAddress || crypto.PubkeyToAddress(key.PublicKey).Hex() != addr {
		t.Errorf("DevWallet address %s, want %s", addr, DevWalletAddress)
	}
	if _, err := SignPayment(key, x402.Requirements{Network: "eip155:84532", Amount: "1", Asset: goldenTo, PayTo: goldenTo}, nil, goldenNow, goldenNow, [32]byte{}); err == nil {
		t.Error("SignPayment without an EIP-712 domain succeeded")
	}
	a, _ := NewNonce()
	b, _ := NewNonce()
	if a == b {
		t.Error("two random nonces are equal")
	}
}

// TestNormalizeAddressAgreesWithGoEthereum cross-checks the pure-Go EIP-55 of
// models/x402 against go-ethereum's on addresses it has never seen.
func TestNormalizeAddressAgreesWithGoEthereum(t *testing.T) {
	for i := range 500 {
		h := crypto.Keccak256([]byte{byte(i), byte(i >> 8)})
		addr := common.BytesToAddress(h[:20])
		got, err := x402.NormalizeAddress(strings.ToLower(addr.Hex()))
		if err != nil || got != addr.Hex() {
			t.Fatalf("NormalizeAddress(%s) = %s, %v; go-ethereum says %s", strings.ToLower(addr.Hex()), got, err, addr.Hex())
		}
	}
}

// TestOfficialClientPaymentVerifies signs with the official x402 client
// (@x402/core + @x402/evm + viem from node_modules) and checks that the dev
// facilitator accepts and settles it.
func TestOfficialClientPaymentVerifies(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node is not installed; the official-client conformance check did not run")
	}
	if _, err := os.Stat("../../node_modules/@x402/evm/package.json"); err != nil {
		t.Skip("SKIPPED: node_modules/@x402/evm is missing (run npm ci); the official-client conformance check did not run")
	}
	req, err := x402.Resolve(x402.DefaultNetwork, "10000", goldenTo)
	if err != nil {
		t.Fatal(err)
	}
	pr := x402.PaymentRequired{X402Version: 2, Error: "Payment required", Resource: &x402.Resource{URL: "http://127.0.0.1:8787/demo/weather"}, Accepts: []x402.Requirements{req}}
	cmd := exec.Command(node, "testdata/x402_evm_sign.mjs")
	cmd.Stdin = strings.NewReader(mustJSON(pr))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var p x402.PaymentPayload
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("client output: %v\n%s", err, out)
	}
	const viemPayer = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8" // Anvil account #1
	f := newFacilitator(t, time.Now(), "")
	body := x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: req}
	if _, v := post(t, f, "/verify", body); v["isValid"] != true || v["payer"] != viemPayer {
		t.Fatalf("official client's payment: %v\n%s", v, out)
	}
	if _, s := post(t, f, "/settle", body); s["success"] != true {
		t.Fatalf("settle of the official client's payment: %v", s)
	}
	// And one changed byte of what viem signed breaks it.
	p.Payload.Authorization.Value = "10001"
	req.Amount = "10001"
	p.Accepted.Amount = "10001"
	if _, v := post(t, f, "/verify", x402.FacilitatorRequest{X402Version: 2, PaymentPayload: p, PaymentRequirements: req}); v["invalidReason"] != ReasonSignature {
		t.Errorf("tampered official payment: %v", v)
	}
}
