package x402

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/sha3"
)

// ErrInvalidAddress is wrapped by every error from NormalizeAddress.
var ErrInvalidAddress = errors.New("invalid address")

// ErrAddressChecksum says a mixed-case address does not match its EIP-55
// checksum: one character was mistyped, so money would go nowhere.
var ErrAddressChecksum = errors.New("address checksum is wrong; paste the address exactly as your wallet shows it")

// NormalizeAddress checks an EVM address and returns it in EIP-55 form.
// An all-lower or all-upper address carries no checksum and is accepted;
// a mixed-case one must match its checksum. The zero address is refused:
// tokens sent there are burnt.
func NormalizeAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	hexPart, ok := strings.CutPrefix(s, "0x")
	if !ok {
		hexPart, ok = strings.CutPrefix(s, "0X")
	}
	if !ok {
		return "", fmt.Errorf("%w: %q must start with 0x", ErrInvalidAddress, clip(s))
	}
	if len(hexPart) != 40 {
		return "", fmt.Errorf("%w: %q must be 0x followed by 40 hex digits, it has %d", ErrInvalidAddress, clip(s), len(hexPart))
	}
	raw, err := hex.DecodeString(hexPart)
	if err != nil {
		return "", fmt.Errorf("%w: %q has a character that is not a hex digit", ErrInvalidAddress, clip(s))
	}
	if allZero(raw) {
		return "", fmt.Errorf("%w: the zero address burns whatever is sent to it", ErrInvalidAddress)
	}
	sum := checksum(strings.ToLower(hexPart))
	lower, upper := strings.ToLower(hexPart), strings.ToUpper(hexPart)
	if hexPart != lower && hexPart != upper && "0x"+hexPart != sum {
		return "", ErrAddressChecksum
	}
	return sum, nil
}

// checksum applies EIP-55 to 40 lower-case hex digits: a letter is upper-case
// where the matching nibble of keccak256(lowercase hex) is 8 or more.
func checksum(lowerHex string) string {
	h := sha3.NewLegacyKeccak256()
	h.Write([]byte(lowerHex))
	digest := h.Sum(nil)
	out := []byte("0x" + lowerHex)
	for i := 0; i < 40; i++ {
		c := out[i+2]
		if c < 'a' {
			continue
		}
		nibble := digest[i/2]
		if i%2 == 0 {
			nibble >>= 4
		}
		if nibble&0x0f >= 8 {
			out[i+2] = c - 'a' + 'A'
		}
	}
	return string(out)
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// clip keeps an echoed input short: error messages are shown in pages and
// logs, and the input may be anything a tenant pasted.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
