package egress

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// TokenHeader carries the guard's secret: workerd adds it to every request it
// sends to the guard (injectRequestHeaders), so no other local process can
// use the guard as an open proxy. It never leaves the guard.
const TokenHeader = "X-Claw-Egress-Token"

// BlockedHeader marks a refusal made by the guard (not by the upstream) so
// the outbound worker can report it; upstreams cannot set it.
const BlockedHeader = "X-Claw-Egress-Blocked"

// Resolver looks a host name up. net.DefaultResolver satisfies it; tests
// give a map.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Guard.
type Options struct {
	Policy   *Policy
	Token    string   // required on every request (TokenHeader)
	Resolver Resolver // default net.DefaultResolver
	Logger   *slog.Logger
	// DialTimeout bounds each connection attempt; default 10 s.
	DialTimeout time.Duration
}

// Guard is the forward proxy every tenant subrequest passes through on the
// local edge: workerd sends it proxy-style requests ("GET https://host/path
// HTTP/1.1"), and it makes the request itself with a dialer that asks the
// Policy about the address it is about to connect to. Redirects are passed
// back, not followed: the tenant's fetch follows them, and each hop comes
// through the outbound worker's allowlist and this guard again.
type Guard struct {
	o     Options
	proxy *httputil.ReverseProxy
	token [32]byte
}

// New builds a Guard.
func New(o Options) (*Guard, error) {
	if o.Policy == nil {
		return nil, errors.New("egress: Options.Policy is required")
	}
	if o.Token == "" {
		return nil, errors.New("egress: Options.Token is required")
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 10 * time.Second
	}
	g := &Guard{o: o, token: sha256.Sum256([]byte(o.Token))}
	tr := &http.Transport{
		Proxy:                 nil, // the guard is the last hop: never another proxy from the environment
		DialContext:           g.dial,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass the upstream's encoding through untouched
	}
	g.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			u := *pr.In.URL
			pr.Out.URL = &u
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Del(TokenHeader)
		},
		Transport: tr,
		ModifyResponse: func(r *http.Response) error {
			r.Header.Del(BlockedHeader)
			return nil
		},
		ErrorHandler:  g.proxyError,
		FlushInterval: -1, // stream as it comes (server-sent events, long polls)
	}
	return g, nil
}

// dial resolves addr's host once, asks the policy about every address, and
// connects only to an allowed one; the Control hook checks the socket's
// actual peer again, whatever path net.Dialer takes.
func (g *Guard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	lower := strings.ToLower(strings.TrimSuffix(host, "."))
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		ips = []netip.Addr{ip}
	} else if lower == "localhost" || strings.HasSuffix(lower, ".localhost") {
		// RFC 6761: loopback, whatever a resolver would say.
		ips = []netip.Addr{netip.IPv6Loopback(), netip.MustParseAddr("127.0.0.1")}
	} else {
		ips, err = g.o.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("egress: unable to resolve %s: %w", host, err)
		}
	}
	p, err := netip.ParseAddrPort("0.0.0.0:" + port)
	if err != nil {
		return nil, fmt.Errorf("egress: bad port in %s", addr)
	}
	var firstBlock, lastErr error
	for _, ip := range ips {
		ap := netip.AddrPortFrom(ip.Unmap(), p.Port())
		if err := g.o.Policy.Check(ap); err != nil {
			if firstBlock == nil {
				firstBlock = err
			}
			continue
		}
		d := net.Dialer{Timeout: g.o.DialTimeout, Control: g.control}
		c, err := d.DialContext(ctx, network, ap.String())
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	if firstBlock != nil {
		return nil, firstBlock
	}
	return nil, fmt.Errorf("egress: %s has no address", host)
}

func (g *Guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: "unparsable address " + address}
	}
	return g.o.Policy.Check(ap)
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(b)
}

func (g *Guard) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	var be *BlockedError
	if errors.As(err, &be) {
		g.o.Logger.Info("tenant egress blocked", "host", r.URL.Host, "addr", be.Addr.String(), "reason", be.Reason)
		w.Header().Set(BlockedHeader, "address")
		writeError(w, http.StatusForbidden, "egress_blocked",
			"Outbound request to "+r.URL.Hostname()+" was refused: it leads to a private, local or reserved address, which apps may never reach.")
		return
	}
	if errors.Is(err, context.Canceled) {
		return // the tenant went away
	}
	writeError(w, http.StatusBadGateway, "egress_failed", "Outbound request to "+r.URL.Hostname()+" failed: "+err.Error())
}

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sum := sha256.Sum256([]byte(r.Header.Get(TokenHeader)))
	if subtle.ConstantTimeCompare(sum[:], g.token[:]) != 1 {
		writeError(w, http.StatusForbidden, "forbidden", "This is the edge's egress guard; it serves the local runtime only.")
		return
	}
	if r.Method == http.MethodConnect {
		writeError(w, http.StatusMethodNotAllowed, "egress_blocked", "Raw TCP connections are not available to apps.")
		return
	}
	if !r.URL.IsAbs() || (r.URL.Scheme != "http" && r.URL.Scheme != "https") || r.URL.Host == "" {
		writeError(w, http.StatusBadRequest, "bad_request", "Send proxy-style requests with an absolute http or https URL.")
		return
	}
	if r.URL.User != nil {
		// Credentials in the URL would be sent as-is; fetch() never puts them there.
		r.URL.User = nil
	}
	g.proxy.ServeHTTP(w, r)
}
