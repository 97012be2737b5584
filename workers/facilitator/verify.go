package facilitator

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/ethereum/go-ethereum/common"
)

// Reason codes. Those marked "reference" are the exact strings of the
// reference EVM facilitator (@x402/evm), so clients and the dispatcher can
// treat both facilitators alike; the others are 402claw's own, for cases
// the reference reports by throwing.
const (
	ReasonScheme           = "invalid_exact_evm_scheme"                               // reference
	ReasonNetworkMismatch  = "invalid_exact_evm_network_mismatch"                     // reference
	ReasonPayload          = "invalid_exact_evm_payload"                              // reference
	ReasonMissingDomain    = "invalid_exact_evm_missing_eip712_domain"                // reference
	ReasonSignature        = "invalid_exact_evm_signature"                            // reference
	ReasonRecipient        = "invalid_exact_evm_recipient_mismatch"                   // reference
	ReasonValidBefore      = "invalid_exact_evm_payload_authorization_valid_before"   // reference
	ReasonValidAfter       = "invalid_exact_evm_payload_authorization_valid_after"    // reference
	ReasonValueMismatch    = "invalid_exact_evm_payload_authorization_value_mismatch" // reference
	ReasonTokenName        = "invalid_exact_evm_token_name_mismatch"                  // reference
	ReasonTokenVersion     = "invalid_exact_evm_token_version_mismatch"               // reference
	ReasonAssetNotDeployed = "asset_not_deployed_contract"                            // reference
	ReasonNonceUsed        = "invalid_exact_evm_nonce_already_used"                   // reference
	ReasonVersion          = "invalid_x402_version"                                   // 402claw: only protocol v2 is spoken
	ReasonAssetMismatch    = "invalid_exact_evm_asset_mismatch"                       // 402claw: accepted.asset differs from the requirement's
	ReasonRequirements     = "invalid_payment_requirements"                           // 402claw: the resource server sent unreadable requirements
)

// validBeforeMargin is the reference facilitator's: an authorization that
// expires within 6 s could not be mined in time on a real chain.
const validBeforeMargin = 6

// wireRequirements reads a requirement leniently: the reference lets extra
// hold more than strings (assetTransferMethod, feature flags), and a
// well-formed payment must not be refused because of them.
type wireRequirements struct {
	Scheme            string         `json:"scheme"`
	Network           string         `json:"network"`
	Amount            string         `json:"amount"`
	Asset             string         `json:"asset"`
	PayTo             string         `json:"payTo"`
	MaxTimeoutSeconds int            `json:"maxTimeoutSeconds"`
	Extra             map[string]any `json:"extra"`
}

type wirePayload struct {
	X402Version int              `json:"x402Version"`
	Accepted    wireRequirements `json:"accepted"`
	Payload     struct {
		Signature     string             `json:"signature"`
		Authorization x402.Authorization `json:"authorization"`
	} `json:"payload"`
}

type wireRequest struct {
	X402Version         int             `json:"x402Version"`
	PaymentPayload      json.RawMessage `json:"paymentPayload"`
	PaymentRequirements json.RawMessage `json:"paymentRequirements"`
}

// checked is a payment that passed verification, with what settle needs.
type checked struct {
	network string
	payer   common.Address
	key     string // nonce store key
	nonce   [32]byte
}

