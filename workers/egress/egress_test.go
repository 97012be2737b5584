package egress

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustPolicy(t *testing.T, p Config) *Policy {
	t.Helper()
	if p.Local == nil {
		p.Local = []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("8.8.4.4")}
	}
	out, err := NewPolicy(p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestPolicy(t *testing.T) {
	platform := []string{"127.0.0.1:8080", "0.0.0.0:8789", ":8787"}
	def := mustPolicy(t, Config{Platform: platform})
	priv := mustPolicy(t, Config{Platform: platform, AllowPrivate: true})
	cases := []struct {
		addr        string
		def, priv   bool // allowed?
		description string
	}{
		{"93.184.215.14:443", true, true, "a public address"},
		{"[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:443", true, true, "a public IPv6 address"},
		{"127.0.0.1:9000", false, true, "loopback"},
		{"127.0.0.2:9000", false, true, "loopback, other address"},
		{"127.0.0.1:8080", false, false, "the portal"},
		{"127.0.0.5:8080", false, false, "the portal's port on another loopback address"},
		{"127.0.0.1:8789", false, false, "the emulated Cloudflare API"},
		{"[::1]:8787", false, false, "the edge over IPv6 loopback"},
		{"0.0.0.0:8787", false, false, "the unspecified address reaches local listeners"},
		{"192.0.2.10:8080", false, false, "this machine's own address, platform port"},
		{"8.8.4.4:5432", false, true, "this machine's own public address"},
		{"10.1.2.3:80", false, true, "private"},
		{"172.16.0.1:80", false, true, "private"},
		{"192.168.1.1:80", false, true, "private"},
		{"100.64.0.1:80", false, true, "CGNAT"},
		{"169.254.169.254:80", false, true, "cloud metadata"},
		{"[fe80::1]:80", false, true, "IPv6 link-local"},
		{"[fd00::1]:80", false, true, "IPv6 unique local"},
		{"[::ffff:127.0.0.1]:9000", false, true, "IPv4-mapped loopback"},
		{"[::ffff:169.254.169.254]:80", false, true, "IPv4-mapped metadata"},
		{"[64:ff9b::7f00:1]:9000", false, true, "NAT64 of loopback"},
		{"[64:ff9b::5db8:d70e]:443", true, true, "NAT64 of a public address"},
		{"[2002:7f00:1::]:80", false, true, "6to4 of loopback"},
		{"[2001::1]:80", false, true, "Teredo"},
		{"[::127.0.0.1]:80", false, true, "IPv4-compatible loopback"},
		{"224.0.0.1:80", false, false, "multicast"},
		{"[ff02::1]:80", false, false, "IPv6 multicast"},
		{"0.0.0.0:80", false, false, "unspecified"},
		{"255.255.255.255:80", false, true, "broadcast"},
		{"240.0.0.1:80", false, true, "reserved"},
		{"198.18.0.1:80", false, true, "benchmarking"},
	}
	for _, c := range cases {
		ap := netip.MustParseAddrPort(c.addr)
		if got := def.Check(ap) == nil; got != c.def {
			t.Errorf("default policy, %s (%s): allowed=%v, want %v", c.addr, c.description, got, c.def)
		}
		if got := priv.Check(ap) == nil; got != c.priv {
			t.Errorf("private policy, %s (%s): allowed=%v, want %v", c.addr, c.description, got, c.priv)
		}
	}
	if err := def.Check(netip.MustParseAddrPort("127.0.0.1:1")); !errors.Is(err, ErrBlocked) {
		t.Errorf("a refusal must wrap ErrBlocked: %v", err)
	}
	if _, err := NewPolicy(Config{Platform: []string{"localhost"}}); err == nil {
		t.Error("a platform listener without a port must be refused")
	}
}

// mapResolver answers from a table, like a hostile DNS server would.
type mapResolver map[string][]string

func (m mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ips, ok := m[strings.ToLower(host)]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ips {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

type guardEnv struct {
	guard    *Guard
	url      string
	upstream *httptest.Server
	platform *httptest.Server
}

func newGuardEnv(t *testing.T, private bool) *guardEnv {
	t.Helper()
	e := &guardEnv{}
	e.upstream = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
		case "/forge":
			w.Header().Set(BlockedHeader, "address")
			io.WriteString(w, "forged")
		default:
			fmt.Fprintf(w, "upstream %s %s token=%q", r.Method, r.URL.Path, r.Header.Get(TokenHeader))
		}
	}))
	e.platform = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "PLATFORM SECRET")
	}))
	t.Cleanup(func() { e.upstream.Close(); e.platform.Close() })
	up := netip.MustParseAddrPort(e.upstream.Listener.Addr().String())
	pl := e.platform.Listener.Addr().String()
	pol := mustPolicy(t, Config{AllowPrivate: private, Platform: []string{pl}})
	if !private {
		pol.Exempt(up) // the upstream stands in for a public host
	}
	res := mapResolver{
		"public.example":   {up.Addr().String()},
		"rebind.example":   {"127.0.0.1"},
		"metadata.example": {"169.254.169.254"},
		"mixed.example":    {"10.0.0.1", up.Addr().String()},
		"v6loop.example":   {"::1"},
		"mapped.example":   {"::ffff:127.0.0.1"},
	}
	g, err := New(Options{Policy: pol, Token: "tok", Resolver: res, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.guard = g
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	return e
}

// proxyGet sends a proxy-style request, as workerd does.
func (e *guardEnv) proxyGet(t *testing.T, target string, token string) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	host := target
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i]
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n"
	if token != "" {
		req += TokenHeader + ": " + token + "\r\n"
	}
	fmt.Fprint(c, req+"\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestGuard(t *testing.T) {
	e := newGuardEnv(t, false)
	upPort := netip.MustParseAddrPort(e.upstream.Listener.Addr().String()).Port()
	plPort := netip.MustParseAddrPort(e.platform.Listener.Addr().String()).Port()
	up := fmt.Sprintf("http://public.example:%d", upPort)
	cases := []struct {
		name, target, token string
		status              int
		contains            string
	}{
		{"allowed upstream by name", up + "/ok", "tok", 200, `upstream GET /ok token=""`},
		{"no token", up + "/ok", "", 403, "serves the local runtime only"},
		{"wrong token", up + "/ok", "nope", 403, "serves the local runtime only"},
		{"loopback literal", fmt.Sprintf("http://127.0.0.1:%d/", plPort), "tok", 403, "egress_blocked"},
		{"name that resolves to loopback", fmt.Sprintf("http://rebind.example:%d/", plPort), "tok", 403, "egress_blocked"},
		{"name that resolves to metadata", "http://metadata.example/latest/meta-data/", "tok", 403, "egress_blocked"},
		{"IPv6 loopback by name", fmt.Sprintf("http://v6loop.example:%d/", plPort), "tok", 403, "egress_blocked"},
		{"IPv4-mapped loopback by name", fmt.Sprintf("http://mapped.example:%d/", plPort), "tok", 403, "egress_blocked"},
		{"private then public answer: only the public one is dialled", fmt.Sprintf("http://mixed.example:%d/ok", upPort), "tok", 200, "upstream GET /ok"},
		{"redirect is passed back, not followed", up + "/redirect?to=http://127.0.0.1:1/", "tok", 302, ""},
		{"upstream cannot forge the guard's refusal marker", up + "/forge", "tok", 200, "forged"},
		{"relative URL", "/plain", "tok", 400, "absolute"},
		{"unknown host", "http://nowhere.example/", "tok", 502, "egress_failed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, h, body := e.proxyGet(t, c.target, c.token)
			if status != c.status || !strings.Contains(body, c.contains) {
				t.Fatalf("got %d %q, want %d containing %q", status, body, c.status, c.contains)
			}
			if strings.Contains(body, "PLATFORM SECRET") {
				t.Fatal("the platform listener answered")
			}
			if c.status == 403 && c.token == "tok" && h.Get(BlockedHeader) == "" {
				t.Error("a policy refusal must carry the blocked marker")
			}
			if c.status != 403 && h.Get(BlockedHeader) != "" {
				t.Errorf("marker on a non-refusal: %v", h)
			}
		})
	}
}

