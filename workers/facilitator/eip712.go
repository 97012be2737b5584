package facilitator

import (
	"crypto/ecdsa"
	"fmt"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/math"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// authorization is an EIP-3009 TransferWithAuthorization with its numbers
// parsed; the wire form (x402.Authorization) is all strings.
type authorization struct {
	From, To                common.Address
	Value                   *big.Int
	ValidAfter, ValidBefore *big.Int
	Nonce                   [32]byte
}

// domain is the token's EIP-712 domain. The x402 requirement carries name
// and version in extra, the chain id in its network, and the token contract
// as its asset.
type domain struct {
	Name, Version string
	ChainID       int64
	Contract      common.Address
}

var authorizationTypes = apitypes.Types{
	"EIP712Domain": {
		{Name: "name", Type: "string"},
		{Name: "version", Type: "string"},
		{Name: "chainId", Type: "uint256"},
		{Name: "verifyingContract", Type: "address"},
	},
	"TransferWithAuthorization": {
		{Name: "from", Type: "address"},
		{Name: "to", Type: "address"},
		{Name: "value", Type: "uint256"},
		{Name: "validAfter", Type: "uint256"},
		{Name: "validBefore", Type: "uint256"},
		{Name: "nonce", Type: "bytes32"},
	},
}

// digest is the EIP-712 hash that the payer signs.
func digest(d domain, a authorization) ([]byte, error) {
	td := apitypes.TypedData{
		Types:       authorizationTypes,
		PrimaryType: "TransferWithAuthorization",
		Domain: apitypes.TypedDataDomain{
			Name:              d.Name,
			Version:           d.Version,
			ChainId:           math.NewHexOrDecimal256(d.ChainID),
			VerifyingContract: d.Contract.Hex(),
		},
		Message: apitypes.TypedDataMessage{
			"from":        a.From.Hex(),
			"to":          a.To.Hex(),
			"value":       a.Value,
			"validAfter":  a.ValidAfter,
			"validBefore": a.ValidBefore,
			"nonce":       a.Nonce[:],
		},
	}
	hash, _, err := apitypes.TypedDataAndHash(td)
	if err != nil {
		return nil, fmt.Errorf("facilitator: unable to hash authorization: %w", err)
	}
	return hash, nil
}

// secp256k1HalfN is n/2: a signature with s above it is the malleable twin
// of a valid one, which Ethereum (EIP-2) and OpenZeppelin's ECDSA refuse.
var secp256k1HalfN = new(big.Int).Rsh(crypto.S256().Params().N, 1)

// recoverSigner returns the address that made sig over hash. sig is r‖s‖v
// with v 27/28 (what wallets produce) or 0/1 (raw recovery id).
func recoverSigner(hash, sig []byte) (common.Address, error) {
	if len(sig) != crypto.SignatureLength {
		return common.Address{}, fmt.Errorf("signature is %d bytes, want 65", len(sig))
	}
	s := new(big.Int).SetBytes(sig[32:64])
	if s.Cmp(secp256k1HalfN) > 0 {
		return common.Address{}, fmt.Errorf("signature has a high s value")
	}
	rs := make([]byte, 65)
	copy(rs, sig)
	switch v := sig[64]; v {
	case 27, 28:
		rs[64] = v - 27
	case 0, 1:
	default:
		return common.Address{}, fmt.Errorf("signature has v = %d, want 27 or 28", v)
	}
	r := new(big.Int).SetBytes(rs[:32])
	if !crypto.ValidateSignatureValues(rs[64], r, s, true) {
		return common.Address{}, fmt.Errorf("signature values are out of range")
	}
	pub, err := crypto.SigToPub(hash, rs)
	if err != nil {
		return common.Address{}, fmt.Errorf("unable to recover signer: %w", err)
	}
	return crypto.PubkeyToAddress(*pub), nil
}

// sign makes a wallet-style signature (v = 27/28) over hash.
func sign(hash []byte, key *ecdsa.PrivateKey) ([]byte, error) {
	sig, err := crypto.Sign(hash, key)
	if err != nil {
		return nil, fmt.Errorf("facilitator: unable to sign: %w", err)
	}
	sig[64] += 27
	return sig, nil
}
