// Package runtime runs the local edge: workerd serving the real dispatcher,
// with the dispatch namespace emulated on the Worker Loader binding, user
// scripts and KV read from the local Cloudflare API, and the outbound worker
// as every user worker's globalOutbound.
//
// workerd enforces no CPU limit (it accepts and ignores limits): CPU limits
// are enforced only on Cloudflare. With Options.AsyncTrace the runtime
// measures the JavaScript time of every request from workerd's async trace
// and reports it through CPUStats. A watchdog restarts workerd when one
// request stalls its event loop (watchdog.go) and names the tenant through
// Options.OnRunaway. The subrequest limit is emulated inside each user worker
// (Options.SubrequestEmulation).
package runtime

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/402claw/402claw/workers/egress"
)

// Options configure the local runtime.
type Options struct {
	WorkerdPath         string       // the workerd binary; see FindWorkerd
	ListenAddr          string       // where tenants' APIs are served; default 127.0.0.1:8787, port 0 picks one
	EdgeAPIURL          string       // base URL of the local Cloudflare API serving /runtime/…
	Namespace           string       // the dispatch namespace user scripts live in
	ConfigKVNamespaceID string       // the KV namespace holding app:<slug> documents
	BaseDomain          string       // apps are <slug>.<BaseDomain>; default localhost
	IngestURL           string       // where telemetry events are POSTed; empty = none
	PortalURL           string       // the portal's public base URL (docs and "report this API" links); empty: IngestURL's origin
	IngestToken         string       // bearer secret for IngestURL
	DataDir             string       // the generated config lives in DataDir/workerd
	Logger              *slog.Logger // workerd's output and supervision events
	AsyncTrace          bool         // measure JS time per request (CPUStats)
	SubrequestEmulation bool         // enforce plans' subrequest limits locally
	// NoLogCapture turns off the capture of tenants' console lines and uncaught
	// exceptions (on with SubrequestEmulation, whose wrapper does it): for the benchmark.
	NoLogCapture   bool
	ConfigCacheTTL time.Duration // dispatcher's per-isolate config cache; 0 = 5 s, negative = off
	FacilitatorURL string        // x402 facilitator for paid routes; empty = the dispatcher's default (x402.org)
	// Facilitators and FacilitatorAuth become the dispatcher's FACILITATORS and
	// FACILITATOR_AUTH (workers.FacilitatorBindings); SetFacilitators changes them.
	Facilitators, FacilitatorAuth string
	// OptimisticRefuse becomes the dispatcher's OPTIMISTIC_REFUSE_S: how long a payer whose
	// optimistic settlement failed is refused on the app's optimistic routes (nil: the
	// dispatcher's default, an hour; 0: never).
	OptimisticRefuse *time.Duration
	// EdgeAPIToken is the local Cloudflare API's runtime token: workerd
	// sends it on every request to EdgeAPIURL (scripts with their secrets,
	// KV). Required.
	EdgeAPIToken string
	// ConfigKey is the dispatcher's CONFIG_KEY (workers.ConfigKeyHex): config
	// documents whose digest does not verify with it are refused. Empty: not
	// verified (tests that write documents by hand).
	ConfigKey string
	// TrustClientIP keeps the CF-Connecting-IP header a request arrives with: set it only when
	// the local edge sits behind a reverse proxy that writes the client's address there
	// (CLAW_EDGE_TRUST_CLIENT_IP=true), as Cloudflare's edge does. Otherwise the edge overwrites
	// the header with the peer's address, so that a consumer cannot choose its own per-IP
	// limit bucket (quota.js keys public routes and unpaid challenges by it).
	TrustClientIP bool
	// PrivateEgress lets tenant code reach loopback and private addresses
	// (CLAW_EDGE_PRIVATE_EGRESS=allow: local development). The platform's
	// own listeners stay closed either way.
	PrivateEgress bool
	// Platform lists the platform's other listeners ("host:port": the
	// portal) that tenant code must never reach. The runtime adds its own
	// (the edge, its control socket, the egress guard) and the hosts of
	// EdgeAPIURL, IngestURL and FacilitatorURL.
	Platform []string

	// OnRunaway is called (in a goroutine of its own) after the watchdog
	// stopped workerd because a request stalled its event loop; see Runaway.
	OnRunaway func(Runaway)

	watchMark      string           // the watchdog's secret, new for every Start (watchdog.go)
	bench          *benchService    // benchmark only: a comparison worker in the same workerd
	extraArgs      []string         // profiling only: more workerd flags (e.g. --inspector-addr)
	egressResolver egress.Resolver  // tests: a resolver with hostile answers
	egressExempt   []netip.AddrPort // tests: upstreams on loopback standing in for public hosts
}

