package x402

import (
	"errors"
	"strings"
	"testing"
)

func TestParsePrice(t *testing.T) {
	tests := []struct {
		in       string
		decimals int
		want     string
	}{
		{"$0.01", 6, "10000"},
		{"0.001", 6, "1000"},
		{"$0.001", 6, "1000"},
		{"0.5 USDC", 6, "500000"},
		{"0.5usdc", 6, "500000"},
		{"0.5 UsDc", 6, "500000"},
		{"1", 6, "1000000"},
		{"  2  ", 6, "2000000"},
		{".5", 6, "500000"},
		{"5.", 6, "5000000"},
		{"0.000001", 6, "1"},
		{"$0.0100000", 6, "10000"},
		{"007.25", 6, "7250000"},
		{"$1,000.50", 6, "1000500000"},
		{"1,234,567", 6, "1234567000000"},
		{"0.3", 6, "300000"}, // 0.3 is not exact in binary floating point
		{"1.1", 6, "1100000"},
		{"123456789.123456", 6, "123456789123456"},
		{"1", 0, "1"},
		{"1.000000000000000001", 18, "1000000000000000001"},
		{"$1 USDC", 6, "1000000"},
	}
	for _, tt := range tests {
		got, err := ParsePrice(tt.in, tt.decimals)
		if err != nil || got != tt.want {
			t.Errorf("ParsePrice(%q, %d) = %q, %v; want %q", tt.in, tt.decimals, got, err, tt.want)
		}
	}
}

func TestParsePriceErrors(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"$", "no amount"},
		{"USDC", "no amount"},
		{"-1", "negative"},
		{"$-0.01", "negative"},
		{"+1", "sign"},
		{"0", "zero"},
		{"0.0000000", "zero"},
		{"$0", "zero"},
		{"0.0000001", "more decimal places"},
		{"0.0000015", "more decimal places"},
		{"1e-3", "exponent"},
		{"1E3", "exponent"},
		{"1.5e2", "exponent"},
		{"NaN", "not an amount"},
		{"Infinity", "not an amount"},
		{"free", "not an amount"},
		{"1.2.3", "more than one decimal point"},
		{"1,5", "commas"},
		{"1,00", "commas"},
		{",100", "commas"},
		{"1000,000", "commas"},
		{"0.001,5", "not an amount"},
		{"€1", "not an amount"},
		{"1 EUR", "not an amount"},
		{"0x10", "not an amount"},
		{"1 000", "not an amount"},
		{".", "not an amount"},
		{"１", "not an amount"}, // full-width digit
		{strings.Repeat("1", 41), "too long"},
	}
	for _, tt := range tests {
		got, err := ParsePrice(tt.in, 6)
		if err == nil {
			t.Errorf("ParsePrice(%q) = %q, want an error", tt.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidPrice) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePrice(%q) error = %q, want ErrInvalidPrice saying %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParsePrice("1", -1); err == nil {
		t.Error("negative decimals accepted")
	}
	if _, err := ParsePrice("1", 99); err == nil {
		t.Error("99 decimals accepted")
	}
}

func TestFormatAmount(t *testing.T) {
	tests := []struct {
		atomic   string
		decimals int
		want     string
	}{
		{"10000", 6, "0.01"},
		{"1000000", 6, "1"},
		{"1", 6, "0.000001"},
		{"1500000", 6, "1.5"},
		{"123456789123456", 6, "123456789.123456"},
		{"0", 6, "0"},
		{"000010000", 6, "0.01"},
		{"42", 0, "42"},
		{"1000000000000000001", 18, "1.000000000000000001"},
		{"", 6, ""},
		{"12a", 6, "12a"},
		{"-5", 6, "-5"},
	}
	for _, tt := range tests {
		if got := FormatAmount(tt.atomic, tt.decimals); got != tt.want {
			t.Errorf("FormatAmount(%q, %d) = %q, want %q", tt.atomic, tt.decimals, got, tt.want)
		}
	}
}

func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{"$0.01", "0.5 USDC", "1", "$1,000.50", "0.0000001", "1e3", "-1", ".5", "5.", "007", "0.3"} {
		f.Add(s, 6)
	}
	f.Add("1.000000000000000001", 18)
	f.Add("1", 0)
	f.Fuzz(func(t *testing.T, s string, decimals int) {
		decimals %= 40
		atomic, err := ParsePrice(s, decimals)
		if err != nil {
			if !errors.Is(err, ErrInvalidPrice) {
				t.Fatalf("ParsePrice(%q, %d): error does not wrap ErrInvalidPrice: %v", s, decimals, err)
			}
			return
		}
		if atomic == "" || !allDigits(atomic) || atomic[0] == '0' || !fitsUint256(atomic) {
			t.Fatalf("ParsePrice(%q, %d) = %q: not a positive atomic amount", s, decimals, atomic)
		}
		shown := FormatAmount(atomic, decimals)
		again, err := ParsePrice(shown, decimals)
		if err != nil || again != atomic {
			t.Fatalf("round trip %q → %q → %q → %q, %v", s, atomic, shown, again, err)
		}
		if strings.HasSuffix(shown, "0") && strings.Contains(shown, ".") || strings.HasSuffix(shown, ".") {
			t.Fatalf("FormatAmount(%q, %d) = %q has trailing zeros or dot", atomic, decimals, shown)
		}
	})
}
