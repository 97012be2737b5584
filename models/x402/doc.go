// Package x402 holds the x402 (protocol v2) domain rules that the portal
// applies before anything reaches the edge: the networks table, price
// parsing, wallet addresses, route patterns and their matching, and the wire
// types of the protocol. It is pure Go: no HTTP, no database, no go-ethereum,
// so that the portal, the facilitator and the tests can all share it cheaply.
package x402