// Status describes the supervised workerd process.
type Status struct {
	Running   bool
	Restarts  int
	LastError string
	PID       int
	Addr      string // the address tenants' APIs answer on
	Stalls    int    // restarts by the watchdog (counted in Restarts too)
}

// Runtime is a supervised workerd serving the local edge.
type Runtime struct {
	opts   Options
	dir    string
	log    *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
	cpu    *cpuStats
	egress *egress.Policy

	// What configFiles needs again when SetFacilitators rewrites the configuration.
	edgeAddr, lockDir string
	egressEP          egressEndpoint
	proc              *os.Process // the running workerd, nil between runs
	reload            bool        // the running workerd is being replaced by SetFacilitators

	mu       sync.Mutex
	status   Status
	warmAddr string // the warm-up socket of the running workerd ("" when none)
	// afterStall: the running workerd replaced one the watchdog stopped, so
	// it does not preload every app (below, warmUp).
	afterStall bool

	queueMu  sync.Mutex
	queued   []string        // apps waiting for PreloadLater, in order
	inQueue  map[string]bool // the same, as a set (writes of one app coalesce)
	draining bool            // a goroutine is working through queued
}

// Start writes the workerd configuration into opts.DataDir and starts
// `workerd serve --experimental`. It returns once workerd listens, and keeps
// it running (restarting it with backoff when it dies) until Stop.
func Start(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.WorkerdPath == "" {
		p, err := FindWorkerd()
		if err != nil {
			return nil, err
		}
		opts.WorkerdPath = p
	}
	if abs, err := filepath.Abs(opts.WorkerdPath); err == nil {
		opts.WorkerdPath = abs // workerd runs in its config directory
	}
	if opts.ListenAddr == "" {
		opts.ListenAddr = "127.0.0.1:8787"
	}
	if opts.BaseDomain == "" {
		opts.BaseDomain = "localhost"
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.DataDir == "" {
		return nil, errors.New("runtime: DataDir is required")
	}
	// workerd runs in its own working directory: a relative data dir (the
	// default ./data) must not reach it as a relative path.
	abs, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("runtime: unable to resolve DataDir %s: %w", opts.DataDir, err)
	}
	opts.DataDir = abs
	if opts.Namespace == "" || opts.ConfigKVNamespaceID == "" {
		return nil, errors.New("runtime: Namespace and ConfigKVNamespaceID are required")
	}
	u, err := url.Parse(opts.EdgeAPIURL)
	if err != nil || u.Host == "" || u.Scheme != "http" {
		return nil, fmt.Errorf("runtime: EdgeAPIURL must be http://host:port, got %q", opts.EdgeAPIURL)
	}
	edgeAddr := u.Host
	if u.Port() == "" {
		edgeAddr = net.JoinHostPort(u.Hostname(), "80")
	}
	dir := filepath.Join(opts.DataDir, "workerd")
	// Outside dir: the config directory is rewritten on every start, the
	// used payments must survive it.
	lockDir, err := filepath.Abs(filepath.Join(opts.DataDir, "payment-locks"))
	if err != nil {
		return nil, fmt.Errorf("runtime: unable to resolve the payment lock directory: %w", err)
	}
	if err := os.MkdirAll(lockDir, 0o700); err != nil {
		return nil, fmt.Errorf("runtime: unable to create the payment lock directory: %w", err)
	}
	if opts.EdgeAPIToken == "" {
		return nil, errors.New("runtime: EdgeAPIToken is required (the local Cloudflare API refuses the runtime without it)")
	}
	opts.watchMark = newWatchMark()
	policy, err := egressPolicy(opts, edgeAddr)
	if err != nil {
		return nil, err
	}
	guardLn, guardSrv, guardToken, err := startGuard(opts, policy)
	if err != nil {
		return nil, err
	}
	files, err := configFiles(opts, edgeAddr, lockDir, egressEndpoint{addr: guardLn.Addr().String(), header: egress.TokenHeader, token: guardToken})
	if err == nil {
		err = writeConfig(dir, files)
	}
	if err != nil {
		guardSrv.Close()
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	r := &Runtime{opts: opts, dir: dir, log: opts.Logger.With("component", "workerd"), cancel: cancel, done: make(chan struct{}), cpu: newCPUStats(), egress: policy,
		edgeAddr: edgeAddr, lockDir: lockDir, egressEP: egressEndpoint{addr: guardLn.Addr().String(), header: egress.TokenHeader, token: guardToken}}
	go func() {
		<-r.done
		guardSrv.Close()
	}()
	ready := make(chan error, 1)
	go r.supervise(rctx, ready)
	select {
	case err := <-ready:
		if err != nil {
			cancel()
			<-r.done
			return nil, err
		}
		return r, nil
	case <-ctx.Done():
		cancel()
		<-r.done
		return nil, fmt.Errorf("runtime: unable to start workerd: %w", ctx.Err())
	}
}

// SetFacilitators changes the dispatcher's FACILITATORS and FACILITATOR_AUTH: the configuration
// is rewritten and workerd restarted with it (bindings are fixed for a worker's life, as a
// Cloudflare upload is). Used payments survive: the payment locks are on disk.
func (r *Runtime) SetFacilitators(list, auth string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.opts.Facilitators == list && r.opts.FacilitatorAuth == auth {
		return nil
	}
	opts := r.opts
	opts.Facilitators, opts.FacilitatorAuth = list, auth
	files, err := configFiles(opts, r.edgeAddr, r.lockDir, r.egressEP)
	if err == nil {
		err = writeConfig(r.dir, files)
	}
	if err != nil {
		return err
	}
	r.opts.Facilitators, r.opts.FacilitatorAuth = list, auth // fields runOnce never reads
	if r.proc != nil {
		r.reload = true
		_ = r.proc.Signal(syscall.SIGTERM)
	}
	return nil
}

// egressPolicy is the tenant egress policy: the platform's listeners are
// closed to tenants, and so are private addresses unless PrivateEgress.
func egressPolicy(opts Options, edgeAddr string) (*egress.Policy, error) {
	platform := append([]string{edgeAddr}, opts.Platform...)
	if _, port, err := net.SplitHostPort(opts.ListenAddr); err == nil && port != "0" {
		platform = append(platform, opts.ListenAddr)
	}
	for _, raw := range []string{opts.IngestURL, opts.FacilitatorURL} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("runtime: %q is not a URL", raw)
		}
		port := u.Port()
		if port == "" {
			port = map[string]string{"https": "443"}[u.Scheme]
			if port == "" {
				port = "80"
			}
		}
		platform = append(platform, net.JoinHostPort(u.Hostname(), port))
	}
	p, err := egress.NewPolicy(egress.Config{AllowPrivate: opts.PrivateEgress, Platform: platform})
	if err != nil {
		return nil, err
	}
	for _, ap := range opts.egressExempt {
		p.Exempt(ap)
	}
	return p, nil
}

