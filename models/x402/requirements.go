package x402

import (
	"errors"
	"fmt"
	"strings"
)

// SchemeExact is the only payment scheme 402claw speaks: EIP-3009
// transferWithAuthorization of an exact amount.
const SchemeExact = "exact"

// DefaultMaxTimeoutSeconds is how long a client may take between the 402 and
// the paid retry, as in the reference examples.
const DefaultMaxTimeoutSeconds = 60

// ErrInvalidRequirements is wrapped by every error from Resolve.
var ErrInvalidRequirements = errors.New("invalid payment requirements")

// Requirements is one entry of a PaymentRequired "accepts" list, in the
// x402 v2 wire format. The dispatcher compares a client's "accepted" with it
// field by field, so the JSON names are exactly the protocol's.
type Requirements struct {
	Scheme            string            `json:"scheme"`
	Network           string            `json:"network"`
	Amount            string            `json:"amount"`
	Asset             string            `json:"asset"`
	PayTo             string            `json:"payTo"`
	MaxTimeoutSeconds int               `json:"maxTimeoutSeconds"`
	Extra             map[string]string `json:"extra"`
}

// Resolve builds the requirements of a priced route: the asset and the
// EIP-712 domain come from the networks table, never from the tenant.
// amountAtomic is what ParsePrice returned; payTo is normalized to EIP-55.
func Resolve(network, amountAtomic, payTo string) (Requirements, error) {
	n, ok := NetworkByCAIP2(network)
	if !ok {
		var ids []string
		for _, n := range networks {
			ids = append(ids, n.CAIP2+" ("+n.Name+")")
		}
		return Requirements{}, fmt.Errorf("%w: network %q is not supported (choose %s)", ErrInvalidRequirements, clip(network), strings.Join(ids, " or "))
	}
	if amountAtomic == "" || !allDigits(amountAtomic) || amountAtomic[0] == '0' || !fitsUint256(amountAtomic) {
		return Requirements{}, fmt.Errorf("%w: amount %q is not a positive whole number of atomic units", ErrInvalidRequirements, clip(amountAtomic))
	}
	addr, err := NormalizeAddress(payTo)
	if err != nil {
		return Requirements{}, fmt.Errorf("%w: pay-to address: %w", ErrInvalidRequirements, err)
	}
	return Requirements{
		Scheme:            SchemeExact,
		Network:           n.CAIP2,
		Amount:            amountAtomic,
		Asset:             n.Asset,
		PayTo:             addr,
		MaxTimeoutSeconds: DefaultMaxTimeoutSeconds,
		Extra:             map[string]string{"name": n.EIP712Name, "version": n.EIP712Version},
	}, nil
}

// maxUint256 is 2^256-1: an EIP-3009 value above it cannot be signed.
const maxUint256 = "115792089237316195423570985008687907853269984665640564039457584007913129639935"

// fitsUint256 compares decimal digit strings without leading zeros.
func fitsUint256(digits string) bool {
	return len(digits) < len(maxUint256) || len(digits) == len(maxUint256) && digits <= maxUint256
}
