package workers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/402claw/402claw/models/x402"
)

// CheckOptions configure EdgeCheck.
type CheckOptions struct {
	// Bootstrap is what `402claw edge bootstrap` would use; the check bootstraps twice with it.
	Bootstrap BootstrapOptions
	// EdgeURL is where the dispatcher answers (https://<base domain>); the throwaway app is
	// called at EdgeURL/<slug>/….
	EdgeURL string
	// SecretKey signs the app's config document as the portal does (the dispatcher's
	// CONFIG_KEY is derived from it); nil leaves it unsigned.
	SecretKey []byte
	// Propagation is how long a call through the edge may wait for KV to deliver the config
	// document (Cloudflare: up to about 60 s); default 90 s.
	Propagation time.Duration
	HTTPClient  *http.Client
	// Out receives each step's line as it finishes; nil prints nothing.
	Out io.Writer
	// BootstrapFunc replaces Bootstrap (tests run the old code path through it).
	BootstrapFunc func(context.Context, *Cloudflare, BootstrapOptions) (BootstrapResult, error)
}

// CheckStep is one step of EdgeCheck.
type CheckStep struct {
	Name   string
	OK     bool
	Detail string // what was found, or Cloudflare's own error text
}

func (s CheckStep) String() string {
	state := "PASS"
	if !s.OK {
		state = "FAIL"
	}
	return fmt.Sprintf("%s  %-28s %s", state, s.Name, s.Detail)
}

// CheckReport is what EdgeCheck did.
type CheckReport struct {
	Steps []CheckStep
	// Listing is how the account answered the list-scripts call (shape and paging).
	Listing string
}

// Failed returns the first failed step, nil when every step passed.
func (r CheckReport) Failed() *CheckStep {
	for i := range r.Steps {
		if !r.Steps[i].OK {
			return &r.Steps[i]
		}
	}
	return nil
}

// ErrCheckFailed is matched by EdgeCheck's error when a step failed.
var ErrCheckFailed = errors.New("edge check failed")

// The throwaway app's code: a free route answers checkBody; the priced one never runs unpaid.
const (
	checkBody   = "402claw edge check ok"
	checkModule = `export default { fetch() { return new Response("` + checkBody + `"); } };`
	checkTag    = "402claw-check"
	// checkPayTo receives nothing: the check never pays.
	checkPayTo = "0x000000000000000000000000000000000000dEaD"
)

