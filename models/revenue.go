package models

import "github.com/402claw/402claw/models/x402"

// RevenueDecimals are those of the usage rollups' revenue: every network 402claw prices on
// settles USDC, which has 6 decimals.
const RevenueDecimals = 6

// FormatRevenue writes an atomic revenue amount of the rollups as a decimal ("0.01"), so the
// portal's pages format money without knowing the x402 tables.
func FormatRevenue(atomic string) string {
	return x402.FormatAmount(atomic, RevenueDecimals)
}
