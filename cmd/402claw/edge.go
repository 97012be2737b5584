package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/web"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/402claw/402claw/workers/localcf"
	"github.com/402claw/402claw/workers/runtime"
)

// edge is what serve talks to: the Cloudflare client (real or local), and in
// local mode the emulator, the dev facilitator and workerd.
type edge struct {
	cf          *workers.Cloudflare
	namespace   string
	kvID        string
	local       bool
	edgeURL     string
	facilitator http.Handler // local mode: mounted on the portal
	runtime     *runtime.Runtime
	runtimeErr  error
	closers     []func()
	runaways    chan runtime.Runaway // the watchdog's reports, for stopRunaways (runaway.go)
	// facURL is the default facilitator (networks no configured facilitator lists).
	facURL string
	// bootstrap re-uploads the dispatcher with new facilitator bindings (Cloudflare only).
	bootstrap *workers.BootstrapOptions
}

// applyFacilitators writes the operator's facilitators through to the dispatcher:
// FACILITATORS (plain text) and FACILITATOR_AUTH (a secret binding). Locally workerd restarts
// with them; on Cloudflare the dispatcher is uploaded again with its bindings.
func (e *edge) applyFacilitators(ctx context.Context, store *models.Store, key []byte) error {
	fs, err := store.Facilitators(ctx)
	if err != nil {
		return err
	}
	list, auth, err := workers.FacilitatorBindings(fs, key)
	if err != nil {
		return err
	}
	redactFacilitatorAuth(auth)
	switch {
	case e.local && e.runtime != nil:
		return e.runtime.SetFacilitators(list, auth)
	case e.local:
		return errors.New("the local edge is not running; it takes the configuration when it starts")
	case e.bootstrap != nil:
		o := *e.bootstrap
		o.Facilitators, o.FacilitatorAuth = list, auth
		if _, err := workers.Bootstrap(ctx, e.cf, o); err != nil {
			return fmt.Errorf("the dispatcher was not uploaded with the new facilitators: %w", err)
		}
		return nil
	}
	return errors.New("no Cloudflare account to write the dispatcher's bindings to")
}

func (e *edge) close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// cpu is the JS time workerd measured for a script (local edge only).
func (e *edge) cpu(script string) (web.CPUStat, bool) {
	if e.runtime == nil {
		return web.CPUStat{}, false
	}
	w, ok := e.runtime.CPUStatsFor(script)
	if !ok {
		return web.CPUStat{}, false
	}
	return web.CPUStat{Requests: w.Requests, Mean: w.Mean(), Max: w.Max}, true
}

// requestCPU takes one request's measured JS time for its telemetry event (local edge only).
func (e *edge) requestCPU(script string) (time.Duration, bool) {
	if e.runtime == nil {
		return 0, false
	}
	return e.runtime.TakeRequestCPU(script)
}

type ownsEdgeKey struct{}

// withLocalEdge marks ctx as serve's: it starts and owns the local edge.
func withLocalEdge(ctx context.Context) context.Context {
	return context.WithValue(ctx, ownsEdgeKey{}, true)
}

func ownsLocalEdge(ctx context.Context) bool { v, _ := ctx.Value(ownsEdgeKey{}).(bool); return v }

// runtimeNote tells tenants when the local runtime cannot serve.
func (e *edge) runtimeNote() string {
	if !e.local {
		return ""
	}
	if e.runtimeErr != nil {
		if errors.Is(e.runtimeErr, runtime.ErrWorkerdMissing) {
			return "The local edge is not running: workerd is not installed. Run `npm ci` in the 402claw directory (or `make run`), then restart 402claw."
		}
		return "The local edge is not running: " + e.runtimeErr.Error()
	}
	if e.runtime != nil {
		if st := e.runtime.Status(); !st.Running {
			return "The local edge (workerd) is restarting: " + st.LastError
		}
	}
	return ""
}

// secretFile reads a generated secret from the data dir, creating it once
// with mode 0600.
func secretFile(dataDir, name string) (string, error) {
	p := filepath.Join(dataDir, name)
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	v := models.NewSecret(32)
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		return "", err
	}
	return v, nil
}

// portalAddr is the portal's listener, which tenant code must never reach.
func portalAddr(cfg *Config) []string {
	if cfg.Addr == "" {
		return nil
	}
	return []string{cfg.Addr}
}

