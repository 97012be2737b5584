// Package facilitator is 402claw's dev x402 facilitator for local mode: the
// facilitator API of protocol v2 (POST /verify, POST /settle,
// GET /supported) with every check of the reference EVM facilitator done
// offline with go-ethereum, a persistent nonce store, and SIMULATED
// settlement: no chain is involved, no token moves, and balances are not
// checked. Every settlement it returns says "simulated": true and carries a
// transaction hash that no chain has (see SimulatedTransaction).
package facilitator

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// Options configures a Facilitator.
type Options struct {
	// NoncePath is the file that keeps consumed nonces across restarts.
	// Empty keeps them in memory only, which suits tests and nothing else.
	NoncePath string
	// Now is the clock for the authorization's time window; nil is time.Now.
	Now func() time.Time
	// Networks are those the facilitator accepts; nil is every network of
	// x402.Networks(). Settlement is simulated on all of them, mainnet too:
	// the "simulated" mark, not the network, is what tells a dev payment.
	Networks []x402.Network
	// Behaviour adds latency and faults (CLAW_DEV_FACILITATOR_*); the zero
	// value answers at once and never fails.
	Behaviour Behaviour
}

// Facilitator is an http.Handler serving the facilitator API.
type Facilitator struct {
	now      func() time.Time
	networks map[string]x402.Network
	order    []string
	nonces   *nonceStore
	mux      *http.ServeMux
	behave   Behaviour
	pending  pendingSet
}

// maxBody bounds a request: a real one is about 1.5 KB.
const maxBody = 64 << 10

// New opens the nonce store and builds the handler. Close releases it.
func New(opts Options) (*Facilitator, error) {
	f := &Facilitator{now: opts.Now, networks: make(map[string]x402.Network), behave: opts.Behaviour}
	if f.behave.HangFor <= 0 {
		f.behave.HangFor = 30 * time.Second
	}
	if f.now == nil {
		f.now = time.Now
	}
	nets := opts.Networks
	if nets == nil {
		nets = x402.Networks()
	}
	for _, n := range nets {
		if _, dup := f.networks[n.CAIP2]; dup {
			return nil, fmt.Errorf("facilitator: network %s is listed twice", n.CAIP2)
		}
		if id, err := x402.ChainIDFromCAIP2(n.CAIP2); err != nil || id != n.ChainID {
			return nil, fmt.Errorf("facilitator: network %s does not match chain id %d", n.CAIP2, n.ChainID)
		}
		if !common.IsHexAddress(n.Asset) || n.EIP712Name == "" || n.EIP712Version == "" {
			return nil, fmt.Errorf("facilitator: network %s lacks its asset or EIP-712 domain", n.CAIP2)
		}
		f.networks[n.CAIP2] = n
		f.order = append(f.order, n.CAIP2)
	}
	store, err := openNonceStore(opts.NoncePath)
	if err != nil {
		return nil, err
	}
	f.nonces = store
	f.mux = http.NewServeMux()
	f.mux.HandleFunc("POST /verify", f.handleVerify)
	f.mux.HandleFunc("POST /settle", f.handleSettle)
	f.mux.HandleFunc("GET /supported", f.handleSupported)
	return f, nil
}

// Close closes the nonce store.
func (f *Facilitator) Close() error { return f.nonces.close() }

func (f *Facilitator) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

// SimulatedTransaction is the transaction hash the dev facilitator reports
// for a settled payment: keccak256 of
// "402claw-dev-facilitator:<network>:<payer, lower-case>:<nonce, lower-case 0x hex>".
// It is deterministic so that a receipt can be recognised as simulated by
// recomputing it, and it names no transaction on any chain.
func SimulatedTransaction(network, payer, nonce string) string {
	h := crypto.Keccak256([]byte("402claw-dev-facilitator:" + network + ":" + strings.ToLower(payer) + ":" + strings.ToLower(nonce)))
	return "0x" + hex.EncodeToString(h)
}

func (f *Facilitator) handleVerify(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest(w, r)
	if !ok {
		return
	}
	fault := f.behave.faultFor(paymentKey(req.PaymentPayload))
	if !f.wait(r, f.behave.VerifyDelay) {
		return
	}
	if fault == FaultServerError {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "facilitator: injected fault (5xx)"})
		return
	}
	resp, _ := f.verify(req, f.now())
	if resp.IsValid && fault == FaultInsufficientFunds {
		resp = x402.VerifyResponse{IsValid: false, InvalidReason: ReasonInsufficientFunds, Payer: resp.Payer}
	}
	writeJSON(w, http.StatusOK, resp)
}

