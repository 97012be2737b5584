package workers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/cloudflare/cloudflare-go/v4/option"
)

// The builders here turn database state into what the edge gets: the user worker upload and
// the app's config document in KV. They are pure, so the syncer and the reconciler compute the
// same bytes from the same state.

// CompatibilityDate is the workerd/Cloudflare behaviour every user worker runs with.
const CompatibilityDate = "2026-11-01"

// Tag names on user workers; the names at Cloudflare are built in models/edgenames.go.
const (
	OwnerTag       = models.OwnerTag
	ownerFilter    = OwnerTag + ":yes"
	shaTagPrefix   = "sha:"
	fpTagPrefix    = "fp:"
	shardTagPrefix = models.ShardTagPrefix
	digestChars    = 16
)

// ShardTag is models.ShardTag.
func ShardTag(scriptName string) string { return models.ShardTag(scriptName) }

// appScriptRe is the name of every script 402claw creates: "app-" and an app slug
// (models.App.ScriptName). A listed item with any other name is never ours to touch.
var appScriptRe = regexp.MustCompile(`^app-[a-z][a-z0-9-]{2,31}$`)

// IsAppScriptName reports whether name can be the script of an app.
func IsAppScriptName(name string) bool { return appScriptRe.MatchString(name) }

// ConfigKeyPrefix is models.ConfigKeyPrefix.
const ConfigKeyPrefix = models.ConfigKeyPrefix

// ConfigKey is models.ConfigKey.
func ConfigKey(slug string) string { return models.ConfigKey(slug) }

// DecryptedVar is a var ready for upload.
type DecryptedVar = models.DecryptedVar

// BuildScript is the upload of an app's version: its bundled module (and its source map), its vars as plain_text or
// secret_text bindings, its KV store as the KV binding, and the tags the reconciler and
// delete-by-tag use (seven of Cloudflare's eight, with the fp: tag WithFingerprint adds). Vars
// come sorted by name so equal state gives equal bytes.
func BuildScript(app models.App, v models.Version, vars []DecryptedVar, plan models.Plan) ScriptUpload {
	name := v.BundleName
	if name == "" {
		name = "worker.js"
	}
	sorted := slices.Clone(vars)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	bindings := make([]Binding, 0, len(sorted)+1)
	for _, vr := range sorted {
		typ := "plain_text"
		if vr.Secret {
			typ = "secret_text"
		}
		bindings = append(bindings, Binding{"type": typ, "name": vr.Name, "text": vr.Value})
	}
	if app.KVEnabled && app.KVNamespaceID != "" {
		bindings = append(bindings, Binding{"type": "kv_namespace", "name": "KV", "namespace_id": app.KVNamespaceID})
	}
	modules := []ScriptModule{{Name: name, ContentType: "application/javascript+module", Content: v.Bundle}}
	if len(v.SourceMap) > 0 {
		// The bundle's last line names it (//# sourceMappingURL=worker.js.map), as in wrangler's
		// uploads: Cloudflare remaps uncaught exceptions with it. It is no module to run.
		modules = append(modules, ScriptModule{Name: name + ".map", ContentType: "application/source-map", Content: v.SourceMap})
	}
	return ScriptUpload{
		MainModule:        name,
		Modules:           modules,
		CompatibilityDate: CompatibilityDate,
		Bindings:          bindings,
		Tags: []string{
			OwnerTag,
			models.TenantTag(app.TenantID),
			models.AppTag(app.Slug),
			models.PlanTag(plan.Key),
			models.ShardTag(app.ScriptName),
			shaTagPrefix + short(v.SHA256),
		},
	}
}

func short(hexDigest string) string {
	if len(hexDigest) > digestChars {
		return hexDigest[:digestChars]
	}
	return hexDigest
}

// Fingerprint is a keyed digest of everything an upload sends except the fp: tag itself. It is
// keyed (HMAC with the secret box key) because it covers secret values and ends up in a tag
// anyone with read access to the account can see.
func Fingerprint(up ScriptUpload, key []byte) string {
	m := hmac.New(sha256.New, key)
	canon, _ := json.Marshal(struct {
		Main     string    `json:"m"`
		Date     string    `json:"d"`
		Flags    []string  `json:"f"`
		Bindings []Binding `json:"b"`
		Tags     []string  `json:"t"`
		// Left out when empty, so the fingerprints of uploads without one stay as they were.
		Tail []TailConsumer `json:"tc,omitempty"`
	}{up.MainModule, up.CompatibilityDate, up.CompatibilityFlags, up.Bindings, withoutFP(up.Tags), up.TailConsumers})
	m.Write(canon)
	for _, mod := range up.Modules {
		sum := sha256.Sum256(mod.Content)
		fmt.Fprintf(m, "\n%q %q %x", mod.Name, mod.ContentType, sum)
	}
	return hex.EncodeToString(m.Sum(nil))
}