// startEdge connects to Cloudflare, or starts the local edge when no
// credentials are configured. A missing workerd does not stop the portal.
func startEdge(ctx context.Context, cfg *Config, ingestToken string, key []byte, store *models.Store, log *slog.Logger) (*edge, error) {
	e := &edge{namespace: cfg.CFNamespace, local: cfg.LocalEdge()}
	if !e.local {
		e.cf = workers.NewCloudflare(workers.CloudflareConfig{APIToken: cfg.CFAPIToken, AccountID: cfg.CFAccountID, BaseURL: cfg.CFBaseURL})
		e.kvID = cfg.CFKVConfigID
		e.edgeURL = "https://" + cfg.BaseDomain
		if _, bopts, _, err := cloudflareBootstrap(cfg); err == nil {
			bopts.IngestToken = ingestToken
			e.bootstrap, e.facURL = &bopts, bopts.FacilitatorURL
		}
		return e, nil
	}
	// The local Cloudflare API's token, generated once into the data dir:
	// serve and the operator commands read it from there.
	apiToken, err := secretFile(cfg.DataDir, "cloudflare.token")
	if err != nil {
		return nil, fmt.Errorf("unable to read or create the local Cloudflare API token in %s: %w", cfg.DataDir, err)
	}
	if !ownsLocalEdge(ctx) {
		// Operator commands use the local Cloudflare API of the running
		// portal: two processes must not share its state directory.
		e.cf = workers.NewCloudflare(workers.CloudflareConfig{APIToken: apiToken, AccountID: "local", BaseURL: "http://" + cfg.LocalCFAddr + "/client/v4", MaxRetries: -1})
		res, err := workers.Bootstrap(ctx, e.cf, workers.BootstrapOptions{Namespace: e.namespace, SkipWorkers: true})
		if err != nil {
			return nil, fmt.Errorf("the local Cloudflare API at %s does not answer: start `402claw serve` first (it runs the local edge): %w", cfg.LocalCFAddr, err)
		}
		e.kvID = res.KVNamespaceID
		return e, nil
	}
	// workerd's own token for /runtime/ (scripts with secrets, KV): new on
	// every start, kept in memory and in workerd's private config only.
	runtimeToken := models.NewSecret(32)
	srv, err := localcf.New(filepath.Join(cfg.DataDir, "cloudflare"), localcf.Options{Token: apiToken, RuntimeToken: runtimeToken, SecretKey: key})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, func() { srv.Close() })
	ln, err := net.Listen("tcp", cfg.LocalCFAddr)
	if err != nil {
		e.close()
		return nil, fmt.Errorf("CLAW_LOCAL_CF_ADDR: unable to listen on %s: %v", cfg.LocalCFAddr, err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	e.closers = append(e.closers, func() { hs.Close() })
	apiURL := "http://" + ln.Addr().String()
	e.cf = workers.NewCloudflare(workers.CloudflareConfig{APIToken: apiToken, AccountID: "local", BaseURL: apiURL + "/client/v4"})

	// The dev facilitator settles the testnets only: mainnet becomes available when the operator
	// configures a facilitator that settles it (Admin → Facilitators).
	var testnets []x402.Network
	for _, n := range x402.Networks() {
		if n.Testnet {
			testnets = append(testnets, n)
		}
	}
	fac, err := facilitator.New(facilitator.Options{NoncePath: filepath.Join(cfg.DataDir, "facilitator-nonces.log"), Networks: testnets,
		Behaviour: facilitator.Behaviour{VerifyDelay: cfg.DevVerifyDelay, SettleDelay: cfg.DevSettleDelay, Faults: cfg.DevFaults}})
	if err != nil {
		e.close()
		return nil, err
	}
	e.facilitator = fac
	facURL := cfg.FacilitatorURL
	if facURL == "" {
		facURL = cfg.BaseURL + "/dev-facilitator"
	}
	e.facURL = facURL
	ingestURL := cfg.BaseURL + "/internal/telemetry"
	var facList, facAuth string
	if store != nil {
		fs, err := store.Facilitators(ctx)
		if err == nil {
			facList, facAuth, err = workers.FacilitatorBindings(fs, key)
		}
		redactFacilitatorAuth(facAuth)
		if err != nil {
			log.Error("configured facilitators not read; every network goes to the default facilitator", "err", err)
		}
	}
	res, err := workers.Bootstrap(ctx, e.cf, workers.BootstrapOptions{Namespace: e.namespace, BaseDomain: cfg.BaseDomain,
		IngestURL: ingestURL, IngestToken: ingestToken, PortalURL: cfg.BaseURL, FacilitatorURL: facURL, Facilitators: facList, FacilitatorAuth: facAuth,
		OptimisticRefuse: &cfg.OptimisticRefuse})
	if err != nil {
		e.close()
		return nil, err
	}
	e.kvID = res.KVNamespaceID
	e.edgeURL = "http://" + cfg.EdgeAddr

	path := cfg.WorkerdPath
	if path == "" {
		path, err = runtime.FindWorkerd(".", filepath.Dir(os.Args[0]), filepath.Join(filepath.Dir(os.Args[0]), ".."))
	}
	if err != nil {
		e.runtimeErr = err
		log.Warn("local edge not started: workerd is missing; run `npm ci` (make run does it)", "err", err)
		return e, nil
	}
	e.runaways = make(chan runtime.Runaway, 16)
	rt, err := runtime.Start(ctx, runtime.Options{
		WorkerdPath: path, ListenAddr: cfg.EdgeAddr, EdgeAPIURL: apiURL, EdgeAPIToken: runtimeToken, Namespace: e.namespace,
		PrivateEgress: cfg.PrivateEgress, TrustClientIP: cfg.TrustClientIP, Platform: portalAddr(cfg), ConfigKey: workers.ConfigKeyHex(key),
		ConfigKVNamespaceID: e.kvID, BaseDomain: cfg.BaseDomain, IngestURL: ingestURL, IngestToken: ingestToken, PortalURL: cfg.BaseURL,
		DataDir: cfg.DataDir, Logger: log, AsyncTrace: true, SubrequestEmulation: true,
		FacilitatorURL: facURL, Facilitators: facList, FacilitatorAuth: facAuth, OptimisticRefuse: &cfg.OptimisticRefuse,
		OnRunaway: e.reportRunaway(log),
	})
	if err != nil {
		e.runtimeErr = err
		log.Error("local edge failed to start; the portal runs without it", "err", err)
		return e, nil
	}
	e.runtime = rt
	e.edgeURL = rt.URL()
	e.closers = append(e.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Stop(sctx)
	})
	// Every write of an app's config document (deploy, rollback, settings,
	// routes, plan) preloads it into the edge: the next request sees it at
	// once and does not pay for loading the worker.
	stopWatch := srv.OnChange(func(ev localcf.Event) {
		if slug, ok := strings.CutPrefix(ev.Name, "app:"); ok && ev.Kind == "kv" && ev.Namespace == e.kvID {
			rt.PreloadLater(slug)
		}
	})
	e.closers = append(e.closers, stopWatch)
	log.Info("local edge running", "edge", e.edgeURL, "cloudflare_api", apiURL, "facilitator", facURL)
	return e, nil
}
