package x402

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The x402 v2 wire types, exactly as the reference implementation spells
// them. They are plain data so the portal, the facilitator and the tests
// share one definition.

// Version is the protocol version 402claw speaks on the wire.
const Version = 2

// The HTTP headers of protocol v2; each value is EncodeHeader of a JSON
// document.
const (
	HeaderPaymentRequired  = "PAYMENT-REQUIRED"  // PaymentRequired, on a 402
	HeaderPaymentSignature = "PAYMENT-SIGNATURE" // PaymentPayload, on the paid retry
	HeaderPaymentResponse  = "PAYMENT-RESPONSE"  // SettlementResponse, on the answer
)

// Resource describes what is being paid for.
type Resource struct {
	URL         string `json:"url"`
	Description string `json:"description,omitempty"`
	MimeType    string `json:"mimeType,omitempty"`
}

// PaymentRequired is the server's challenge.
type PaymentRequired struct {
	X402Version int            `json:"x402Version"`
	Error       string         `json:"error,omitempty"`
	Resource    *Resource      `json:"resource,omitempty"`
	Accepts     []Requirements `json:"accepts"`
	Extensions  map[string]any `json:"extensions,omitempty"`
}

// Authorization is the EIP-3009 TransferWithAuthorization message. Every
// number is a decimal string and the nonce is 0x + 32 bytes of hex.
type Authorization struct {
	From        string `json:"from"`
	To          string `json:"to"`
	Value       string `json:"value"`
	ValidAfter  string `json:"validAfter"`
	ValidBefore string `json:"validBefore"`
	Nonce       string `json:"nonce"`
}

// ExactPayload is the scheme-specific part of an `exact` EVM payment.
type ExactPayload struct {
	Signature     string        `json:"signature"`
	Authorization Authorization `json:"authorization"`
}

// PaymentPayload is what a client sends back: the requirement it chose,
// copied, and its signed authorization.
type PaymentPayload struct {
	X402Version int            `json:"x402Version"`
	Resource    *Resource      `json:"resource,omitempty"`
	Accepted    Requirements   `json:"accepted"`
	Payload     ExactPayload   `json:"payload"`
	Extensions  map[string]any `json:"extensions,omitempty"`
}

// FacilitatorRequest is the body of POST /verify and POST /settle.
type FacilitatorRequest struct {
	X402Version         int            `json:"x402Version"`
	PaymentPayload      PaymentPayload `json:"paymentPayload"`
	PaymentRequirements Requirements   `json:"paymentRequirements"`
}

// VerifyResponse is the answer of POST /verify.
type VerifyResponse struct {
	IsValid       bool   `json:"isValid"`
	InvalidReason string `json:"invalidReason,omitempty"`
	Payer         string `json:"payer,omitempty"`
}

// SettlementResponse is the answer of POST /settle and the content of the
// PAYMENT-RESPONSE header. Simulated is 402claw's own field (the protocol
// allows extra fields): true when no chain was involved, as with the dev
// facilitator, so every place that shows a receipt can say so.
type SettlementResponse struct {
	Success     bool   `json:"success"`
	ErrorReason string `json:"errorReason,omitempty"`
	Transaction string `json:"transaction"`
	Network     string `json:"network"`
	Payer       string `json:"payer,omitempty"`
	Simulated   bool   `json:"simulated,omitempty"`
}

// SupportedKind is one entry of GET /supported.
type SupportedKind struct {
	X402Version int    `json:"x402Version"`
	Scheme      string `json:"scheme"`
	Network     string `json:"network"`
}

// SupportedResponse is the answer of GET /supported.
type SupportedResponse struct {
	Kinds      []SupportedKind     `json:"kinds"`
	Extensions []string            `json:"extensions"`
	Signers    map[string][]string `json:"signers"`
	Simulated  bool                `json:"simulated,omitempty"`
}

// maxHeaderLen bounds what DecodeHeader accepts; real headers are a few
// hundred bytes and proxies reject anything near 8 KB anyway.
const maxHeaderLen = 16 << 10

// EncodeHeader is the value of a PAYMENT-* header: standard base64 of the
// JSON document.
func EncodeHeader(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("x402: unable to encode header: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodeHeader reads a PAYMENT-* header into v. Padding may be missing:
// some clients strip it.
func DecodeHeader(s string, v any) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errors.New("x402: unable to decode header: it is empty")
	}
	if len(s) > maxHeaderLen {
		return fmt.Errorf("x402: unable to decode header: %d bytes is too long", len(s))
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil {
		return fmt.Errorf("x402: unable to decode header: not base64: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("x402: unable to decode header: %w", err)
	}
	return nil
}
