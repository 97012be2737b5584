package x402

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidPrice is wrapped by every error from ParsePrice, so callers can
// tell a tenant's typo from a programming error.
var ErrInvalidPrice = errors.New("invalid price")

// maxPriceLen bounds the input before any work is done. 40 characters cover
// "$1,000,000,000.000001 USDC" with room to spare, and keep the atomic amount
// far below 2^256, the ceiling of an EIP-3009 value.
const maxPriceLen = 40

// maxDecimals bounds the decimals argument; USDC has 6, 18 is the ERC-20
// maximum in practice.
const maxDecimals = 36

// ParsePrice turns a price as a tenant writes it into atomic token units,
// using string arithmetic only: a float would turn "0.3" into
// 299999.99999999997 atomic units.
//
// Accepted forms (surrounding spaces ignored):
//
//	"1", "0.001", ".5", "$0.001", "0.5 USDC", "0.5usdc", "$1,000.50"
//
// Commas are accepted only as thousands separators in groups of three
// ("1,000.50"); "1,5" is refused because half the world writes it for 1.5.
// More decimal places than the token has is an error, not a silent rounding,
// except for trailing zeros ("0.0100000" is exactly 0.01). The result is at
// least 1 atomic unit: a free route should be public, not priced at zero.
// Signs, exponents ("1e-3"), NaN and Infinity are refused.
func ParsePrice(s string, decimals int) (string, error) {
	if decimals < 0 || decimals > maxDecimals {
		return "", fmt.Errorf("%w: %d decimals is not a token precision", ErrInvalidPrice, decimals)
	}
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: the price is empty; write it like $0.01", ErrInvalidPrice)
	}
	if len(s) > maxPriceLen {
		return "", fmt.Errorf("%w: the price is too long (%d characters, at most %d)", ErrInvalidPrice, len(s), maxPriceLen)
	}
	s = strings.TrimPrefix(s, "$")
	if len(s) >= 4 && strings.EqualFold(s[len(s)-4:], "usdc") {
		s = strings.TrimSpace(s[:len(s)-4])
	}
	if s == "" {
		return "", fmt.Errorf("%w: %q has no amount; write it like $0.01", ErrInvalidPrice, orig)
	}
	switch {
	case s[0] == '-':
		return "", fmt.Errorf("%w: %q is negative", ErrInvalidPrice, orig)
	case s[0] == '+':
		return "", fmt.Errorf("%w: %q has a sign; write the amount alone, like 0.01", ErrInvalidPrice, orig)
	case strings.ContainsAny(s, "eE") && strings.IndexFunc(s, isDigit) >= 0 && !strings.ContainsFunc(s, isOtherLetter):
		return "", fmt.Errorf("%w: %q uses an exponent; write the amount in full, like 0.001", ErrInvalidPrice, orig)
	}

	intPart, frac, _ := strings.Cut(s, ".")
	if strings.Contains(frac, ".") {
		return "", fmt.Errorf("%w: %q has more than one decimal point", ErrInvalidPrice, orig)
	}
	if strings.Contains(intPart, ",") {
		var ok bool
		intPart, ok = stripThousands(intPart)
		if !ok {
			return "", fmt.Errorf("%w: %q: commas are only allowed between groups of three digits (1,000.50); use a dot for decimals", ErrInvalidPrice, orig)
		}
	}
	if !allDigits(intPart) || !allDigits(frac) || (intPart == "" && frac == "") {
		return "", fmt.Errorf("%w: %q is not an amount; write it like $0.01, 0.5 USDC or 2", ErrInvalidPrice, orig)
	}

	// Trailing zeros beyond the token's precision change nothing; any other
	// digit there would have to be rounded, and money is not rounded silently.
	frac = strings.TrimRight(frac, "0")
	if len(frac) > decimals {
		return "", fmt.Errorf("%w: %q has more decimal places than the token's %d", ErrInvalidPrice, orig, decimals)
	}
	atomic := strings.TrimLeft(intPart+frac+strings.Repeat("0", decimals-len(frac)), "0")
	if atomic == "" {
		return "", fmt.Errorf("%w: %q is zero; the smallest price is %s (make the route public to give it away)", ErrInvalidPrice, orig, FormatAmount("1", decimals))
	}
	return atomic, nil
}

// FormatAmount writes an atomic amount as a decimal number of tokens without
// trailing zeros: ("10000", 6) → "0.01", ("1000000", 6) → "1". Input that is
// not a string of digits is returned unchanged, so a display never hides a
// corrupt value behind a plausible number.
func FormatAmount(atomic string, decimals int) string {
	if atomic == "" || !allDigits(atomic) || decimals < 0 || decimals > maxDecimals {
		return atomic
	}
	a := strings.TrimLeft(atomic, "0")
	if len(a) <= decimals {
		a = strings.Repeat("0", decimals-len(a)+1) + a
	}
	intPart, frac := a[:len(a)-decimals], strings.TrimRight(a[len(a)-decimals:], "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}

// stripThousands removes commas from "1,000,000" and reports whether every
// group after the first has exactly three digits.
func stripThousands(s string) (string, bool) {
	groups := strings.Split(s, ",")
	if len(groups[0]) == 0 || len(groups[0]) > 3 {
		return "", false
	}
	for _, g := range groups[1:] {
		if len(g) != 3 {
			return "", false
		}
	}
	return strings.Join(groups, ""), true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// isOtherLetter tells an exponent ("1e3") from a word that merely contains an
// e ("free"), so each gets the message that helps.
func isOtherLetter(r rune) bool {
	return (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') && r != 'e' && r != 'E'
}
