package facilitator

import (
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"time"

	"github.com/402claw/402claw/models/x402"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// devWalletKey is account #0 of the Hardhat and Anvil test mnemonic
// ("test test … junk"). Its key is printed in countless tutorials, so
// anything sent to it on a real chain is swept by bots within seconds: it is
// for local mode, tests and the portal's "try it" button only.
const devWalletKey = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"

// DevWalletAddress is the address of DevWallet.
const DevWalletAddress = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"

// DevWallet returns the fixed, public, TEST-ONLY key that local mode pays
// with, and its EIP-55 address.
func DevWallet() (*ecdsa.PrivateKey, string) {
	key, err := crypto.HexToECDSA(devWalletKey)
	if err != nil {
		panic("facilitator: dev wallet key does not parse: " + err.Error())
	}
	return key, crypto.PubkeyToAddress(key.PublicKey).Hex()
}

// NewNonce returns 32 random bytes, the EIP-3009 nonce of a new payment.
func NewNonce() ([32]byte, error) {
	var n [32]byte
	if _, err := rand.Read(n[:]); err != nil {
		return n, fmt.Errorf("facilitator: unable to make a nonce: %w", err)
	}
	return n, nil
}

// SignPayment pays req with key, as an x402 v2 client does: it signs an
// EIP-3009 TransferWithAuthorization of req.Amount to req.PayTo over the
// EIP-712 domain in req (extra.name, extra.version, the network's chain id,
// the asset), and copies req as the accepted requirement. resource may be
// nil.
func SignPayment(key *ecdsa.PrivateKey, req x402.Requirements, resource *x402.Resource, validAfter, validBefore time.Time, nonce [32]byte) (x402.PaymentPayload, error) {
	chainID, err := x402.ChainIDFromCAIP2(req.Network)
	if err != nil {
		return x402.PaymentPayload{}, fmt.Errorf("facilitator: unable to sign payment: %w", err)
	}
	name, version := req.Extra["name"], req.Extra["version"]
	if name == "" || version == "" {
		return x402.PaymentPayload{}, fmt.Errorf("facilitator: unable to sign payment: requirement has no EIP-712 name and version in extra")
	}
	if !common.IsHexAddress(req.Asset) || !common.IsHexAddress(req.PayTo) {
		return x402.PaymentPayload{}, fmt.Errorf("facilitator: unable to sign payment: asset %q or payTo %q is not an address", req.Asset, req.PayTo)
	}
	value, ok := parseUint256(req.Amount)
	if !ok {
		return x402.PaymentPayload{}, fmt.Errorf("facilitator: unable to sign payment: amount %q is not a decimal uint256", req.Amount)
	}
	if validAfter.Unix() < 0 || validBefore.Unix() < 0 {
		return x402.PaymentPayload{}, fmt.Errorf("facilitator: unable to sign payment: validity window before 1970")
	}
	a := authorization{
		From:        crypto.PubkeyToAddress(key.PublicKey),
		To:          common.HexToAddress(req.PayTo),
		Value:       value,
		ValidAfter:  big.NewInt(validAfter.Unix()),
		ValidBefore: big.NewInt(validBefore.Unix()),
		Nonce:       nonce,
	}
	hash, err := digest(domain{Name: name, Version: version, ChainID: chainID, Contract: common.HexToAddress(req.Asset)}, a)
	if err != nil {
		return x402.PaymentPayload{}, err
	}
	sig, err := sign(hash, key)
	if err != nil {
		return x402.PaymentPayload{}, err
	}
	return x402.PaymentPayload{
		X402Version: x402.Version,
		Resource:    resource,
		Accepted:    req,
		Payload: x402.ExactPayload{
			Signature: "0x" + hex.EncodeToString(sig),
			Authorization: x402.Authorization{
				From:        a.From.Hex(),
				To:          a.To.Hex(),
				Value:       value.String(),
				ValidAfter:  strconv.FormatInt(validAfter.Unix(), 10),
				ValidBefore: strconv.FormatInt(validBefore.Unix(), 10),
				Nonce:       "0x" + hex.EncodeToString(nonce[:]),
			},
		},
	}, nil
}
