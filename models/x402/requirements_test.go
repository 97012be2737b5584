package x402

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestNetworks(t *testing.T) {
	ns := Networks()
	if len(ns) != 2 || ns[0].CAIP2 != DefaultNetwork {
		t.Fatalf("Networks() = %+v, want Base Sepolia first", ns)
	}
	ns[0].Asset = "changed"
	if again, _ := NetworkByCAIP2(DefaultNetwork); again.Asset == "changed" {
		t.Fatal("Networks() handed out the table itself")
	}
	tests := []struct {
		id, asset, name string
		chain           int64
		testnet         bool
	}{
		{"eip155:84532", "0x036CbD53842c5426634e7929541eC2318f3dCF7e", "USDC", 84532, true},
		{"eip155:8453", "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USD Coin", 8453, false},
	}
	for _, tt := range tests {
		n, ok := NetworkByCAIP2(tt.id)
		if !ok || n.Asset != tt.asset || n.EIP712Name != tt.name || n.EIP712Version != "2" || n.ChainID != tt.chain || n.Decimals != 6 || n.Testnet != tt.testnet {
			t.Errorf("NetworkByCAIP2(%q) = %+v, %v", tt.id, n, ok)
		}
		if got, err := NormalizeAddress(n.Asset); err != nil || got != n.Asset {
			t.Errorf("asset %q of %s is not EIP-55: %q, %v", n.Asset, tt.id, got, err)
		}
		if id, err := ChainIDFromCAIP2(tt.id); err != nil || id != tt.chain {
			t.Errorf("ChainIDFromCAIP2(%q) = %d, %v", tt.id, id, err)
		}
	}
	if _, ok := NetworkByCAIP2("eip155:1"); ok {
		t.Error("Ethereum mainnet is not in the table")
	}
	for _, bad := range []string{"", "eip155:", "eip155:0", "eip155:01", "eip155:-1", "solana:5eykt", "eip155:99999999999999999999"} {
		if _, err := ChainIDFromCAIP2(bad); err == nil {
			t.Errorf("ChainIDFromCAIP2(%q) accepted", bad)
		}
	}
}

func TestResolve(t *testing.T) {
	r, err := Resolve("eip155:84532", "10000", "0x209693bc6afc0c5328ba36faf03c514ef312287c")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	// The exact entry of the reference PaymentRequired example.
	want := `{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":60,"extra":{"name":"USDC","version":"2"}}`
	if string(b) != want {
		t.Errorf("Resolve JSON =\n%s\nwant\n%s", b, want)
	}
	r, err = Resolve("eip155:8453", "1", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	if err != nil || r.Extra["name"] != "USD Coin" || r.Asset != "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913" {
		t.Errorf("Resolve(Base) = %+v, %v", r, err)
	}

	tests := []struct{ network, amount, payTo, want string }{
		{"eip155:1", "1", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "not supported"},
		{"", "1", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "not supported"},
		{DefaultNetwork, "0", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "positive whole number"},
		{DefaultNetwork, "010", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "positive whole number"},
		{DefaultNetwork, "0.01", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "positive whole number"},
		{DefaultNetwork, "", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "positive whole number"},
		{DefaultNetwork, maxUint256[:77] + "6", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C", "positive whole number"},
		{DefaultNetwork, "1", "0x209693Bc6afc0C5328bA36FaF03C514EF312287c", "checksum"},
		{DefaultNetwork, "1", "0x0000000000000000000000000000000000000000", "zero address"},
	}
	for _, tt := range tests {
		_, err := Resolve(tt.network, tt.amount, tt.payTo)
		if !errors.Is(err, ErrInvalidRequirements) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Resolve(%q, %q, %q) = %v, want an error saying %q", tt.network, tt.amount, tt.payTo, err, tt.want)
		}
	}
	if _, err := Resolve(DefaultNetwork, maxUint256, "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"); err != nil {
		t.Errorf("2^256-1 refused: %v", err)
	}
}

func TestHeaders(t *testing.T) {
	r, _ := Resolve(DefaultNetwork, "10000", "0x209693Bc6afc0C5328bA36FaF03C514EF312287C")
	pr := PaymentRequired{X402Version: Version, Error: "Payment required", Resource: &Resource{URL: "https://weather.example.com/forecast"}, Accepts: []Requirements{r}}
	h, err := EncodeHeader(pr)
	if err != nil {
		t.Fatal(err)
	}
	var back PaymentRequired
	if err := DecodeHeader(h, &back); err != nil {
		t.Fatal(err)
	}
	if back.Accepts[0].PayTo != r.PayTo || back.Resource.URL != pr.Resource.URL || back.X402Version != 2 {
		t.Errorf("round trip lost data: %+v", back)
	}
	if err := DecodeHeader(strings.TrimRight(h, "="), &back); err != nil {
		t.Errorf("unpadded header refused: %v", err)
	}
	for _, bad := range []string{"", "!!!", "bm90IGpzb24=", strings.Repeat("A", 20000)} {
		if err := DecodeHeader(bad, &back); err == nil {
			t.Errorf("DecodeHeader(%.20q) accepted", bad)
		}
	}
}
