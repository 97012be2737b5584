package runtime

import (
	"embed"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/workers/dispatcher"
	"github.com/402claw/402claw/workers/outbound"
)

//go:embed js/*
var localJS embed.FS

// V8Flags are given to the local workerd. A request through the edge runs in
// two busy isolates (the dispatcher's and the tenant's), and V8 grows each
// one's young generation to its default maximum (16 MB per semi-space) for
// good; 1 MB semi-spaces keep workerd's memory down with no measurable cost
// in throughput (see README, Benchmark).
var V8Flags = []string{"--max-semi-space-size=1"}

// CompatibilityDate is the date the dispatcher and the outbound worker run
// under, locally and when uploaded.
const CompatibilityDate = "2026-11-01"

// configFiles returns the files of the generated workerd configuration:
// config.capnp plus every module it embeds, relative to the config's
// directory.
func configFiles(opts Options, edgeAddr, lockDir string, egress egressEndpoint) (map[string]string, error) {
	files := map[string]string{}
	var modules []string
	add := func(name, kind, body string) {
		files["modules/"+name] = body
		modules = append(modules, fmt.Sprintf("(name = %s, %s = embed %s)", capnpString(name), kind, capnpString("modules/"+name)))
	}
	// The local entry is the main module; the dispatcher's own modules keep
	// their names so its relative imports resolve unchanged.
	local, err := localJS.ReadFile("js/local.js")
	if err != nil {
		return nil, fmt.Errorf("runtime: unable to read local entry: %w", err)
	}
	add("local.js", "esModule", string(local))
	dmods := dispatcher.Modules()
	names := make([]string, 0, len(dmods))
	for n := range dmods {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if n == "local.js" || strings.HasPrefix(n, "claw-") || n == "kvrouter.js" {
			return nil, fmt.Errorf("runtime: dispatcher module %q collides with a local module", n)
		}
		add(n, "esModule", dmods[n])
	}
	for _, n := range []string{"claw-wrapper.txt", "claw-patch.txt"} {
		b, err := localJS.ReadFile("js/" + n)
		if err != nil {
			return nil, fmt.Errorf("runtime: unable to read %s: %w", n, err)
		}
		add(n, "text", string(b))
	}
	add("claw-outbound.txt", "text", outbound.Script)

	router, err := localJS.ReadFile("js/kvrouter.js")
	if err != nil {
		return nil, fmt.Errorf("runtime: unable to read kv router: %w", err)
	}
	files["kvrouter/kvrouter.js"] = string(router)

	ttl := "5000"
	if opts.ConfigCacheTTL != 0 {
		ttl = strconv.FormatInt(max(opts.ConfigCacheTTL, 0).Milliseconds(), 10)
	}
	sub := "0"
	if opts.SubrequestEmulation {
		sub = "1"
	}
	// Log capture lives in the wrapper of the subrequest emulation.
	logs := "0"
	if opts.SubrequestEmulation && !opts.NoLogCapture {
		logs = "1"
	}
	text := func(name, v string) string {
		return fmt.Sprintf("(name = %s, text = %s)", capnpString(name), capnpString(v))
	}
	bindings := []string{
		`(name = "LOADER", workerLoader = ())`,
		`(name = "EDGE", service = "edge-api")`,
		// Tenant subrequests leave only through the egress guard (after the
		// outbound worker's allowlist); the dispatcher's own network below
		// is never handed to tenant code.
		`(name = "EGRESS", service = "tenant-egress")`,
		`(name = "CONFIG", kvNamespace = "config-kv")`,
		`(name = "TENANT_KV", kvNamespace = "tenant-kv")`,
		text("NAMESPACE", opts.Namespace),
		text("BASE_DOMAIN", opts.BaseDomain),
		text("CONFIG_CACHE_MS", ttl),
		text("SUBREQUESTS", sub),
		text("LOGS", logs),
		text("INGEST_URL", opts.IngestURL),
		text("INGEST_TOKEN", opts.IngestToken),
		text("PORTAL_URL", opts.PortalURL),
		`(name = "LOCK", durableObjectNamespace = "PaymentLock")`,
		// Per-caller limits (dispatcher limit.js): one object per app, route and caller.
		`(name = "LIMIT", durableObjectNamespace = "CallerLimiter")`,
		// The lock keeps used payments in memory and writes them behind:
		// workerd commits each storage write on the thread that runs the
		// dispatcher (about 1 ms per paid request otherwise).
		text("FLUSH_MS", "250"),
		text("LOCK_SHARDS", "1"),
	}
	if opts.FacilitatorURL != "" {
		bindings = append(bindings, text("FACILITATOR_URL", opts.FacilitatorURL))
	}
	if opts.OptimisticRefuse != nil {
		bindings = append(bindings, text("OPTIMISTIC_REFUSE_S", strconv.FormatInt(int64(*opts.OptimisticRefuse/time.Second), 10)))
	}
	if opts.Facilitators != "" {
		bindings = append(bindings, text("FACILITATORS", opts.Facilitators))
	}
	if opts.FacilitatorAuth != "" && opts.FacilitatorAuth != "{}" {
		// The dispatcher's secret: only in workerd's private config (mode 0600).
		bindings = append(bindings, text("FACILITATOR_AUTH", opts.FacilitatorAuth))
	}
	if opts.ConfigKey != "" {
		bindings = append(bindings, text("CONFIG_KEY", opts.ConfigKey))
	}
	// The watchdog's secret (watchdog.go): the dispatcher marks every call
	// into a tenant on stdout with it.
	if opts.watchMark != "" {
		bindings = append(bindings, text("WATCH_MARK", opts.watchMark))
	}
	routerWorker := func(ns string) string {
		b := []string{`(name = "EDGE", service = "edge-api")`}
		if ns != "" {
			b = append(b, text("NS", ns))
		}
		return fmt.Sprintf(`(
  modules = [ (name = "kvrouter.js", esModule = embed "kvrouter/kvrouter.js") ],
  compatibilityDate = %s,
  bindings = [ %s ],
)`, capnpString(CompatibilityDate), strings.Join(b, ",\n    "))
	}

	var extraService, extraSocket string
	if b := opts.bench; b != nil {
		extraService = "\n    (name = \"bench-worker\", worker = .benchWorker),"
		extraSocket = fmt.Sprintf(`, (name = "bench", address = %s, http = (), service = "bench-worker")`, capnpString(b.addr))
	}
	files["config.capnp"] = fmt.Sprintf(`# Generated by 402claw workers/runtime; rewritten on every start.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "dispatcher", worker = .dispatcher),
    # The local Cloudflare API: every request carries the runtime's token.
    (name = "edge-api", external = (address = %s, http = (injectRequestHeaders = [ (name = "Authorization", value = %s) ]))),
    (name = "config-kv", worker = .configKV),
    (name = "tenant-kv", worker = .tenantKV),
    # The dispatcher's own network (facilitator, telemetry ingest, which may
    # be on this machine). Tenant code never gets it: see tenant-egress.
    (name = "internet", network = (allow = ["public", "private", "local"], tlsOptions = (trustBrowserCas = true))),
    # Tenant egress: a forward proxy in the runtime that refuses private,
    # local and platform addresses by the address it connects to.
    # (workerd sends no Host header in proxy style; Go's server wants one and
    # takes the host from the request line's absolute URL anyway.)
    (name = "tenant-egress", external = (address = %s, http = (style = proxy, injectRequestHeaders = [ (name = %s, value = %s), (name = "Host", value = "claw-egress") ]))),
    # PaymentLock storage: on disk so that a restart keeps used payments used.
    (name = "payment-locks", disk = (path = %s, writable = true)),%s
  ],
  sockets = [
    # CF-Connecting-IP is the peer's address (clientIPHeader), as on Cloudflare.
    (name = "http", address = %s, http = (%s), service = "dispatcher"),
    # Only the runtime uses it, once after every start (see Runtime.warmUp).
    (name = "warm-up", address = "127.0.0.1:0", http = (), service = (name = "dispatcher", entrypoint = "WarmUp"))%s
  ],
  v8Flags = [ %s ],
);

const dispatcher :Workerd.Worker = (
  modules = [
    %s
  ],
  compatibilityDate = %s,
  bindings = [
    %s
  ],
  globalOutbound = "internet",
  # The PaymentLock and CallerLimiter classes are the dispatcher's, as on Cloudflare.
  durableObjectNamespaces = [
    (className = "PaymentLock", uniqueKey = "402claw-payment-lock-v1"),
    (className = "CallerLimiter", uniqueKey = "402claw-caller-limiter-v1"),
  ],
  durableObjectStorage = (localDisk = "payment-locks"),
);

const configKV :Workerd.Worker = %s;

const tenantKV :Workerd.Worker = %s;
`, capnpString(edgeAddr), capnpString("Bearer "+opts.EdgeAPIToken), capnpString(egress.addr), capnpString(egress.header), capnpString(egress.token),
		capnpString(lockDir), extraService, capnpString(opts.ListenAddr), clientIPHeader(opts), extraSocket, capnpList(V8Flags),
		strings.Join(modules, ",\n    "), capnpString(CompatibilityDate),
		strings.Join(bindings, ",\n    "),
		routerWorker(opts.ConfigKVNamespaceID), routerWorker(""))
	if b := opts.bench; b != nil {
		files["bench/worker.js"] = b.module
		var bb []string
		for k, v := range b.vars {
			bb = append(bb, text(k, v))
		}
		sort.Strings(bb)
		files["config.capnp"] += fmt.Sprintf(`
const benchWorker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "bench/worker.js") ],
  compatibilityDate = %s,
  compatibilityFlags = ["nodejs_compat"],
  bindings = [ %s ],
  globalOutbound = "internet",
);
`, capnpString(CompatibilityDate), strings.Join(bb, ", "))
	}
	return files, nil
}

