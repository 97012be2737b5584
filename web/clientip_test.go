package web

import (
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}
	cases := []struct {
		name    string
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no proxies: the peer", "203.0.113.9", []string{"1.2.3.4"}, nil, "203.0.113.9"},
		{"peer is not a proxy: header ignored", "203.0.113.9", []string{"1.2.3.4"}, proxies, "203.0.113.9"},
		{"one proxy", "10.0.0.1", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"client-chosen hops left of the real one", "10.0.0.1", []string{"6.6.6.6, 7.7.7.7, 198.51.100.7"}, proxies, "198.51.100.7"},
		{"two proxies", "10.0.0.1", []string{"6.6.6.6, 198.51.100.7, 10.1.2.3"}, proxies, "198.51.100.7"},
		{"several headers in order", "10.0.0.1", []string{"6.6.6.6", "198.51.100.7, 10.9.9.9"}, proxies, "198.51.100.7"},
		{"all hops are proxies: the leftmost", "10.0.0.1", []string{"10.0.0.3, 10.0.0.2"}, proxies, "10.0.0.3"},
		{"no header from a proxy: the proxy", "10.0.0.1", nil, proxies, "10.0.0.1"},
		{"empty hops skipped", "10.0.0.1", []string{" , 198.51.100.7 ,"}, proxies, "198.51.100.7"},
		{"garbage at the right: the nearest proxy", "10.0.0.1", []string{"198.51.100.7, evil"}, proxies, "10.0.0.1"},
		{"garbage left of the client is ignored", "10.0.0.1", []string{"evil, 198.51.100.7"}, proxies, "198.51.100.7"},
		{"hop with a port", "10.0.0.1", []string{"198.51.100.7:5123"}, proxies, "198.51.100.7"},
		{"ipv6 hop with a port", "10.0.0.1", []string{"[2001:dead::1]:443"}, proxies, "2001:dead::1"},
		{"ipv6 proxy", "2001:db8::5", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"ipv4-mapped peer", "::ffff:10.0.0.1", []string{"198.51.100.7"}, proxies, "198.51.100.7"},
		{"ipv4-mapped hop", "10.0.0.1", []string{"::ffff:198.51.100.7"}, proxies, "198.51.100.7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var xff [][]byte
			for _, h := range c.xff {
				xff = append(xff, []byte(h))
			}
			if got := clientAddr(netip.MustParseAddr(c.peer), xff, c.trusted); got != c.want {
				t.Fatalf("clientAddr = %q, want %q", got, c.want)
			}
		})
	}
	if got := clientAddr(netip.Addr{}, nil, nil); got != "unknown" {
		t.Fatalf("no peer: %q", got)
	}
}