func TestGuardPrivateModeKeepsPlatformClosed(t *testing.T) {
	e := newGuardEnv(t, true)
	upPort := netip.MustParseAddrPort(e.upstream.Listener.Addr().String()).Port()
	plPort := netip.MustParseAddrPort(e.platform.Listener.Addr().String()).Port()
	if status, _, body := e.proxyGet(t, fmt.Sprintf("http://127.0.0.1:%d/ok", upPort), "tok"); status != 200 {
		t.Fatalf("a private upstream must be reachable in private mode: %d %s", status, body)
	}
	for _, target := range []string{
		fmt.Sprintf("http://127.0.0.1:%d/", plPort),
		fmt.Sprintf("http://rebind.example:%d/", plPort),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", plPort),
		fmt.Sprintf("http://127.0.0.9:%d/", plPort),
	} {
		if status, _, body := e.proxyGet(t, target, "tok"); status != 403 || strings.Contains(body, "PLATFORM SECRET") {
			t.Errorf("%s: %d %s, want 403", target, status, body)
		}
	}
}

func TestGuardRefusesConnect(t *testing.T) {
	e := newGuardEnv(t, true)
	c, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %[1]s\r\n%s: tok\r\n\r\n", e.platform.Listener.Addr(), TokenHeader)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("CONNECT: %d", resp.StatusCode)
	}
}