// EdgeCheck runs a small end-to-end script against a Cloudflare account (or the emulator):
// bootstrap twice, upload a throwaway app, read it back, list it by tag, write and list KV in
// bulk, call it through the dispatcher (a free route answers, a priced route asks for payment
// with a 402), delete it by tag, and clean up. The throwaway app is tagged 402claw-check, not
// with the owner tag, so a reconcile running meanwhile does not see its script. It stops at the
// first failed step (cleaning up all the same); its error matches ErrCheckFailed and names the
// step with Cloudflare's own error text.
func EdgeCheck(ctx context.Context, cf *Cloudflare, o CheckOptions) (CheckReport, error) {
	if o.BootstrapFunc == nil {
		o.BootstrapFunc = Bootstrap
	}
	if o.Propagation <= 0 {
		o.Propagation = 90 * time.Second
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	var rep CheckReport
	ns := o.Bootstrap.Namespace
	id := randomHex(3)
	slug := "zzcheck-" + id
	script := "app-" + slug
	filter := "check:" + id + ":yes"
	kvPrefix := "check:" + id + ":"
	var kvID string
	var scriptETag string

	step := func(name string, run func() (string, error)) bool {
		if rep.Failed() != nil {
			return false
		}
		detail, err := run()
		s := CheckStep{Name: name, OK: err == nil, Detail: detail}
		if err != nil {
			s.Detail = err.Error()
		}
		rep.Steps = append(rep.Steps, s)
		if o.Out != nil {
			fmt.Fprintln(o.Out, s)
		}
		return err == nil
	}
	cleanUp := func() {
		// Whatever failed, leave nothing behind.
		cctx := context.WithoutCancel(ctx)
		var problems []string
		if err := cf.DeleteUserScript(cctx, ns, script); err != nil && !errors.Is(err, ErrNotFound) {
			problems = append(problems, err.Error())
		}
		if kvID != "" {
			keys := []string{ConfigKey(slug), kvPrefix + "1", kvPrefix + "2", kvPrefix + "3"}
			if err := cf.DeleteKVBulk(cctx, kvID, keys); err != nil {
				problems = append(problems, err.Error())
			}
		}
		s := CheckStep{Name: "clean up", OK: len(problems) == 0, Detail: "throwaway script and keys removed"}
		if !s.OK {
			s.Detail = strings.Join(problems, "; ")
		}
		rep.Steps = append(rep.Steps, s)
		if o.Out != nil {
			fmt.Fprintln(o.Out, s)
		}
	}

	step("bootstrap", func() (string, error) {
		r, err := o.BootstrapFunc(ctx, cf, o.Bootstrap)
		kvID = r.KVNamespaceID
		if err != nil {
			return "", err
		}
		return bootstrapSummary(r), nil
	})
	step("bootstrap again", func() (string, error) {
		r, err := o.BootstrapFunc(ctx, cf, o.Bootstrap)
		if err != nil {
			return "", err
		}
		if r.Migrated {
			return "", fmt.Errorf("the second run sent Durable Object migrations again (from %q)", r.MigrationFrom)
		}
		return bootstrapSummary(r), nil
	})
	step("upload a throwaway app", func() (string, error) {
		info, err := cf.UploadUserScript(ctx, ns, script, ScriptUpload{
			MainModule: "index.js", CompatibilityDate: CompatibilityDate,
			Modules: []ScriptModule{
				{Name: "index.js", Content: []byte(checkModule)},
				{Name: "index.js.map", ContentType: "application/source-map", Content: []byte(`{"version":3,"sources":["index.js"],"mappings":""}`)},
			},
			Bindings: []Binding{{"type": "plain_text", "name": "CHECK", "text": id}},
			Tags:     []string{checkTag, "check:" + id, ShardTag(script)},
		})
		if err != nil {
			return "", err
		}
		scriptETag = info.ETag
		return fmt.Sprintf("%s (etag %s)", script, etag12(info.ETag)), nil
	})
	step("read it back", func() (string, error) {
		info, err := cf.UserScript(ctx, ns, script)
		if err != nil {
			return "", err
		}
		if scriptETag != "" && info.ETag != "" && info.ETag != scriptETag {
			return "", fmt.Errorf("etag %s, the upload answered %s", etag12(info.ETag), etag12(scriptETag))
		}
		tags, err := cf.UserScriptTags(ctx, ns, script)
		if err != nil {
			return "", err
		}
		if !slices.Contains(tags, "check:"+id) {
			return "", fmt.Errorf("tags %q lack check:%s", tags, id)
		}
		return fmt.Sprintf("etag %s, tags %s", etag12(info.ETag), strings.Join(tags, ",")), nil
	})
	step("list by tag", func() (string, error) {
		l, err := cf.ListUserScriptsDetailed(ctx, ns, filter)
		rep.Listing = l.Shape()
		if err != nil {
			return "", err
		}
		if len(l.Scripts) != 1 || l.Scripts[0].Name != script {
			names := make([]string, len(l.Scripts))
			for i, s := range l.Scripts {
				names[i] = s.Name
			}
			return "", fmt.Errorf("listing %s found %q, want [%s] (answers: %s)", filter, names, script, l.Shape())
		}
		return "the account answered with " + l.Shape(), nil
	})
	step("KV bulk write and list", func() (string, error) {
		if kvID == "" {
			return "", errors.New("bootstrap named no config KV namespace")
		}
		pairs := []KVPair{{Key: kvPrefix + "1", Value: "1"}, {Key: kvPrefix + "2", Value: "2"}, {Key: kvPrefix + "3", Value: "3", Metadata: map[string]string{"check": id}}}
		if err := cf.PutKVBulk(ctx, kvID, pairs); err != nil {
			return "", err
		}
		keys, err := cf.KVKeys(ctx, kvID, kvPrefix)
		if err != nil {
			return "", err
		}
		if !slices.Equal(keys, []string{kvPrefix + "1", kvPrefix + "2", kvPrefix + "3"}) {
			return "", fmt.Errorf("listed %q after writing 3 keys", keys)
		}
		return "3 keys written in one bulk call and listed", nil
	})
	step("write the app's config", func() (string, error) {
		req, err := x402.Resolve(x402.DefaultNetwork, "1000", checkPayTo)
		if err != nil {
			return "", err
		}
		doc := ConfigDoc{V: 1, ConfigVersion: 1, Slug: slug, Script: script, ETag: scriptETag, Status: StatusActive,
			Plan: ConfigPlan{Key: "check", CPUMs: 50, SubRequests: 10}, APIKeys: []string{}, Egress: []string{},
			Routes: []ConfigRoute{
				{Method: "GET", Path: "/free", Access: "public", Settle: "after"},
				{Method: "GET", Path: "/paid", Access: "x402", Settle: "after", Requirements: &req,
					Resource: ConfigResource{Description: "402claw edge check", MimeType: "text/plain"}},
			}}
		if err := cf.PutKVBulk(ctx, kvID, []KVPair{ConfigPair(o.SecretKey, ConfigKey(slug), doc.Encode())}); err != nil {
			return "", err
		}
		return ConfigKey(slug), nil
	})
	base := strings.TrimRight(o.EdgeURL, "/") + "/" + slug
	step("call a free route", func() (string, error) {
		return callUntil(ctx, o, base+"/free", func(res *http.Response, body string) error {
			if res.StatusCode != http.StatusOK || body != checkBody {
				return fmt.Errorf("HTTP %d %q, want 200 %q", res.StatusCode, clipText(body), checkBody)
			}
			return nil
		})
	})
	step("call a priced route", func() (string, error) {
		return callUntil(ctx, o, base+"/paid", func(res *http.Response, body string) error {
			if res.StatusCode != http.StatusPaymentRequired || res.Header.Get("PAYMENT-REQUIRED") == "" {
				return fmt.Errorf("HTTP %d %q, want 402 with a PAYMENT-REQUIRED header", res.StatusCode, clipText(body))
			}
			return nil
		})
	})
	step("delete by tag", func() (string, error) {
		n, err := cf.DeleteUserScriptsByTag(ctx, ns, filter)
		if err != nil {
			return "", err
		}
		if n != 1 {
			return "", fmt.Errorf("deleted %d scripts tagged %s, want 1", n, filter)
		}
		if _, err := cf.UserScript(ctx, ns, script); !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("the script is still there after the delete: %v", err)
		}
		return "1 script deleted, gone when read", nil
	})
	cleanUp()
	if f := rep.Failed(); f != nil {
		return rep, fmt.Errorf("%w at %q: %s", ErrCheckFailed, f.Name, f.Detail)
	}
	return rep, nil
}

func bootstrapSummary(r BootstrapResult) string {
	out := []string{fmt.Sprintf("namespace %s, config KV %s", r.Namespace, r.KVNamespaceID)}
	switch {
	case r.Migrated:
		out = append(out, fmt.Sprintf("Durable Object migrations %q → %s", r.MigrationFrom, r.MigrationTag))
	case r.MigrationTag != "":
		out = append(out, "Durable Object migrations already at "+r.MigrationTag)
	}
	return strings.Join(out, "; ")
}

// callUntil calls url until check accepts the answer or the propagation time is up: a config
// document just written may take a while to reach the edge.
func callUntil(ctx context.Context, o CheckOptions, url string, check func(*http.Response, string) error) (string, error) {
	deadline := time.Now().Add(o.Propagation)
	var last error
	for tries := 1; ; tries++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return "", err
		}
		res, err := o.HTTPClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
			res.Body.Close()
			if err = check(res, string(body)); err == nil {
				return fmt.Sprintf("GET %s → HTTP %d (try %d)", url, res.StatusCode, tries), nil
			}
		}
		last = err
		if time.Now().After(deadline) {
			return "", fmt.Errorf("GET %s: %w (after %d tries in %v)", url, last, tries, o.Propagation)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func clipText(s string) string {
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
