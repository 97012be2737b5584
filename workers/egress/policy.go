// Package egress keeps tenant code on the public internet. The local edge
// sends every subrequest of a tenant worker (after the outbound worker's
// allowlist check) through Guard, a forward proxy whose dialer refuses
// loopback, private, link-local, CGNAT, multicast, reserved and unspecified
// addresses, and this machine's own addresses. The check is made on the
// address actually connected to, after DNS, so no name, redirect or DNS
// answer can lead around it; names are resolved once and the checked address
// is dialled, so a second lookup cannot rebind either.
//
// With Policy.AllowPrivate (CLAW_EDGE_PRIVATE_EGRESS=allow, for local
// development and tests) private and loopback addresses are allowed, but
// never the ports of the platform's own listeners (portal, emulated
// Cloudflare API, edge) on any local address.
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// ErrBlocked is wrapped by every refusal of the policy.
var ErrBlocked = errors.New("egress: address not allowed")

// BlockedError says which address was refused and why.
type BlockedError struct {
	Addr   netip.AddrPort
	Reason string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("egress: %s is not allowed: %s", e.Addr, e.Reason)
}

func (e *BlockedError) Unwrap() error { return ErrBlocked }

// Config is what a Policy is made from.
type Config struct {
	// AllowPrivate lets tenants reach loopback and private addresses
	// (local development). The platform's own ports stay closed.
	AllowPrivate bool
	// Platform lists the platform's own listeners ("host:port"; the host
	// may be empty or unspecified). Their ports are refused on every
	// loopback, unspecified and own address, whatever AllowPrivate says.
	Platform []string
	// Local lists this machine's own addresses; nil reads them from the
	// interfaces once.
	Local []netip.Addr
}

// Policy decides which addresses tenant code may connect to. It is safe
// for concurrent use.
type Policy struct {
	allowPrivate bool
	local        map[netip.Addr]bool

	mu            sync.RWMutex // listeners on port 0 are learnt after start
	platformPorts map[uint16]bool
	platformAddrs map[netip.AddrPort]bool
	exempt        map[netip.AddrPort]bool
}

// NewPolicy prepares p for Check. An unparsable Platform entry is an error:
// a listener the guard does not know is a listener tenants can reach.
func NewPolicy(p Config) (*Policy, error) {
	out := &Policy{allowPrivate: p.AllowPrivate, platformPorts: map[uint16]bool{}, platformAddrs: map[netip.AddrPort]bool{}}
	for _, hp := range p.Platform {
		if err := out.AddPlatform(hp); err != nil {
			return nil, err
		}
	}
	locals := p.Local
	if locals == nil {
		locals = interfaceAddrs()
	}
	out.local = map[netip.Addr]bool{}
	for _, a := range locals {
		out.local[a.Unmap()] = true
	}
	return out, nil
}

// AddPlatform closes one more platform listener ("host:port") to tenants.
func (p *Policy) AddPlatform(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("egress: platform listener %q: %w", hostport, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("egress: platform listener %q has no port", hostport)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.platformPorts[uint16(n)] = true
	if a, err := netip.ParseAddr(host); err == nil {
		p.platformAddrs[netip.AddrPortFrom(a.Unmap(), uint16(n))] = true
	}
	return nil
}

func interfaceAddrs() []netip.Addr {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				out = append(out, ip.Unmap())
			}
		}
	}
	return out
}

// Exempt lets one address through whatever it is (tests: an upstream on
// loopback standing in for a public host). Never configurable by operators.
func (p *Policy) Exempt(ap netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exempt == nil {
		p.exempt = map[netip.AddrPort]bool{}
	}
	p.exempt[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())] = true
}

// Check says whether tenant code may connect to ap.
func (p *Policy) Check(ap netip.AddrPort) error {
	a := ap.Addr().Unmap().WithZone("")
	ap = netip.AddrPortFrom(a, ap.Port())
	p.mu.RLock()
	exempt := p.exempt[ap]
	platform := p.platformAddrs[ap] || (p.platformPorts[ap.Port()] && (p.local[a] || a.IsLoopback() || a.IsUnspecified()))
	p.mu.RUnlock()
	if exempt {
		return nil
	}
	if platform {
		return &BlockedError{ap, "it is one of the platform's own services"}
	}
	if p.allowPrivate {
		if a.IsMulticast() || a.IsUnspecified() {
			return &BlockedError{ap, "multicast and unspecified addresses are never reachable"}
		}
		return nil
	}
	if p.local[a] {
		return &BlockedError{ap, "it is an address of this machine"}
	}
	if reason := nonPublic(a); reason != "" {
		return &BlockedError{ap, reason}
	}
	return nil
}

// Special-purpose blocks (RFC 6890 and its updates) that are not reachable
// on the public internet, or that reach something other than what they seem.
var special = func() []struct {
	p      netip.Prefix
	reason string
} {
	list := []struct{ cidr, reason string }{
		{"0.0.0.0/8", "\"this network\""},
		{"10.0.0.0/8", "private"},
		{"100.64.0.0/10", "carrier-grade NAT"},
		{"127.0.0.0/8", "loopback"},
		{"169.254.0.0/16", "link-local (cloud metadata lives here)"},
		{"172.16.0.0/12", "private"},
		{"192.0.0.0/24", "IETF protocol assignments"},
		{"192.0.2.0/24", "documentation"},
		{"192.88.99.0/24", "6to4 relay"},
		{"192.168.0.0/16", "private"},
		{"198.18.0.0/15", "benchmarking"},
		{"198.51.100.0/24", "documentation"},
		{"203.0.113.0/24", "documentation"},
		{"224.0.0.0/4", "multicast"},
		{"240.0.0.0/4", "reserved"},
		{"::/128", "unspecified"},
		{"::1/128", "loopback"},
		{"::/96", "IPv4-compatible (deprecated)"},
		{"100::/64", "discard-only"},
		{"2001::/32", "Teredo tunnel"},
		{"2001:db8::/32", "documentation"},
		{"2001:10::/28", "ORCHID"},
		{"2001:20::/28", "ORCHIDv2"},
		{"fc00::/7", "unique local (private)"},
		{"fe80::/10", "link-local"},
		{"fec0::/10", "site-local"},
		{"ff00::/8", "multicast"},
	}
	out := make([]struct {
		p      netip.Prefix
		reason string
	}, len(list))
	for i, l := range list {
		out[i].p = netip.MustParsePrefix(l.cidr)
		out[i].reason = l.reason
	}
	return out
}()

var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// nonPublic returns why a is not a public unicast address, or "".
func nonPublic(a netip.Addr) string {
	if !a.IsValid() {
		return "not an IP address"
	}
	// Addresses that embed an IPv4 address are judged by it: a NAT64 or
	// 6to4 gateway would carry the connection to that address.
	switch {
	case nat64.Contains(a):
		b := a.As16()
		return nonPublic(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	case nat64Local.Contains(a):
		return "local-use NAT64"
	case sixToFour.Contains(a):
		b := a.As16()
		return nonPublic(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
	}
	for _, s := range special {
		if s.p.Contains(a) {
			return s.reason + " address"
		}
	}
	if a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return "broadcast address"
	}
	if !a.IsGlobalUnicast() {
		return "not a global unicast address"
	}
	return ""
}
