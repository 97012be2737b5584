package web

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

const localClientIP = "client_ip"

// clientIP is the address rate limits, sessions and audit lines use: the
// peer, or — when the peer is one of the operator's proxies — the hop the
// proxies saw (see clientAddr). The result is a fresh string: it outlives
// the request as a rate-limiter key, and fiber's own strings alias buffers
// that the next request on the connection overwrites.
func (s *Server) clientIP(c *fiber.Ctx) string {
	if v, ok := c.Locals(localClientIP).(string); ok {
		return v
	}
	peer, _ := netip.AddrFromSlice(c.Context().RemoteIP())
	var xff [][]byte
	if len(s.opts.TrustedProxies) > 0 && peer.IsValid() && inPrefixes(peer.Unmap(), s.opts.TrustedProxies) {
		xff = c.Request().Header.PeekAll(fiber.HeaderXForwardedFor)
	}
	ip := clientAddr(peer, xff, s.opts.TrustedProxies)
	c.Locals(localClientIP, ip)
	return ip
}

// clientAddr walks X-Forwarded-For from the right: each trusted proxy
// appends the address it received the request from, so the first hop that
// is not a trusted proxy is the client. Everything to its left was written
// by the client and is ignored — taking the leftmost entry would let anyone
// pick their own address (and a fresh rate-limit bucket) per request.
// Without trusted proxies, or when the peer is not one, the peer is the
// client. xff holds the header's values in the order they arrived.
func clientAddr(peer netip.Addr, xff [][]byte, trusted []netip.Prefix) string {
	peer = peer.Unmap()
	if !peer.IsValid() {
		return "unknown"
	}
	client := peer
	if len(trusted) == 0 || !inPrefixes(peer, trusted) {
		return client.String()
	}
	for i := len(xff) - 1; i >= 0; i-- {
		hops := string(xff[i])
		for hops != "" {
			var hop string
			if j := strings.LastIndexByte(hops, ','); j >= 0 {
				hop, hops = hops[j+1:], hops[:j]
			} else {
				hop, hops = hops, ""
			}
			hop = strings.TrimSpace(hop)
			if hop == "" {
				continue
			}
			a, ok := parseHop(hop)
			if !ok {
				// Garbage right of every trusted hop: the nearest proxy
				// is the best address we know.
				return client.String()
			}
			client = a
			if !inPrefixes(a, trusted) {
				return a.String()
			}
		}
	}
	return client.String()
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("203.0.113.7:5123", "[2001:db8::1]:443").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		if a, err := netip.ParseAddr(host); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