// startGuard serves the egress guard on a loopback port of its own.
func startGuard(opts Options, policy *egress.Policy) (net.Listener, *http.Server, string, error) {
	token := rand.Text()
	g, err := egress.New(egress.Options{Policy: policy, Token: token, Resolver: opts.egressResolver, Logger: opts.Logger.With("component", "egress")})
	if err != nil {
		return nil, nil, "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, "", fmt.Errorf("runtime: unable to listen for the egress guard: %w", err)
	}
	if err := policy.AddPlatform(ln.Addr().String()); err != nil {
		ln.Close()
		return nil, nil, "", err
	}
	srv := &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln, srv, token, nil
}

// Stop terminates workerd (SIGTERM, then SIGKILL after a grace period) and
// the supervision.
func (r *Runtime) Stop(ctx context.Context) error {
	r.cancel()
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("runtime: unable to stop workerd: %w", ctx.Err())
	}
}

// Status reports the supervised process.
func (r *Runtime) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Addr is the host:port tenants' APIs answer on (the actual port when
// ListenAddr asked for port 0).
func (r *Runtime) Addr() string {
	return r.Status().Addr
}

// URL is http://Addr.
func (r *Runtime) URL() string {
	return "http://" + r.Addr()
}

const (
	minBackoff   = 200 * time.Millisecond
	maxBackoff   = 10 * time.Second
	stableUptime = 30 * time.Second
	readyTimeout = 20 * time.Second
)

