package web

import (
	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/workers/bundle"
)

// Handlers give views small structs of their own (views imports neither workers nor
// models/x402); the conversions from the engines' types live here.

// viewProblems converts the build's problems for the editor.
func viewProblems(ps []bundle.Problem) []views.Problem {
	if ps == nil {
		return nil
	}
	out := make([]views.Problem, len(ps))
	for i, p := range ps {
		out[i] = viewProblem(p)
	}
	return out
}

func viewProblem(p bundle.Problem) views.Problem {
	return views.Problem{File: p.File, Line: p.Line, Column: p.Column, Message: p.Message, Kind: p.Kind}
}

// viewDiff compares the sources of two versions for the diff view.
func viewDiff(oldFiles, newFiles map[string]string) []views.FileDiff {
	files := bundle.Diff(oldFiles, newFiles)
	out := make([]views.FileDiff, len(files))
	for i, f := range files {
		vf := views.FileDiff{Name: f.Name, Status: f.Status}
		for _, h := range f.Hunks {
			vh := views.DiffHunk{OldStart: h.OldStart, OldLines: h.OldLines, NewStart: h.NewStart, NewLines: h.NewLines}
			for _, l := range h.Lines {
				vh.Lines = append(vh.Lines, views.DiffLine{Kind: l.Kind, Text: l.Text, OldNo: l.OldNo, NewNo: l.NewNo})
			}
			vf.Hunks = append(vf.Hunks, vh)
		}
		out[i] = vf
	}
	return out
}

// viewNetwork is a network of models/x402's table as the portal shows it.
func viewNetwork(n x402.Network) views.Network {
	return views.Network{Name: n.Name, CAIP2: n.CAIP2, Asset: n.Asset, EIP712Name: n.EIP712Name,
		EIP712Version: n.EIP712Version, Testnet: n.Testnet, Default: n.CAIP2 == x402.DefaultNetwork}
}

// viewNetworks is the whole table, in its order.
func viewNetworks() []views.Network {
	var out []views.Network
	for _, n := range x402.Networks() {
		out = append(out, viewNetwork(n))
	}
	return out
}

// priceLabel is a route's price in USDC ("0.01 USDC"), or its atomic amount on a network
// outside the table.
func priceLabel(atomic, network string) string {
	n, ok := x402.NetworkByCAIP2(network)
	if !ok {
		return atomic
	}
	return x402.FormatAmount(atomic, n.Decimals) + " USDC"
}

// amountLabel formats a paid amount in the network's token, or shows the raw units when the
// network is not in the table.
func amountLabel(atomic, network string) string {
	if atomic == "" {
		return ""
	}
	if _, ok := x402.NetworkByCAIP2(network); ok {
		return priceLabel(atomic, network)
	}
	return atomic + " atomic units"
}

// viewRoutes works out the price and network name of each route of the routes table.
func viewRoutes(rs []models.Route) []views.RouteRow {
	out := make([]views.RouteRow, len(rs))
	for i, r := range rs {
		out[i] = views.RouteRow{Route: r, PriceLabel: priceLabel(r.Amount, r.Network), NetworkName: networkName(r.Network)}
	}
	return out
}

// viewPayments works out the amount, network name and explorer link of each ledger row.
func viewPayments(ps []models.Payment) []views.PaymentRow {
	out := make([]views.PaymentRow, len(ps))
	for i, p := range ps {
		out[i] = views.PaymentRow{Payment: p, AmountLabel: amountLabel(p.Amount, p.Network), NetworkName: networkName(p.Network)}
		if !p.Simulated {
			out[i].TxURL = x402.TxURL(p.Network, p.Transaction)
		}
	}
	return out
}

// viewRevenue works out the amount and network name of each route's revenue.
func viewRevenue(rs []models.RouteRevenue) []views.RevenueRow {
	out := make([]views.RevenueRow, len(rs))
	for i, r := range rs {
		out[i] = views.RevenueRow{RouteRevenue: r, AmountLabel: amountLabel(r.Atomic, r.Network), NetworkName: networkName(r.Network)}
	}
	return out
}

func networkName(caip2 string) string {
	if n, ok := x402.NetworkByCAIP2(caip2); ok {
		return n.Name
	}
	return caip2
}

func decimalsOf(caip2 string) int {
	if n, ok := x402.NetworkByCAIP2(caip2); ok {
		return n.Decimals
	}
	return 6
}
