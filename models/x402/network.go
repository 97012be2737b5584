package x402

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DefaultNetwork is Base Sepolia: new routes are priced on a testnet until the
// tenant chooses mainnet on purpose.
const DefaultNetwork = "eip155:84532"

// Network is one chain on which 402claw accepts USDC payments, with the token
// contract and its EIP-712 domain. Tenants never type these fields: a wrong
// domain name is the most common real-world settle failure, so the portal
// fills them from this table.
type Network struct {
	Name          string
	CAIP2         string
	ChainID       int64
	Asset         string // USDC contract, EIP-55
	EIP712Name    string
	EIP712Version string
	Decimals      int
	Testnet       bool
	Explorer      string // block explorer origin; transactions are Explorer + "/tx/" + hash
}

// The two EIP-712 names really differ ("USDC" on Base Sepolia, "USD Coin" on
// Base); see the reference table.
var networks = []Network{
	{
		Name:          "Base Sepolia",
		CAIP2:         "eip155:84532",
		ChainID:       84532,
		Asset:         "0x036CbD53842c5426634e7929541eC2318f3dCF7e",
		EIP712Name:    "USDC",
		EIP712Version: "2",
		Decimals:      6,
		Testnet:       true,
		Explorer:      "https://sepolia.basescan.org",
	},
	{
		Name:          "Base",
		CAIP2:         "eip155:8453",
		ChainID:       8453,
		Asset:         "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
		EIP712Name:    "USD Coin",
		EIP712Version: "2",
		Decimals:      6,
		Testnet:       false,
		Explorer:      "https://basescan.org",
	},
}

// Networks returns the supported networks, the default (Base Sepolia) first.
// The slice is a copy: callers may not change the table.
func Networks() []Network {
	out := make([]Network, len(networks))
	copy(out, networks)
	return out
}

// NetworkByCAIP2 finds a supported network by its CAIP-2 id ("eip155:84532").
func NetworkByCAIP2(id string) (Network, bool) {
	for _, n := range networks {
		if n.CAIP2 == id {
			return n, true
		}
	}
	return Network{}, false
}

// TxURL links a transaction on the network's block explorer: "" for a network not in the table
// and for anything that is not a 0x hex hash (a simulated settlement's id, a facilitator's
// odd answer), so a link never carries text from elsewhere.
func TxURL(network, tx string) string {
	n, ok := NetworkByCAIP2(network)
	if !ok || n.Explorer == "" || !txHash.MatchString(tx) {
		return ""
	}
	return n.Explorer + "/tx/" + tx
}

var txHash = regexp.MustCompile(`^0x[0-9a-fA-F]{1,128}$`)

// ChainIDFromCAIP2 reads N from "eip155:N". It is used for networks that are
// not in the table too (the facilitator reports them as unsupported, but must
// still be able to read them).
func ChainIDFromCAIP2(id string) (int64, error) {
	rest, ok := strings.CutPrefix(id, "eip155:")
	if !ok {
		return 0, fmt.Errorf("x402: network %q is not an EVM network (want eip155:<chain id>)", id)
	}
	if rest == "" || rest[0] == '0' || len(rest) > 18 {
		return 0, fmt.Errorf("x402: network %q has no valid chain id", id)
	}
	n, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("x402: network %q has no valid chain id", id)
	}
	return n, nil
}
