package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// warmSocket waits for workerd's warm-up socket and returns its address
// ("" when it did not listen).
func (r *Runtime) warmSocket(ctx context.Context, port <-chan int) string {
	var p int
	// workerd opens all its sockets together; if it dies meanwhile, the
	// wait ends with the timer and runOnce sees the exit.
	select {
	case p = <-port:
	case <-ctx.Done():
		return ""
	case <-time.After(5 * time.Second):
		r.log.Warn("workerd warm-up socket did not listen; no warm-up and no watchdog")
		return ""
	}
	addr := "127.0.0.1:" + strconv.Itoa(p)
	if err := r.egress.AddPlatform(addr); err != nil {
		r.log.Error("unable to close the control socket to tenants", "err", err)
	}
	r.mu.Lock()
	r.warmAddr = addr
	r.mu.Unlock()
	return addr
}

// warmUp asks the dispatcher's WarmUp entrypoint to prepare what the first
// request would otherwise pay for (the payment lock's storage, compiling the
// dispatcher's code). A failure is logged, never fatal: requests still work,
// only slower at first.
func (r *Runtime) warmUp(ctx context.Context, addr string) {
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(wctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return
	}
	started := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.log.Warn("workerd warm-up failed", "err", err)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	// Free path, unpaid 402 and paid path, three times each.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"statuses":[200,402,200,200,402,200,200,402,200]`) {
		r.log.Warn("workerd warm-up failed", "status", resp.StatusCode, "body", string(body))
		return
	}
	r.log.Info("workerd warmed up", "took", time.Since(started).Round(time.Millisecond))
	go r.probeFacilitator(ctx)
	r.mu.Lock()
	afterStall := r.afterStall
	r.mu.Unlock()
	if afterStall {
		// Preloading runs every app's top level: the tenant that stalled
		// the last workerd could do it again before its pause reaches the
		// edge. Apps load on their first request instead.
		r.log.Info("apps not preloaded after a watchdog restart; each loads on its first request")
		return
	}
	started = time.Now()
	var all struct {
		Apps []PreloadResult `json:"apps"`
	}
	if err := r.askEdge(ctx, "/preload", &all); err != nil {
		r.log.Warn("preloading apps failed", "err", err)
		return
	}
	r.log.Info("apps preloaded", "apps", len(all.Apps), "took", time.Since(started).Round(time.Millisecond))
}

// probeFacilitator asks the edge whether the x402 facilitator answers
// /supported, once a second for up to 15 s: a facilitator that never answers
// is worth a warning at start rather than a 502 on the first paid request,
// and a successful probe leaves the first payment's facilitator calls warm.
func (r *Runtime) probeFacilitator(ctx context.Context) {
	var res struct {
		URL   string `json:"url"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	for attempt := 0; attempt < 15; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
		if err := r.askEdge(ctx, "/facilitator", &res); err != nil {
			res.Error = err.Error()
			continue
		}
		if res.OK {
			r.log.Info("x402 facilitator answers", "facilitator", res.URL)
			return
		}
	}
	r.log.Warn("the x402 facilitator does not answer /supported: paid routes answer 502 or 503 until it does",
		"facilitator", res.URL, "err", res.Error)
}

// PreloadResult is what a preload did for one app.
type PreloadResult struct {
	Slug   string `json:"slug"`
	Found  bool   `json:"found"`  // the app has a config document
	Loaded bool   `json:"loaded"` // its worker is loaded (not for apps without code, suspended or paused)
	Error  string `json:"error,omitempty"`
}

// Preload makes the running edge read the app's config document afresh and
// load its worker, without calling it: the portal calls it after every write
// of the document (deploys, config changes), so the next request sees the
// change at once, whatever the config cache's TTL, and does not pay for
// loading the worker. After a start the runtime does the same for every app
// (at most 100). Nothing of the tenant's code runs but its modules' top level.
func (r *Runtime) Preload(ctx context.Context, slug string) (PreloadResult, error) {
	var res PreloadResult
	err := r.askEdge(ctx, "/preload/"+url.PathEscape(slug), &res)
	if err == nil && res.Error != "" {
		err = fmt.Errorf("runtime: preloading %s: %s", slug, res.Error)
	}
	return res, err
}

// PreloadLater queues a Preload of the app and returns at once. Queued
// preloads run one at a time in the background; several writes of one app's
// document before its turn come to one preload. Failures are logged: the
// next request loads the app itself.
func (r *Runtime) PreloadLater(slug string) {
	r.queueMu.Lock()
	defer r.queueMu.Unlock()
	if r.inQueue == nil {
		r.inQueue = map[string]bool{}
	}
	if r.inQueue[slug] {
		return
	}
	r.inQueue[slug] = true
	r.queued = append(r.queued, slug)
	if r.draining {
		return
	}
	r.draining = true
	go r.drainPreloads()
}

func (r *Runtime) drainPreloads() {
	for {
		r.queueMu.Lock()
		if len(r.queued) == 0 {
			r.draining = false
			r.queueMu.Unlock()
			return
		}
		slug := r.queued[0]
		r.queued = r.queued[1:]
		delete(r.inQueue, slug)
		r.queueMu.Unlock()
		select {
		case <-r.done:
			return
		default:
		}
		if res, err := r.Preload(context.Background(), slug); err != nil {
			r.log.Warn("preloading an app failed", "app", slug, "err", err)
		} else {
			r.log.Debug("app preloaded", "app", slug, "found", res.Found, "loaded", res.Loaded)
		}
	}
}

// askEdge POSTs to the warm-up socket's path and decodes its JSON answer
// into out (a 502 carries a preload's error in its body).
func (r *Runtime) askEdge(ctx context.Context, path string, out any) error {
	r.mu.Lock()
	addr, running := r.warmAddr, r.status.Running
	r.mu.Unlock()
	if addr == "" || !running {
		return errors.New("runtime: workerd is not running")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("runtime: preload answered %d: %.200s", resp.StatusCode, body)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusBadGateway {
		return fmt.Errorf("runtime: preload answered %d: %.200s", resp.StatusCode, body)
	}
	return nil
}