func withoutFP(tags []string) []string {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		if !strings.HasPrefix(t, fpTagPrefix) {
			out = append(out, t)
		}
	}
	return out
}

// WithFingerprint returns up tagged with fp:<first 16 hex of fp>.
func WithFingerprint(up ScriptUpload, fp string) ScriptUpload {
	up.Tags = append(withoutFP(up.Tags), fpTagPrefix+short(fp))
	return up
}

// ScriptDigests reads the sha: and fp: tags of a listed script.
func ScriptDigests(tags []string) (sha, fp string) {
	for _, t := range tags {
		if v, ok := strings.CutPrefix(t, shaTagPrefix); ok {
			sha = v
		} else if v, ok := strings.CutPrefix(t, fpTagPrefix); ok {
			fp = v
		}
	}
	return sha, fp
}

// ExpectedDigests are the sha: and fp: tag values a script built from v with fingerprint fp
// carries.
func ExpectedDigests(versionSHA, fp string) (sha, fpTag string) { return short(versionSHA), short(fp) }

// ConfigDoc is what the dispatcher reads from KV key app:<slug>. Field order is the JSON order.
type ConfigDoc struct {
	V             int           `json:"v"`
	ConfigVersion int64         `json:"config_version"`
	Slug          string        `json:"slug"`
	Script        string        `json:"script"`
	ETag          string        `json:"etag"`
	TenantID      uint          `json:"tenant_id"`
	Status        string        `json:"status"`
	Reason        string        `json:"reason"`
	Plan          ConfigPlan    `json:"plan"`
	Routes        []ConfigRoute `json:"routes"`
	APIKeys       []string      `json:"api_keys"`
	Egress        []string      `json:"egress"`
	KV            *ConfigKV     `json:"kv,omitempty"`
	// Listed: the app is in the public catalog; the edge then answers /llms.txt with the
	// portal's and links the docs page from the 402 HTML page (dispatcher/docs.js).
	Listed bool `json:"listed,omitempty"`
}

// ConfigPlan carries the limits the dispatcher passes to the user worker.
type ConfigPlan struct {
	Key         string `json:"key"`
	CPUMs       int    `json:"cpuMs"`
	SubRequests int    `json:"subRequests"`
}

// ConfigRoute is one route with its payment requirements fully resolved.
type ConfigRoute struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Access string `json:"access"`
	Settle string `json:"settle"`
	// RefuseS is an optimistic route's refusal time in seconds for a payer whose settlement
	// failed; absent, the edge's OPTIMISTIC_REFUSE_S (CLAW_OPTIMISTIC_REFUSE) applies.
	RefuseS      *int               `json:"refuse_s,omitempty"`
	Requirements *x402.Requirements `json:"requirements,omitempty"`
	// Display carries what the 402 page shows beside the requirements (the network's name, the
	// asset's decimals), from the networks table in models/x402: the dispatcher keeps no table
	// of its own.
	Display  *ConfigDisplay `json:"display,omitempty"`
	Resource ConfigResource `json:"resource"`
	// Extensions is the 402 challenge's extensions object (bazaar.go); Limits, the per-caller
	// limits the edge checks before anything else (limits.go).
	Extensions json.RawMessage `json:"extensions,omitempty"`
	Limits     *ConfigLimits   `json:"limits,omitempty"`
}

// ConfigDisplay is how a priced route's payment is shown to a person: the network's name and
// the number of decimals of its asset ("10000" atomic units at 6 decimals are 0.01).
type ConfigDisplay struct {
	NetworkName string `json:"network_name"`
	Decimals    int    `json:"decimals"`
}

