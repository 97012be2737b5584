package workers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/402claw/402claw/workers/dispatcher"
	"github.com/402claw/402claw/workers/outbound"
)

// Names of the platform's own workers and KV namespace on Cloudflare.
const (
	DispatcherWorker = "402claw-dispatcher"
	OutboundWorker   = "402claw-outbound"
	ConfigKVTitle    = "402claw-config"
	// EdgeCompatibilityDate pins the runtime behaviour of our own workers.
	EdgeCompatibilityDate = "2026-11-01"
)

// OutboundParams are the values the dispatcher passes to the outbound worker
// for each user worker (see dispatcher.js).
var OutboundParams = []string{"app", "tenant_id", "allow"}

// BootstrapOptions say what the dispatcher needs to know.
type BootstrapOptions struct {
	Namespace      string // dispatch namespace of the user workers
	KVNamespaceID  string // config KV; empty: find or create one titled ConfigKVTitle
	BaseDomain     string
	IngestURL      string // the portal's telemetry endpoint
	IngestToken    string
	FacilitatorURL string
	// ConfigKey (ConfigKeyHex of the secret key) lets the dispatcher verify that a config
	// document was written by the portal; empty: documents are not verified.
	ConfigKey string
	// SkipWorkers creates the namespaces only (the local edge runs our JS in workerd itself).
	SkipWorkers bool
}

// BootstrapResult says what Bootstrap found or did, for the operator.
type BootstrapResult struct {
	Namespace        string
	NamespaceCreated bool
	KVNamespaceID    string
	KVCreated        bool
	Dispatcher       ScriptInfo
	Outbound         ScriptInfo
}

// Lines is the result as sentences for the terminal.
func (r BootstrapResult) Lines() []string {
	state := func(created bool) string {
		if created {
			return "created"
		}
		return "found"
	}
	out := []string{
		fmt.Sprintf("dispatch namespace %q: %s", r.Namespace, state(r.NamespaceCreated)),
		fmt.Sprintf("config KV namespace %s: %s", r.KVNamespaceID, state(r.KVCreated)),
	}
	if r.Outbound.Name != "" {
		out = append(out, fmt.Sprintf("outbound worker %q uploaded (etag %s)", r.Outbound.Name, etag12(r.Outbound.ETag)))
	}
	if r.Dispatcher.Name != "" {
		out = append(out, fmt.Sprintf("dispatcher worker %q uploaded (etag %s)", r.Dispatcher.Name, etag12(r.Dispatcher.ETag)))
	}
	return out
}

// Bootstrap makes an account ready for 402claw: it finds or creates the
// dispatch namespace and the config KV namespace, then uploads the outbound
// worker and the dispatcher with their bindings. Every step is idempotent.
func Bootstrap(ctx context.Context, cf *Cloudflare, o BootstrapOptions) (BootstrapResult, error) {
	if o.Namespace == "" {
		return BootstrapResult{}, errors.New("bootstrap: a dispatch namespace name is required")
	}
	r := BootstrapResult{Namespace: o.Namespace}
	nss, err := cf.DispatchNamespaces(ctx)
	if err != nil {
		return r, fmt.Errorf("bootstrap: unable to list dispatch namespaces: %w", err)
	}
	if !contains(nss, o.Namespace) {
		if err := cf.CreateDispatchNamespace(ctx, o.Namespace); err != nil {
			return r, fmt.Errorf("bootstrap: unable to create dispatch namespace %q: %w", o.Namespace, err)
		}
		r.NamespaceCreated = true
	}
	r.KVNamespaceID = o.KVNamespaceID
	if r.KVNamespaceID == "" {
		kvs, err := cf.KVNamespaces(ctx)
		if err != nil {
			return r, fmt.Errorf("bootstrap: unable to list KV namespaces: %w", err)
		}
		for _, k := range kvs {
			if k.Title == ConfigKVTitle {
				r.KVNamespaceID = k.ID
			}
		}
		if r.KVNamespaceID == "" {
			k, err := cf.CreateKVNamespace(ctx, ConfigKVTitle)
			if err != nil {
				return r, fmt.Errorf("bootstrap: unable to create KV namespace %q: %w", ConfigKVTitle, err)
			}
			r.KVNamespaceID, r.KVCreated = k.ID, true
		}
	}
	if o.SkipWorkers {
		return r, nil
	}
	if r.Outbound, err = cf.UploadWorker(ctx, OutboundWorker, OutboundUpload()); err != nil {
		return r, fmt.Errorf("bootstrap: unable to upload the outbound worker: %w", err)
	}
	if r.Dispatcher, err = cf.UploadWorker(ctx, DispatcherWorker, DispatcherUpload(o, r.KVNamespaceID)); err != nil {
		return r, fmt.Errorf("bootstrap: unable to upload the dispatcher: %w", err)
	}
	return r, nil
}

// OutboundUpload is the outbound worker's upload form.
func OutboundUpload() ScriptUpload {
	return ScriptUpload{
		MainModule:        outbound.MainModule,
		Modules:           []ScriptModule{{Name: outbound.MainModule, Content: []byte(outbound.Script)}},
		CompatibilityDate: EdgeCompatibilityDate,
		Tags:              []string{"402claw", "402claw-outbound"},
	}
}

// DispatcherUpload is the dispatcher's upload form: the namespace binding
// with the outbound declaration, the config KV, and its settings.
func DispatcherUpload(o BootstrapOptions, kvID string) ScriptUpload {
	mods := dispatcher.Modules()
	names := make([]string, 0, len(mods))
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	u := ScriptUpload{MainModule: dispatcher.MainModule, CompatibilityDate: EdgeCompatibilityDate, Tags: []string{"402claw", "402claw-dispatcher"}}
	hasLock := false
	for _, n := range names {
		u.Modules = append(u.Modules, ScriptModule{Name: n, Content: []byte(mods[n])})
		hasLock = hasLock || strings.Contains(mods[n], "class PaymentLock")
	}
	params := make([]map[string]string, 0, len(OutboundParams))
	for _, p := range OutboundParams {
		params = append(params, map[string]string{"name": p})
	}
	u.Bindings = []Binding{
		{"type": "dispatch_namespace", "name": "DISPATCHER", "namespace": o.Namespace,
			"outbound": map[string]any{"worker": map[string]string{"service": OutboundWorker}, "params": params}},
		{"type": "kv_namespace", "name": "CONFIG", "namespace_id": kvID},
		{"type": "plain_text", "name": "BASE_DOMAIN", "text": o.BaseDomain},
	}
	if o.IngestURL != "" {
		u.Bindings = append(u.Bindings,
			Binding{"type": "plain_text", "name": "INGEST_URL", "text": o.IngestURL},
			Binding{"type": "secret_text", "name": "INGEST_TOKEN", "text": o.IngestToken})
	}
	if o.FacilitatorURL != "" {
		u.Bindings = append(u.Bindings, Binding{"type": "plain_text", "name": "FACILITATOR_URL", "text": o.FacilitatorURL})
	}
	if o.ConfigKey != "" {
		u.Bindings = append(u.Bindings, Binding{"type": "secret_text", "name": "CONFIG_KEY", "text": o.ConfigKey})
	}
	if hasLock {
		// The payment lock is a Durable Object class the dispatcher exports.
		u.Bindings = append(u.Bindings, Binding{"type": "durable_object_namespace", "name": "LOCK", "class_name": "PaymentLock"})
		u.Migrations = map[string]any{"new_tag": "v1", "new_sqlite_classes": []string{"PaymentLock"}}
	}
	return u
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func etag12(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
