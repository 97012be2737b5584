package workers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/workers/dispatcher"
	"github.com/402claw/402claw/workers/outbound"
	"github.com/402claw/402claw/workers/tail"
)

// Names of the platform's own workers and KV namespace on Cloudflare.
const (
	DispatcherWorker = "402claw-dispatcher"
	OutboundWorker   = "402claw-outbound"
	// TailWorker receives the trace of every user worker (their uploads name it in
	// tail_consumers) and sends their log lines to the portal.
	TailWorker    = "402claw-tail"
	ConfigKVTitle = "402claw-config"
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
	PortalURL      string // the portal's public base URL: the 402 page's docs and report links
	IngestToken    string
	FacilitatorURL string
	// Facilitators and FacilitatorAuth are the dispatcher's FACILITATORS (plain text) and
	// FACILITATOR_AUTH (secret) from the operator's facilitators (FacilitatorBindings); empty:
	// every network goes to FacilitatorURL.
	Facilitators, FacilitatorAuth string
	// OptimisticRefuse becomes the dispatcher's OPTIMISTIC_REFUSE_S (nil: its default, an hour).
	OptimisticRefuse *time.Duration
	// ConfigKey (ConfigKeyHex of the secret key) lets the dispatcher verify that a config
	// document was written by the portal; empty: documents are not verified.
	ConfigKey string
	// AnalyticsDataset binds the dispatcher's ANALYTICS to this Workers Analytics Engine dataset:
	// its telemetry events go there (read back by AnalyticsPuller) instead of to IngestURL.
	AnalyticsDataset string
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
	Tail             ScriptInfo
	// MigrationFrom is the dispatcher's Durable Object migration tag before the upload,
	// MigrationTag after it; Migrated says the upload declared migrations.
	MigrationFrom, MigrationTag string
	Migrated                    bool
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
	if r.Tail.Name != "" {
		out = append(out, fmt.Sprintf("tail worker %q uploaded (etag %s); user workers name it in tail_consumers", r.Tail.Name, etag12(r.Tail.ETag)))
	}
	if r.Dispatcher.Name != "" {
		out = append(out, fmt.Sprintf("dispatcher worker %q uploaded (etag %s)", r.Dispatcher.Name, etag12(r.Dispatcher.ETag)))
		switch {
		case r.Migrated && r.MigrationFrom == "":
			out = append(out, fmt.Sprintf("Durable Object migrations applied up to %s", r.MigrationTag))
		case r.Migrated:
			out = append(out, fmt.Sprintf("Durable Object migrations applied from %s to %s", r.MigrationFrom, r.MigrationTag))
		case r.MigrationTag != "":
			out = append(out, fmt.Sprintf("Durable Object migrations already at %s", r.MigrationTag))
		}
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
	if r.Outbound, err = cf.UploadWorker(ctx, OutboundWorker, OutboundUpload(o)); err != nil {
		return r, fmt.Errorf("bootstrap: unable to upload the outbound worker: %w", err)
	}
	if r.Tail, err = cf.UploadWorker(ctx, TailWorker, TailUpload(o)); err != nil {
		return r, fmt.Errorf("bootstrap: unable to upload the tail worker: %w", err)
	}
	up := DispatcherUpload(o, r.KVNamespaceID)
	if up.Migrations != nil {
		// Cloudflare applies a migration only from the tag the script is at (10079 otherwise),
		// so read the current tag and send just the steps after it, as wrangler does.
		current, _, err := cf.WorkerMigrationTag(ctx, DispatcherWorker)
		if err != nil {
			return r, fmt.Errorf("bootstrap: unable to read the dispatcher's Durable Object migration tag: %w", err)
		}
		if up.Migrations, err = MigrationsToUpload(current, DispatcherMigrations); err != nil {
			return r, fmt.Errorf("bootstrap: %w", err)
		}
		r.MigrationFrom = current
	}
	if r.Dispatcher, err = cf.UploadWorker(ctx, DispatcherWorker, up); err != nil {
		return r, fmt.Errorf("bootstrap: unable to upload the dispatcher: %w", err)
	}
	r.Migrated = up.Migrations != nil
	r.MigrationTag = DispatcherMigrations[len(DispatcherMigrations)-1].Tag
	return r, nil
}

// MigrationStep is one Durable Object migration of a worker, as in wrangler's [[migrations]].
// Steps are frozen once released: a change of classes is a new step with a new tag.
type MigrationStep struct {
	Tag              string   `json:"-"`
	NewClasses       []string `json:"new_classes,omitempty"`
	NewSQLiteClasses []string `json:"new_sqlite_classes,omitempty"`
	DeletedClasses   []string `json:"deleted_classes,omitempty"`
	RenamedClasses   []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"renamed_classes,omitempty"`
}

// DispatcherMigrations are the dispatcher's Durable Object migrations, oldest first. Add a step
// (v2, …) to change its classes; never edit a released one.
var DispatcherMigrations = []MigrationStep{
	{Tag: "v1", NewSQLiteClasses: []string{"PaymentLock"}},
	{Tag: "v2", NewSQLiteClasses: []string{"CallerLimiter"}},
}

// Migrations is metadata.migrations of an upload in the multi-step form.
type Migrations struct {
	OldTag string          `json:"old_tag,omitempty"`
	NewTag string          `json:"new_tag"`
	Steps  []MigrationStep `json:"steps"`
}

// MigrationsToUpload is what an upload must declare for a script at migration tag current
// ("" for none): nothing when it is at the last step already, else the steps after current
// with old_tag = current. A current tag that is not among the steps (the worker was deployed
// by a newer 402claw, or by hand) is an error: guessing would make Cloudflare refuse the upload
// or, worse, apply steps twice.
func MigrationsToUpload(current string, steps []MigrationStep) (*Migrations, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	last := steps[len(steps)-1].Tag
	if current == "" {
		return &Migrations{NewTag: last, Steps: steps}, nil
	}
	for i, st := range steps {
		if st.Tag != current {
			continue
		}
		if i == len(steps)-1 {
			return nil, nil
		}
		return &Migrations{OldTag: current, NewTag: last, Steps: steps[i+1:]}, nil
	}
	known := make([]string, len(steps))
	for i, st := range steps {
		known[i] = st.Tag
	}
	return nil, fmt.Errorf("the worker is at Durable Object migration tag %q, which this 402claw does not know (it knows %s): "+
		"it was deployed by another version of 402claw or by hand; deploy it with the 402claw that set that tag, or upgrade 402claw",
		current, strings.Join(known, ", "))
}

// OutboundUpload is the outbound worker's upload form. It reports blocked egress itself (see
// outbound.js): it shares none of the dispatcher's bindings, so its telemetry endpoint and
// token are its own bindings.
func OutboundUpload(o BootstrapOptions) ScriptUpload {
	u := ScriptUpload{
		MainModule:        outbound.MainModule,
		Modules:           []ScriptModule{{Name: outbound.MainModule, Content: []byte(outbound.Script)}},
		CompatibilityDate: EdgeCompatibilityDate,
		Tags:              []string{"402claw", "402claw-outbound"},
	}
	if o.IngestURL != "" {
		u.Bindings = []Binding{
			{"type": "plain_text", "name": "INGEST_URL", "text": o.IngestURL},
			{"type": "secret_text", "name": "INGEST_TOKEN", "text": o.IngestToken},
		}
	}
	return u
}

// TailUpload is the tail worker's upload form: its modules and where to send
// the lines (the same ingest endpoint and token as the dispatcher's telemetry).
func TailUpload(o BootstrapOptions) ScriptUpload {
	mods := tail.Modules()
	names := make([]string, 0, len(mods))
	for n := range mods {
		names = append(names, n)
	}
	sort.Strings(names)
	u := ScriptUpload{MainModule: tail.MainModule, CompatibilityDate: EdgeCompatibilityDate, Tags: []string{"402claw", "402claw-tail"}}
	for _, n := range names {
		u.Modules = append(u.Modules, ScriptModule{Name: n, Content: []byte(mods[n])})
	}
	if o.IngestURL != "" {
		u.Bindings = []Binding{
			{"type": "plain_text", "name": "INGEST_URL", "text": o.IngestURL},
			{"type": "secret_text", "name": "INGEST_TOKEN", "text": o.IngestToken},
		}
	}
	return u
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
	if o.PortalURL != "" {
		u.Bindings = append(u.Bindings, Binding{"type": "plain_text", "name": "PORTAL_URL", "text": o.PortalURL})
	}
	if o.AnalyticsDataset != "" {
		u.Bindings = append(u.Bindings, Binding{"type": "analytics_engine", "name": "ANALYTICS", "dataset": o.AnalyticsDataset})
	}
	if o.FacilitatorURL != "" {
		u.Bindings = append(u.Bindings, Binding{"type": "plain_text", "name": "FACILITATOR_URL", "text": o.FacilitatorURL})
	}
	if o.ConfigKey != "" {
		u.Bindings = append(u.Bindings, Binding{"type": "secret_text", "name": "CONFIG_KEY", "text": o.ConfigKey})
	}
	if o.OptimisticRefuse != nil {
		u.Bindings = append(u.Bindings, Binding{"type": "plain_text", "name": "OPTIMISTIC_REFUSE_S", "text": strconv.FormatInt(int64(*o.OptimisticRefuse/time.Second), 10)})
	}
	if o.Facilitators != "" {
		u.Bindings = append(u.Bindings, Binding{"type": "plain_text", "name": "FACILITATORS", "text": o.Facilitators})
	}
	if o.FacilitatorAuth != "" && o.FacilitatorAuth != "{}" {
		// A secret binding: never in KV, not readable back through the API.
		u.Bindings = append(u.Bindings, Binding{"type": "secret_text", "name": "FACILITATOR_AUTH", "text": o.FacilitatorAuth})
	}
	if hasLock {
		// The payment lock is a Durable Object class the dispatcher exports.
		u.Bindings = append(u.Bindings, Binding{"type": "durable_object_namespace", "name": "LOCK", "class_name": "PaymentLock"})
		// Per-caller limits: one CallerLimiter object per app, route and caller.
		u.Bindings = append(u.Bindings, Binding{"type": "durable_object_namespace", "name": "LIMIT", "class_name": "CallerLimiter"})
		// Every step, as for a new script; Bootstrap trims it to the steps after the
		// dispatcher's current tag.
		u.Migrations, _ = MigrationsToUpload("", DispatcherMigrations)
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
