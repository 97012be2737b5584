package views

import "github.com/402claw/402claw/models"

// The types below are views' own copies of what the portal shows from the build and the diff
// engines (workers/bundle): handlers convert (web/viewmodels.go), so views imports nothing that
// runs at or builds for the edge.

// Problem is one thing wrong with a save, as the editor shows it.
type Problem struct {
	File    string // as uploaded; "" when the problem is about the whole upload
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based, in characters; 0 when unknown
	Message string // in words a tenant can act on
	Kind    string // the machine name (too_large, bad_name, syntax, …)
}

// FileDiff is one file of a diff between two versions.
type FileDiff struct {
	Name   string
	Status string // added, removed, modified or unchanged
	Hunks  []DiffHunk
}

// DiffHunk is one "@@ -OldStart,OldLines +NewStart,NewLines @@" block.
type DiffHunk struct {
	OldStart, OldLines int
	NewStart, NewLines int
	Lines              []DiffLine
}

// DiffLine is one line of a hunk.
type DiffLine struct {
	Kind  byte // '+' added, '-' removed, ' ' context
	Text  string
	OldNo int // 0 for an added line
	NewNo int // 0 for a removed line
}

// Network is a network tenants can price on, as the portal shows it (web builds it from
// models/x402's table).
type Network struct {
	Name, CAIP2               string
	Asset                     string // the USDC contract
	EIP712Name, EIP712Version string
	Testnet                   bool
	Default                   bool // preselected in the route editors
}

// RouteRow is one route of the routes table, with what the handler worked out for display.
type RouteRow struct {
	models.Route
	PriceLabel  string // "0.01 USDC", or the atomic amount on a network outside the table
	NetworkName string // the network's name, or its CAIP-2 id when unknown
}

// PaymentRow is one ledger row with its amount and explorer link worked out.
type PaymentRow struct {
	models.Payment
	AmountLabel string // "0.01 USDC", "123 atomic units" off the table, "" for none
	NetworkName string
	TxURL       string // the block explorer page of a real settlement, "" otherwise
}

// RevenueRow is one route's revenue with its amount worked out.
type RevenueRow struct {
	models.RouteRevenue
	AmountLabel string
	NetworkName string
}