// wait sleeps for d unless the caller goes away first (then false: nobody is listening).
func (f *Facilitator) wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// handleSettle verifies again (a settle is never trusted to follow a
// verify), then consumes the nonce; only the caller that consumed it gets
// success, however many settle the same payment at once.
func (f *Facilitator) handleSettle(w http.ResponseWriter, r *http.Request) {
	req, ok := readRequest(w, r)
	if !ok {
		return
	}
	key := paymentKey(req.PaymentPayload)
	fault := f.behave.faultFor(key)
	if !f.wait(r, f.behave.SettleDelay) {
		return
	}
	switch fault {
	case FaultServerError:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "facilitator: injected fault (5xx)"})
		return
	case FaultTimeout:
		if f.wait(r, f.behave.HangFor) {
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": "facilitator: injected fault (timeout)"})
		}
		return
	}
	network := acceptedNetwork(req.PaymentPayload)
	// A payment whose first settle answered settlement_pending is settled now: the same
	// transaction, confirmed (its nonce was consumed by that first settle).
	if tx, ok := f.pending.take(key); ok && key != "" {
		writeJSON(w, http.StatusOK, x402.SettlementResponse{Success: true, Transaction: tx, Network: network, Payer: payerOf(req), Simulated: true})
		return
	}
	v, c := f.verify(req, f.now())
	if !v.IsValid {
		writeJSON(w, http.StatusOK, x402.SettlementResponse{Success: false, ErrorReason: v.InvalidReason, Network: network, Payer: v.Payer, Simulated: true})
		return
	}
	if fault == FaultInsufficientFunds {
		writeJSON(w, http.StatusOK, x402.SettlementResponse{Success: false, ErrorReason: ReasonInsufficientFunds, Network: network, Payer: v.Payer, Simulated: true})
		return
	}
	won, err := f.nonces.consume(c.key)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, x402.SettlementResponse{Success: false, ErrorReason: "unexpected_settle_error", Network: network, Payer: v.Payer, Simulated: true})
		return
	}
	if !won {
		writeJSON(w, http.StatusOK, x402.SettlementResponse{Success: false, ErrorReason: ReasonNonceUsed, Network: network, Payer: v.Payer, Simulated: true})
		return
	}
	tx := SimulatedTransaction(c.network, c.payer.Hex(), "0x"+hex.EncodeToString(c.nonce[:]))
	if fault == FaultPending {
		f.pending.put(key, tx)
		writeJSON(w, http.StatusOK, x402.SettlementResponse{Success: false, ErrorReason: ReasonPending, Transaction: tx, Network: c.network, Payer: v.Payer, Simulated: true})
		return
	}
	writeJSON(w, http.StatusOK, x402.SettlementResponse{Success: true, Transaction: tx, Network: c.network, Payer: v.Payer, Simulated: true})
}

// payerOf is the payer a payment names (a pending settlement being completed: the first settle
// verified it and consumed its nonce).
func payerOf(req wireRequest) string {
	var p wirePayload
	_ = json.Unmarshal(req.PaymentPayload, &p)
	return p.Payload.Authorization.From
}

// paymentKey identifies a payment for fault choice and pending settlements: network, payer
// and nonce, lower-case ("" when the payload does not say).
func paymentKey(raw json.RawMessage) string {
	var p wirePayload
	if json.Unmarshal(raw, &p) != nil || p.Payload.Authorization.Nonce == "" {
		return ""
	}
	return strings.ToLower(p.Accepted.Network + "|" + p.Payload.Authorization.From + "|" + p.Payload.Authorization.Nonce)
}

func (f *Facilitator) handleSupported(w http.ResponseWriter, _ *http.Request) {
	resp := x402.SupportedResponse{
		Extensions: []string{},
		// The dev facilitator sends no transactions, so it has no signer.
		Signers:   map[string][]string{"eip155:*": {}},
		Simulated: true,
	}
	for _, id := range f.order {
		resp.Kinds = append(resp.Kinds, x402.SupportedKind{X402Version: x402.Version, Scheme: x402.SchemeExact, Network: id})
	}
	writeJSON(w, http.StatusOK, resp)
}

// readRequest answers 400 itself when the body is not a JSON object; any
// other problem is a verify result, with 200, as the real facilitators do.
func readRequest(w http.ResponseWriter, r *http.Request) (wireRequest, bool) {
	var req wireRequest
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		msg := "facilitator: unable to read request: body is not a JSON object"
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			msg = fmt.Sprintf("facilitator: unable to read request: body is over %d bytes", maxBody)
		}
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg})
		return req, false
	}
	return req, true
}

// acceptedNetwork is what a failed settlement reports as its network: the
// one the payer chose, as the reference does, even when it is unsupported.
func acceptedNetwork(raw json.RawMessage) string {
	var p struct {
		Accepted struct {
			Network string `json:"network"`
		} `json:"accepted"`
	}
	_ = json.Unmarshal(raw, &p)
	return p.Accepted.Network
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