func (r *Runtime) supervise(ctx context.Context, ready chan<- error) {
	defer close(r.done)
	backoff := minBackoff
	first := true
	for {
		started := time.Now()
		var readyErr error
		err := r.runOnce(ctx, func(e error) {
			readyErr = e
			if first {
				ready <- e
			}
		})
		if first {
			first = false
			if readyErr != nil {
				return // Start reports it; nothing to supervise
			}
		}
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		reload := r.reload
		r.reload = false
		r.mu.Unlock()
		if reload {
			r.log.Info("restarting workerd with the new facilitator configuration")
			continue
		}
		stalled := errors.Is(err, errStalled)
		r.mu.Lock()
		r.status.Running = false
		r.status.PID = 0
		r.status.Restarts++
		if stalled {
			r.status.Stalls++
		}
		r.afterStall = stalled
		if err != nil {
			r.status.LastError = err.Error()
		}
		r.mu.Unlock()
		if stalled {
			// Not a crash to back off from: every tenant is waiting for it.
			r.log.Warn("restarting workerd at once: the watchdog stopped it")
			continue
		}
		if time.Since(started) > stableUptime {
			backoff = minBackoff
		}
		r.log.Warn("workerd exited; restarting", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// runOnce runs one workerd process to its end. onReady is called once: with
// nil when workerd listens, or with the error that kept it from listening.
func (r *Runtime) runOnce(ctx context.Context, onReady func(error)) error {
	reported := false
	report := func(err error) {
		if !reported {
			reported = true
			onReady(err)
		}
	}
	args := []string{"serve", "--experimental", "--control-fd", "3"}
	var tracePath string
	if r.opts.AsyncTrace {
		tracePath = filepath.Join(r.dir, "async-trace.fifo")
		_ = os.Remove(tracePath)
		if err := syscall.Mkfifo(tracePath, 0o600); err != nil {
			err = fmt.Errorf("runtime: unable to create the async-trace fifo: %w", err)
			report(err)
			return err
		}
		args = append(args, "--async-trace", tracePath)
	}
	args = append(args, r.opts.extraArgs...)
	args = append(args, filepath.Join(r.dir, "config.capnp"))

	ctlR, ctlW, err := os.Pipe()
	if err != nil {
		err = fmt.Errorf("runtime: unable to create the control pipe: %w", err)
		report(err)
		return err
	}
	cmd := exec.CommandContext(ctx, r.opts.WorkerdPath, args...)
	cmd.Dir = r.dir
	cmd.ExtraFiles = []*os.File{ctlW}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	setProcAttrs(cmd)
	var outR, outW, errR, errW *os.File
	if outR, outW, err = outputPipe(); err == nil {
		if errR, errW, err = outputPipe(); err != nil {
			outR.Close()
			outW.Close()
		}
	}
	if err != nil {
		ctlR.Close()
		ctlW.Close()
		err = fmt.Errorf("runtime: unable to create the output pipes: %w", err)
		report(err)
		return err
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	ctlW.Close()
	if err != nil {
		ctlR.Close()
		outR.Close()
		errR.Close()
		err = fmt.Errorf("runtime: unable to start %s: %w", r.opts.WorkerdPath, err)
		report(err)
		return err
	}
	r.mu.Lock()
	r.status.PID = cmd.Process.Pid
	r.proc = cmd.Process
	r.mu.Unlock()

	var wg, outputs sync.WaitGroup
	var tail lineTail
	f := newFlights()
	mark := r.opts.watchMark
	for name, rd := range map[string]*os.File{"stdout": outR, "stderr": errR} {
		outputs.Add(1)
		go func() {
			defer outputs.Done()
			defer rd.Close()
			readLines(rd, func(line string) {
				// The dispatcher's marks (watchdog.go) are not log lines.
				if i := strings.Index(line, mark); mark != "" && i >= 0 {
					f.mark(line[i+len(mark):])
					line = line[:i]
				}
				if line == "" {
					return
				}
				tail.add(line)
				r.log.Info(line, "stream", name)
			})
		}()
	}
	var traceFile *os.File
	if tracePath != "" {
		// O_RDWR keeps the open from blocking until workerd opens its end;
		// Close unblocks the reader when the process is gone.
		traceFile, err = os.OpenFile(tracePath, os.O_RDWR, 0)
		if err == nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.cpu.follow(traceFile, f.end)
			}()
		} else {
			r.log.Warn("unable to open the async trace; CPU will not be measured", "err", err)
		}
	}
	listening := make(chan int, 1)
	warmPort := make(chan int, 1)
	go func() {
		sc := bufio.NewScanner(ctlR)
		for sc.Scan() {
			var m struct {
				Event  string `json:"event"`
				Socket string `json:"socket"`
				Port   int    `json:"port"`
			}
			if json.Unmarshal(sc.Bytes(), &m) != nil || m.Event != "listen" {
				continue
			}
			switch m.Socket {
			case "http":
				listening <- m.Port
			case "warm-up":
				warmPort <- m.Port
			}
		}
		ctlR.Close()
	}()
	exited := make(chan error, 1)
	gone := make(chan struct{}) // closed when the process has exited
	// Wait closes the output pipes: read them to the end first, or the last
	// lines (the reason workerd exited) can be lost.
	go func() {
		outputs.Wait()
		err := cmd.Wait()
		close(gone)
		exited <- err
	}()
	var stalled atomic.Pointer[Runaway]
	stop := func(rw Runaway) {
		stalled.Store(&rw)
		args := []any{"stalled", rw.Stalled.Round(time.Millisecond), "cpu", rw.CPU.Round(time.Millisecond), "pid", cmd.Process.Pid}
		switch {
		case rw.Script != "":
			r.log.Error("a tenant's request ran JavaScript without yielding and stalled the edge; restarting workerd",
				append(args, "script", rw.Script, "app", rw.Slug)...)
		case len(rw.Suspects) > 0:
			r.log.Error("a request ran JavaScript without yielding and stalled the edge; restarting workerd; several tenants were running, none is blamed",
				append(args, "suspects", strings.Join(rw.Suspects, ","))...)
		default:
			r.log.Error("the edge's event loop stalled with no tenant code running; restarting workerd", args...)
		}
		_ = cmd.Process.Kill()
		if r.opts.OnRunaway != nil {
			go r.opts.OnRunaway(rw)
		}
	}

	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	var waitErr error
	select {
	case port := <-listening:
		host, _, _ := net.SplitHostPort(r.opts.ListenAddr)
		r.mu.Lock()
		r.status.Running = true
		r.status.Addr = net.JoinHostPort(host, strconv.Itoa(port))
		r.mu.Unlock()
		if err := r.egress.AddPlatform(r.Addr()); err != nil {
			r.log.Error("unable to close the edge's own port to tenants", "err", err)
		}
		r.log.Info("workerd listening", "addr", r.Addr(), "pid", cmd.Process.Pid)
		if addr := r.warmSocket(ctx, warmPort); addr != "" {
			go r.watch(cmd.Process.Pid, addr, f, gone, stop)
			r.warmUp(ctx, addr)
		}
		report(nil)
		waitErr = <-exited
	case waitErr = <-exited:
		report(fmt.Errorf("runtime: workerd exited before listening: %v: %s", waitErr, tail.String()))
	case <-timeout.C:
		_ = cmd.Process.Kill()
		waitErr = <-exited
		report(fmt.Errorf("runtime: workerd did not listen within %s: %s", readyTimeout, tail.String()))
	}
	if traceFile != nil {
		traceFile.Close()
	}
	wg.Wait()
	r.mu.Lock()
	r.status.Running = false
	r.status.PID = 0
	r.warmAddr = ""
	r.proc = nil
	r.mu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	if rw := stalled.Load(); rw != nil {
		who := "no tenant code was running"
		if rw.Script != "" {
			who = rw.Script + " ran JavaScript without yielding"
		} else if len(rw.Suspects) > 0 {
			who = "one of " + strings.Join(rw.Suspects, ", ") + " ran JavaScript without yielding"
		}
		return fmt.Errorf("runtime: workerd stalled for %s (%s): %w", rw.Stalled.Round(time.Millisecond), who, errStalled)
	}
	if waitErr == nil {
		waitErr = errors.New("workerd exited with status 0")
	}
	return fmt.Errorf("runtime: workerd: %w (last output: %s)", waitErr, tail.String())
}

// errStalled ends a workerd the watchdog stopped.
var errStalled = errors.New("the watchdog restarted it")