// egressEndpoint is where workerd sends tenant subrequests (the runtime's
// egress guard) and the secret header it adds to each.
type egressEndpoint struct {
	addr, header, token string
}

// benchService is one more worker in the same workerd, set only by this
// package's benchmark: the official SDK worker the dispatcher is compared
// with must run under the same process and trace.
type benchService struct {
	addr   string            // its socket
	module string            // one ES module
	vars   map[string]string // text bindings
}

func capnpList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = capnpString(s)
	}
	return strings.Join(q, ", ")
}

// capnpString quotes s as a Cap'n Proto text literal (C-style escapes).
func capnpString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func writeConfig(dir string, files map[string]string) error {
	if err := os.RemoveAll(filepath.Join(dir, "modules")); err != nil {
		return fmt.Errorf("runtime: unable to clear old modules: %w", err)
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("runtime: unable to create %s: %w", filepath.Dir(p), err)
		}
		// config.capnp holds the ingest and runtime tokens.
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			return fmt.Errorf("runtime: unable to write %s: %w", p, err)
		}
		// WriteFile keeps the mode of a file written by an older version.
		if err := os.Chmod(p, 0o600); err != nil {
			return fmt.Errorf("runtime: unable to restrict %s: %w", p, err)
		}
	}
	return nil
}

// clientIPHeader is the http options of the edge's socket: unless a trusted proxy in front sets
// it (TrustClientIP), CF-Connecting-IP is overwritten with the peer's address. workerd does not
// tell a worker the address a connection came from, so the runtime writes the only one it can
// know: on a loopback listen address every peer is that loopback address; on any other every
// caller is counted as "unknown" (one bucket for all), and a proxy in front that sets the
// header with TrustClientIP is the way to tell callers apart.
func clientIPHeader(opts Options) string {
	if opts.TrustClientIP {
		return ""
	}
	ip := "unknown"
	if host, _, err := net.SplitHostPort(opts.ListenAddr); err == nil {
		if host == "localhost" {
			host = "127.0.0.1"
		}
		if a, err := netip.ParseAddr(host); err == nil && a.IsLoopback() {
			ip = a.String()
		}
	}
	return fmt.Sprintf(`injectRequestHeaders = [ (name = "CF-Connecting-IP", value = %s) ]`, capnpString(ip))
}