// ConfigResource describes what a paid route sells.
type ConfigResource struct {
	Description string   `json:"description"`
	MimeType    string   `json:"mimeType"`
	ServiceName string   `json:"serviceName,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	IconURL     string   `json:"iconUrl,omitempty"`
}

// ConfigKV names the app's KV namespace.
type ConfigKV struct {
	NamespaceID string `json:"namespace_id"`
}

// Config document statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
	StatusPaused    = "paused"
)

// BuildConfig is the config document of st at generation gen. etag is the sha256 of st.Version,
// which is the version the edge holds once the job that writes this document has uploaded it.
// A suspended tenant wins over an app an admin suspended, which wins over a paused app: that
// reason is the one the consumer must see.
func BuildConfig(st models.EdgeState, gen int64) (ConfigDoc, error) {
	doc := ConfigDoc{
		V: 1, ConfigVersion: gen, Slug: st.App.Slug, Script: st.App.ScriptName, TenantID: st.App.TenantID,
		Status: StatusActive,
		Plan:   ConfigPlan{Key: st.Plan.Key, CPUMs: st.Plan.CPUMs, SubRequests: st.Plan.SubRequests},
		Routes: []ConfigRoute{}, APIKeys: []string{}, Egress: []string{},
	}
	if st.Version != nil {
		doc.ETag = st.Version.SHA256
	}
	switch {
	case st.Tenant.Status == models.TenantSuspended:
		doc.Status, doc.Reason = StatusSuspended, st.Tenant.StatusReason
	case st.App.ModerationState == models.ModerationSuspended:
		doc.Status, doc.Reason = StatusSuspended, st.App.ModerationReason
	case st.App.Status == models.AppPaused:
		doc.Status, doc.Reason = StatusPaused, st.App.StatusReason
	}
	caps := st.Plan.LimitCaps()
	for _, r := range st.Routes {
		cr := ConfigRoute{Method: r.Method, Path: r.Path, Access: r.Access, Settle: r.Settle,
			Resource: ConfigResource{Description: r.Description, MimeType: r.MimeType}}
		if cr.Settle == "" {
			cr.Settle = models.SettleAfter
		}
		if r.Access == models.AccessX402 {
			req, err := x402.Resolve(r.Network, r.Amount, r.PayTo)
			if err != nil {
				return ConfigDoc{}, fmt.Errorf("workers: unable to build route %s %s of app %s: %w", r.Method, r.Path, st.App.Slug, err)
			}
			cr.Requirements = &req
			if r.Settle == models.SettleOptimistic && r.RefuseSeconds != nil {
				v := *r.RefuseSeconds
				cr.RefuseS = &v
			}
			if n, ok := x402.NetworkByCAIP2(req.Network); ok {
				cr.Display = &ConfigDisplay{NetworkName: n.Name, Decimals: n.Decimals}
			}
			cr.Resource = WithServiceMetadata(cr.Resource, st.App)
			if cr.Extensions, err = BazaarExtensions(st.App, r); err != nil {
				return ConfigDoc{}, fmt.Errorf("workers: unable to build the discovery data of route %s %s of app %s: %w", r.Method, r.Path, st.App.Slug, err)
			}
		}
		cr.Limits = configLimits(r, caps)
		doc.Routes = append(doc.Routes, cr)
	}
	for _, k := range st.Keys {
		if k.RevokedAt == nil {
			doc.APIKeys = append(doc.APIKeys, k.Hash)
		}
	}
	for _, e := range st.Egress {
		doc.Egress = append(doc.Egress, e.Pattern)
	}
	if st.App.KVEnabled && st.App.KVNamespaceID != "" {
		doc.KV = &ConfigKV{NamespaceID: st.App.KVNamespaceID}
	}
	doc.Listed = st.App.Listed
	return doc, nil
}

// Encode returns the document's bytes as stored in KV.
func (d ConfigDoc) Encode() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(d) // a struct of strings, numbers and slices cannot fail to encode
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// configMeta is the KV metadata stored with a config document: its digest, so the reconciler
// can compare 10,000 documents from the key listing instead of reading each one.
type configMeta struct {
	SHA256 string `json:"sha256"`
}

// DocDigest is the digest recorded in a config document's metadata: an HMAC with the secret
// box key, like the scripts' fp: tag. Anyone who can write the KV namespace can write a
// document together with a matching plain hash, and the reconciler would take the forgery for
// the portal's own; without the key, a written document always looks drifted and is repaired.
// The dispatcher verifies the same digest (workers/dispatcher/config.js readConfig) with
// ConfigKeyHex(key) as its CONFIG_KEY secret and refuses a document whose digest does not
// match its bytes: copying a real document's metadata onto other bytes does not pass there.
func DocDigest(key, value []byte) string {
	m := hmac.New(sha256.New, configKey(key))
	m.Write([]byte(docPrefix))
	m.Write(value)
	return hex.EncodeToString(m.Sum(nil))
}

// docPrefix separates config digests from any other HMAC made with the same key.
const docPrefix = "402claw config document\n"

// configKey derives the config documents' key from the secret box key, so the edge holds a key
// that opens nothing else.
func configKey(secret []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("402claw config key v1"))
	return m.Sum(nil)
}

// ConfigKeyHex is the dispatcher's CONFIG_KEY secret for the secret box key.
func ConfigKeyHex(secret []byte) string { return hex.EncodeToString(configKey(secret)) }

// ConfigPair is the bulk-write entry of a document: raw value plus its keyed digest as metadata.
func ConfigPair(macKey []byte, key string, value []byte) KVPair {
	return KVPair{Key: key, Value: string(value), Metadata: configMeta{SHA256: DocDigest(macKey, value)}}
}

// KVKey is a listed key with the digest from its metadata ("" when it has none).
type KVKey struct {
	Name   string
	SHA256 string
}

// KVKeysWithDigest lists the keys under prefix with their metadata digests, following the
// cursor. (KVKeys drops the metadata, which is all the reconciler needs.)
func (c *Cloudflare) KVKeysWithDigest(ctx context.Context, nsID, prefix string) ([]KVKey, error) {
	path := c.accountPath("storage/kv/namespaces/%s/keys", nsID)
	var keys []KVKey
	cursor := ""
	for {
		opts := []option.RequestOption{option.WithQuery("limit", "1000"), option.WithQuery("prefix", prefix)}
		if cursor != "" {
			opts = append(opts, option.WithQuery("cursor", cursor))
		}
		var page []struct {
			Name     string          `json:"name"`
			Metadata json.RawMessage `json:"metadata"`
		}
		env, err := c.call(ctx, http.MethodGet, path, &page, opts...)
		if err != nil {
			return nil, fmt.Errorf("cloudflare: unable to list kv keys: %w", err)
		}
		for _, k := range page {
			var m configMeta
			if len(k.Metadata) > 0 {
				json.Unmarshal(k.Metadata, &m) // foreign metadata just means "no digest"
			}
			keys = append(keys, KVKey{Name: k.Name, SHA256: m.SHA256})
		}
		if env.cursor() == "" || env.cursor() == cursor || len(page) == 0 {
			return keys, nil
		}
		cursor = env.cursor()
	}
}

// shardListConcurrency bounds the shard listings running at once.
const shardListConcurrency = 8

// ListOwnedScripts lists every user worker carrying the owner tag. It follows the cursor when
// the API pages by one; when an answer without a cursor holds a whole page (so it may be cut),
// it lists the 256 shards one by one instead, and fails if a shard's page is full too: acting
// on a partial list would take the rest for missing.
func (c *Cloudflare) ListOwnedScripts(ctx context.Context, namespace string) (ScriptListing, error) {
	var l ScriptListing
	full, err := c.listScripts(ctx, namespace, []string{ownerFilter}, &l, map[string]bool{})
	if err != nil || !full {
		return l, err
	}
	// Scripts deployed before shard tags existed show up in the unsharded page only; they are
	// kept, and the reconciler re-tags them.
	shards := ScriptListing{Sharded: true, Nested: l.Nested, Flat: l.Flat, WithTags: l.WithTags, Skipped: l.Skipped, Pages: l.Pages}
	seen := map[string]bool{}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, shardListConcurrency)
	var wg sync.WaitGroup
	for i := range 256 {
		wg.Add(1)
		sem <- struct{}{}
		go func(shard string) {
			defer func() { <-sem; wg.Done() }()
			var part ScriptListing
			full, err := c.listScripts(ctx, namespace, []string{ownerFilter, shard + ":yes"}, &part, map[string]bool{})
			if err == nil && full {
				err = fmt.Errorf("%w: even shard %s holds a full page; refusing to act on a partial list", ErrListTruncated, shard)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			shards.Cursor = shards.Cursor || part.Cursor
			shards.Pages += part.Pages
			shards.Nested += part.Nested
			shards.Flat += part.Flat
			shards.WithTags += part.WithTags
			shards.Skipped += part.Skipped
			for _, sc := range part.Scripts {
				if !seen[sc.Name] {
					seen[sc.Name] = true
					shards.Scripts = append(shards.Scripts, sc)
				}
			}
		}(fmt.Sprintf("%s%02x", shardTagPrefix, i))
	}
	wg.Wait()
	if firstErr != nil {
		return shards, firstErr
	}
	for _, sc := range l.Scripts {
		if !seen[sc.Name] {
			seen[sc.Name] = true
			shards.Scripts = append(shards.Scripts, sc)
		}
	}
	return shards, nil
}
