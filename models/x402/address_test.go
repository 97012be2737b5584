package x402

import (
	"errors"
	"strings"
	"testing"
)

// The checksummed vectors are the ones published in EIP-55, plus the two
// USDC contracts of the networks table.
var eip55Vectors = []string{
	"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
	"0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
	"0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
	"0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb",
	"0x52908400098527886E0F7030069857D2E4169EE7",
	"0x8617E340B3D01FA5F11F306F4090FD50E238070D",
	"0xde709f2102306220921060314715629080e2fb77",
	"0x27b1fdb04752bbc536007a920d24acb045561c26",
	"0x036CbD53842c5426634e7929541eC2318f3dCF7e",
	"0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
	"0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
}

func TestNormalizeAddress(t *testing.T) {
	for _, want := range eip55Vectors {
		for _, in := range []string{want, strings.ToLower(want), "0x" + strings.ToUpper(want[2:]), " " + want + "\n", "0X" + want[2:]} {
			got, err := NormalizeAddress(in)
			if err != nil || got != want {
				t.Errorf("NormalizeAddress(%q) = %q, %v; want %q", in, got, err, want)
			}
		}
	}
}

func TestNormalizeAddressWrongChecksum(t *testing.T) {
	for _, good := range eip55Vectors {
		b := []byte(good)
		flipped := false
		// Flip the case of one letter in a mixed-case address: it must be
		// refused, since that is exactly what a typo looks like.
		for i := 2; i < len(b) && !flipped; i++ {
			switch {
			case b[i] >= 'a' && b[i] <= 'f':
				b[i] -= 'a' - 'A'
				flipped = true
			case b[i] >= 'A' && b[i] <= 'F':
				b[i] += 'a' - 'A'
				flipped = true
			}
		}
		bad := string(b)
		if bad == strings.ToLower(bad) || "0x"+strings.ToUpper(bad[2:]) == bad {
			continue // became all-lower or all-upper: no checksum to check
		}
		_, err := NormalizeAddress(bad)
		if !errors.Is(err, ErrAddressChecksum) {
			t.Errorf("NormalizeAddress(%q) = %v, want ErrAddressChecksum", bad, err)
		}
	}
	if ErrAddressChecksum.Error() != "address checksum is wrong; paste the address exactly as your wallet shows it" {
		t.Errorf("message changed: %q", ErrAddressChecksum)
	}
}

func TestNormalizeAddressErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "must start with 0x"},
		{"209693Bc6afc0C5328bA36FaF03C514EF312287C", "must start with 0x"},
		{"0x209693Bc6afc0C5328bA36FaF03C514EF31228", "40 hex digits"},
		{"0x209693Bc6afc0C5328bA36FaF03C514EF312287C00", "40 hex digits"},
		{"0x209693bc6afc0c5328ba36faf03c514ef312287g", "not a hex digit"},
		{"0x0000000000000000000000000000000000000000", "zero address"},
		{"0x 209693Bc6afc0C5328bA36FaF03C514EF312287", "not a hex digit"},
		{"vitalik.eth", "must start with 0x"},
	}
	for _, tt := range tests {
		_, err := NormalizeAddress(tt.in)
		if !errors.Is(err, ErrInvalidAddress) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NormalizeAddress(%q) = %v, want ErrInvalidAddress saying %q", tt.in, err, tt.want)
		}
	}
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, v := range eip55Vectors {
		f.Add(v)
		f.Add(strings.ToLower(v))
	}
	f.Add("0x0000000000000000000000000000000000000000")
	f.Add("0xZZ")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeAddress(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidAddress) && !errors.Is(err, ErrAddressChecksum) {
				t.Fatalf("NormalizeAddress(%q): unexpected error kind %v", s, err)
			}
			return
		}
		if len(got) != 42 || !strings.HasPrefix(got, "0x") {
			t.Fatalf("NormalizeAddress(%q) = %q: not 0x + 40", s, got)
		}
		if !strings.EqualFold(got[2:], strings.TrimSpace(s)[2:]) {
			t.Fatalf("NormalizeAddress(%q) = %q: a different address", s, got)
		}
		// Normalizing is idempotent, and the lower-case form leads to the same.
		for _, in := range []string{got, strings.ToLower(got)} {
			if again, err := NormalizeAddress(in); err != nil || again != got {
				t.Fatalf("NormalizeAddress(%q) = %q, %v; want %q", in, again, err, got)
			}
		}
	})
}