// verify runs every check of the reference EVM facilitator, in its order
// (scheme, domain, network, signature, recipient, time window, value), then
// what a chain would check: that the asset is the network's USDC with that
// EIP-712 domain, and that the nonce is unused. Balances are not checked:
// there is no chain.
func (f *Facilitator) verify(req wireRequest, now time.Time) (x402.VerifyResponse, checked) {
	var p wirePayload
	if len(req.PaymentPayload) == 0 || json.Unmarshal(req.PaymentPayload, &p) != nil {
		return invalid(ReasonPayload, ""), checked{}
	}
	auth := p.Payload.Authorization
	payer := ""
	if common.IsHexAddress(auth.From) {
		payer = common.HexToAddress(auth.From).Hex()
	}
	var r wireRequirements
	if len(req.PaymentRequirements) == 0 || json.Unmarshal(req.PaymentRequirements, &r) != nil {
		return invalid(ReasonRequirements, payer), checked{}
	}
	if req.X402Version != x402.Version || p.X402Version != x402.Version {
		return invalid(ReasonVersion, payer), checked{}
	}
	a, sig, ok := parseAuthorization(auth, p.Payload.Signature)
	if !ok {
		return invalid(ReasonPayload, payer), checked{}
	}
	if p.Accepted.Scheme != x402.SchemeExact || r.Scheme != x402.SchemeExact {
		return invalid(ReasonScheme, payer), checked{}
	}
	name, _ := r.Extra["name"].(string)
	version, _ := r.Extra["version"].(string)
	if name == "" || version == "" {
		return invalid(ReasonMissingDomain, payer), checked{}
	}
	network, supported := f.networks[r.Network]
	if p.Accepted.Network != r.Network || !supported {
		return invalid(ReasonNetworkMismatch, payer), checked{}
	}
	if !common.IsHexAddress(r.Asset) || !common.IsHexAddress(r.PayTo) {
		return invalid(ReasonRequirements, payer), checked{}
	}
	asset := common.HexToAddress(r.Asset)
	if !common.IsHexAddress(p.Accepted.Asset) || common.HexToAddress(p.Accepted.Asset) != asset {
		return invalid(ReasonAssetMismatch, payer), checked{}
	}

	hash, err := digest(domain{Name: name, Version: version, ChainID: network.ChainID, Contract: asset}, a)
	if err != nil {
		return invalid(ReasonPayload, payer), checked{}
	}
	signer, err := recoverSigner(hash, sig)
	if err != nil || signer != a.From {
		return invalid(ReasonSignature, payer), checked{}
	}
	if a.To != common.HexToAddress(r.PayTo) {
		return invalid(ReasonRecipient, payer), checked{}
	}
	unix := now.Unix()
	if a.ValidBefore.Cmp(big.NewInt(unix+validBeforeMargin)) < 0 {
		return invalid(ReasonValidBefore, payer), checked{}
	}
	if a.ValidAfter.Cmp(big.NewInt(unix)) > 0 {
		return invalid(ReasonValidAfter, payer), checked{}
	}
	amount, ok := parseUint256(r.Amount)
	if !ok || a.Value.Cmp(amount) != 0 {
		return invalid(ReasonValueMismatch, payer), checked{}
	}

	// On a chain, these are what the transfer simulation finds out.
	if asset != common.HexToAddress(network.Asset) {
		return invalid(ReasonAssetNotDeployed, payer), checked{}
	}
	if name != network.EIP712Name {
		return invalid(ReasonTokenName, payer), checked{}
	}
	if version != network.EIP712Version {
		return invalid(ReasonTokenVersion, payer), checked{}
	}
	key := nonceKey(network.CAIP2, asset, a.From, a.Nonce)
	if f.nonces.isUsed(key) {
		return invalid(ReasonNonceUsed, payer), checked{}
	}
	return x402.VerifyResponse{IsValid: true, Payer: payer},
		checked{network: network.CAIP2, payer: a.From, key: key, nonce: a.Nonce}
}

func invalid(reason, payer string) x402.VerifyResponse {
	return x402.VerifyResponse{IsValid: false, InvalidReason: reason, Payer: payer}
}

func nonceKey(network string, asset, from common.Address, nonce [32]byte) string {
	return strings.ToLower(network + " " + asset.Hex() + " " + from.Hex() + " 0x" + hex.EncodeToString(nonce[:]))
}

// parseAuthorization checks the wire shape: addresses as 0x + 40 hex,
// numbers as decimal strings that fit uint256, the nonce as 0x + 64 hex and
// the signature as 0x + hex. Its length is left to the signature check, so
// a short signature is reported as a bad signature, as the reference does.
func parseAuthorization(w x402.Authorization, signature string) (authorization, []byte, bool) {
	var a authorization
	if !common.IsHexAddress(w.From) || !common.IsHexAddress(w.To) ||
		!strings.HasPrefix(w.From, "0x") || !strings.HasPrefix(w.To, "0x") {
		return a, nil, false
	}
	a.From, a.To = common.HexToAddress(w.From), common.HexToAddress(w.To)
	var ok1, ok2, ok3 bool
	a.Value, ok1 = parseUint256(w.Value)
	a.ValidAfter, ok2 = parseUint256(w.ValidAfter)
	a.ValidBefore, ok3 = parseUint256(w.ValidBefore)
	if !ok1 || !ok2 || !ok3 {
		return a, nil, false
	}
	nonceHex, ok := strings.CutPrefix(w.Nonce, "0x")
	if !ok || len(nonceHex) != 64 {
		return a, nil, false
	}
	if _, err := hex.Decode(a.Nonce[:], []byte(nonceHex)); err != nil {
		return a, nil, false
	}
	sigHex, ok := strings.CutPrefix(signature, "0x")
	if !ok || sigHex == "" || len(sigHex) > 1024 {
		return a, nil, false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil {
		return a, nil, false
	}
	return a, sig, true
}

var maxUint256 = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))

// parseUint256 reads a decimal string (the wire form of every authorization
// number); hex, signs and spaces are refused.
func parseUint256(s string) (*big.Int, bool) {
	if s == "" || len(s) > 78 {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return nil, false
		}
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Cmp(maxUint256) > 0 {
		return nil, false
	}
	return n, true
}
