package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v4/option"
)

// --- scripts ---

// scriptMultipart builds the upload form: a "metadata" JSON part, then one part per module
// named after the module, with its content type and the module name as file name.
func scriptMultipart(s ScriptUpload) (contentType string, body []byte, err error) {
	if err := ValidateScriptTags(s.Tags); err != nil {
		return "", nil, err
	}
	if s.MainModule == "" {
		return "", nil, errors.New("cloudflare: a script upload needs a main module")
	}
	found := false
	for _, m := range s.Modules {
		found = found || m.Name == s.MainModule
	}
	if !found {
		return "", nil, fmt.Errorf("cloudflare: main module %q is not among the modules", s.MainModule)
	}
	meta := map[string]any{"main_module": s.MainModule}
	if s.CompatibilityDate != "" {
		meta["compatibility_date"] = s.CompatibilityDate
	}
	if len(s.CompatibilityFlags) > 0 {
		meta["compatibility_flags"] = s.CompatibilityFlags
	}
	bindings := s.Bindings
	if bindings == nil {
		// An empty list removes bindings a previous version had.
		bindings = []Binding{}
	}
	meta["bindings"] = bindings
	if s.Tags != nil {
		meta["tags"] = s.Tags
	}
	if s.Migrations != nil {
		meta["migrations"] = s.Migrations
	}
	if len(s.TailConsumers) > 0 {
		meta["tail_consumers"] = s.TailConsumers
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return "", nil, fmt.Errorf("cloudflare: unable to encode script metadata: %w", err)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", `form-data; name="metadata"`)
	h.Set("Content-Type", "application/json")
	pw, _ := mw.CreatePart(h)
	pw.Write(metaJSON)
	for _, m := range s.Modules {
		ct := m.ContentType
		if ct == "" {
			ct = "application/javascript+module"
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, quoteEscaper.Replace(m.Name), quoteEscaper.Replace(m.Name)))
		h.Set("Content-Type", ct)
		pw, _ := mw.CreatePart(h)
		pw.Write(m.Content)
	}
	if err := mw.Close(); err != nil {
		return "", nil, err
	}
	return mw.FormDataContentType(), buf.Bytes(), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"")

type scriptJSON struct {
	ID         string    `json:"id"`
	ETag       string    `json:"etag"`
	Tags       []string  `json:"tags"`
	ModifiedOn time.Time `json:"modified_on"`
}

func (s scriptJSON) info() ScriptInfo {
	return ScriptInfo{Name: s.ID, ETag: s.ETag, Tags: s.Tags, TagsKnown: s.Tags != nil, ModifiedOn: s.ModifiedOn}
}

func (c *Cloudflare) upload(ctx context.Context, path, name string, s ScriptUpload) (ScriptInfo, error) {
	if err := ValidateScriptName(name); err != nil {
		return ScriptInfo{}, err
	}
	ct, body, err := scriptMultipart(s)
	if err != nil {
		return ScriptInfo{}, err
	}
	var out scriptJSON
	if _, err := c.call(ctx, http.MethodPut, path, &out, option.WithRequestBody(ct, body)); err != nil {
		return ScriptInfo{}, fmt.Errorf("cloudflare: unable to upload script %q: %w", name, err)
	}
	if out.ID == "" {
		out.ID = name
	}
	return out.info(), nil
}

// UploadUserScript uploads (creates or replaces) a user worker in a dispatch namespace.
func (c *Cloudflare) UploadUserScript(ctx context.Context, namespace, name string, s ScriptUpload) (ScriptInfo, error) {
	return c.upload(ctx, c.accountPath("workers/dispatch/namespaces/%s/scripts/%s", namespace, name), name, s)
}

// UploadWorker uploads a normal worker of the account (the dispatcher, the outbound worker).
func (c *Cloudflare) UploadWorker(ctx context.Context, name string, s ScriptUpload) (ScriptInfo, error) {
	return c.upload(ctx, c.accountPath("workers/scripts/%s", name), name, s)
}

// DeleteUserScript deletes a user worker; a missing one is an error matching ErrNotFound.
func (c *Cloudflare) DeleteUserScript(ctx context.Context, namespace, name string) error {
	path := c.accountPath("workers/dispatch/namespaces/%s/scripts/%s", namespace, name)
	if _, err := c.call(ctx, http.MethodDelete, path, nil, option.WithQuery("force", "true")); err != nil {
		return fmt.Errorf("cloudflare: unable to delete script %q: %w", name, err)
	}
	return nil
}

// UserScript returns a user worker's details.
func (c *Cloudflare) UserScript(ctx context.Context, namespace, name string) (ScriptInfo, error) {
	var out struct {
		ModifiedOn time.Time   `json:"modified_on"`
		Script     *scriptJSON `json:"script"`
	}
	path := c.accountPath("workers/dispatch/namespaces/%s/scripts/%s", namespace, name)
	if _, err := c.call(ctx, http.MethodGet, path, &out); err != nil {
		return ScriptInfo{}, fmt.Errorf("cloudflare: unable to get script %q: %w", name, err)
	}
	info := ScriptInfo{Name: name, ModifiedOn: out.ModifiedOn}
	if out.Script != nil {
		info.ETag, info.Tags, info.TagsKnown = out.Script.ETag, out.Script.Tags, out.Script.Tags != nil
		if !out.Script.ModifiedOn.IsZero() {
			info.ModifiedOn = out.Script.ModifiedOn
		}
	}
	return info, nil
}

func validateTagFilter(f string) error {
	tag, ok := strings.CutSuffix(f, ":yes")
	if !ok {
		tag, ok = strings.CutSuffix(f, ":no")
	}
	if !ok || tag == "" || strings.ContainsAny(tag, ",&") {
		return fmt.Errorf("cloudflare: invalid tag filter %q: expected <tag>:yes or <tag>:no", f)
	}
	return nil
}

// UserScriptTags reads one user worker's tags (GET …/scripts/{name}/tags): the per-script
// read a reconcile falls back on when a listing leaves the tags out.
func (c *Cloudflare) UserScriptTags(ctx context.Context, namespace, name string) ([]string, error) {
	var tags []string
	path := c.accountPath("workers/dispatch/namespaces/%s/scripts/%s/tags", namespace, name)
	if _, err := c.call(ctx, http.MethodGet, path, &tags); err != nil {
		return nil, fmt.Errorf("cloudflare: unable to read the tags of script %q: %w", name, err)
	}
	if tags == nil {
		tags = []string{}
	}
	return tags, nil
}

// ListLimit is the largest page the list-scripts call serves (docs: limit ≤ 1000).
const ListLimit = 1000

// ErrListTruncated is matched by the error of a listing that came back with a full page and
// no cursor: Cloudflare may have cut it, and acting on it would treat the rest as missing.
var ErrListTruncated = errors.New("cloudflare: the script listing came back full without a cursor and may be cut")

// ScriptListing is a listing of user workers together with what the API's answers looked
// like, which Cloudflare's sources disagree on (the OpenAPI schema nests items under
// "script" and has no cursor; the docs page with a cursor; the platform example reads flat
// items without tags).
type ScriptListing struct {
	Scripts []ScriptInfo
	Nested  int // items nested under "script"
	Flat    int // items with the script's fields at the top
	// Skipped counts items without a usable name: never acted on.
	Skipped  int
	WithTags int // items that carried their tags
	Cursor   bool
	Pages    int
	// Sharded says a full page without a cursor was narrowed shard by shard.
	Sharded bool
}

// TagsIncluded reports whether every listed item carried its tags.
func (l *ScriptListing) TagsIncluded() bool { return l.WithTags == l.Nested+l.Flat }

// Shape describes the answers in words, for the operator.
func (l *ScriptListing) Shape() string {
	var shape string
	switch {
	case l.Nested+l.Flat == 0:
		shape = "no items"
	case l.Flat == 0:
		shape = "items nested under \"script\""
	case l.Nested == 0:
		shape = "flat items"
	default:
		shape = fmt.Sprintf("mixed items (%d nested, %d flat)", l.Nested, l.Flat)
	}
	if l.Nested+l.Flat > 0 {
		switch {
		case l.TagsIncluded():
			shape += " with tags"
		case l.WithTags == 0:
			shape += " without tags"
		default:
			shape += fmt.Sprintf(", %d of %d with tags", l.WithTags, l.Nested+l.Flat)
		}
	}
	if l.Cursor {
		shape += fmt.Sprintf(", paged by cursor (%d pages)", l.Pages)
	} else {
		shape += ", no cursor"
	}
	if l.Sharded {
		shape += ", listed shard by shard"
	}
	if l.Skipped > 0 {
		shape += fmt.Sprintf(", %d items without a name ignored", l.Skipped)
	}
	return shape
}

// listedScript is one item of the list-scripts answer, flat or nested under "script". Tags
// and etag are pointers so that "absent" differs from "empty".
type listedScript struct {
	ID         string        `json:"id"`
	ETag       *string       `json:"etag"`
	Tags       *[]string     `json:"tags"`
	ModifiedOn string        `json:"modified_on"`
	Script     *listedScript `json:"script"`
}

// add decodes one page's items into l, skipping what cannot be one of the namespace's scripts.
func (l *ScriptListing) add(items []json.RawMessage, seen map[string]bool) {
	for _, raw := range items {
		var it listedScript
		if err := json.Unmarshal(raw, &it); err != nil {
			l.Skipped++
			continue
		}
		outer := it
		if it.Script != nil {
			it = *it.Script
			if it.ModifiedOn == "" {
				it.ModifiedOn = outer.ModifiedOn
			}
			l.Nested++
		} else {
			l.Flat++
		}
		if it.ID == "" || seen[it.ID] {
			// Nothing can be done safely with an item without a name; a name listed twice
			// (pages overlapping) is kept once.
			if it.ID == "" {
				l.Skipped++
			}
			continue
		}
		seen[it.ID] = true
		info := ScriptInfo{Name: it.ID}
		if it.ETag != nil {
			info.ETag = *it.ETag
		}
		if it.Tags != nil {
			info.Tags, info.TagsKnown = *it.Tags, true
			l.WithTags++
		}
		info.ModifiedOn, _ = time.Parse(time.RFC3339Nano, it.ModifiedOn)
		l.Scripts = append(l.Scripts, info)
	}
}

// listScripts appends the scripts matching tagFilters to l, following the cursor when the API
// gives one. It reports full when an answer without a cursor held a whole page: what Cloudflare
// does with more than a page and no cursor is not published, so such a listing may be cut.
func (c *Cloudflare) listScripts(ctx context.Context, namespace string, tagFilters []string, l *ScriptListing, seen map[string]bool) (full bool, err error) {
	for _, f := range tagFilters {
		if err := validateTagFilter(f); err != nil {
			return false, err
		}
	}
	path := c.accountPath("workers/dispatch/namespaces/%s/scripts", namespace)
	cursor := ""
	for range 100000 {
		opts := []option.RequestOption{option.WithQuery("limit", strconv.Itoa(ListLimit))}
		if len(tagFilters) > 0 {
			opts = append(opts, option.WithQuery("tags", strings.Join(tagFilters, ",")))
		}
		if cursor != "" {
			opts = append(opts, option.WithQuery("cursor", cursor))
		}
		var page []json.RawMessage
		env, err := c.call(ctx, http.MethodGet, path, &page, opts...)
		if err != nil {
			return false, fmt.Errorf("cloudflare: unable to list scripts of namespace %q: %w", namespace, err)
		}
		l.Pages++
		l.add(page, seen)
		next := env.cursor()
		if env.ResultInfo.Cursor != nil {
			l.Cursor = true
		}
		if next == "" || next == cursor || len(page) == 0 {
			return env.ResultInfo.Cursor == nil && len(page) >= ListLimit, nil
		}
		cursor = next
	}
	return false, fmt.Errorf("cloudflare: the script listing of namespace %q does not end", namespace)
}

// ListUserScriptsDetailed lists the user workers matching tagFilters ("tenant:42:yes",
// "plan:free:no") with what the answers looked like. A full page without a cursor is an error
// matching ErrListTruncated: narrow the filter.
func (c *Cloudflare) ListUserScriptsDetailed(ctx context.Context, namespace string, tagFilters ...string) (ScriptListing, error) {
	var l ScriptListing
	full, err := c.listScripts(ctx, namespace, tagFilters, &l, map[string]bool{})
	if err != nil {
		return l, err
	}
	if full {
		return l, fmt.Errorf("%w (namespace %q, filter %q): narrow the filter", ErrListTruncated, namespace, strings.Join(tagFilters, ","))
	}
	return l, nil
}

// ListUserScripts lists the user workers of a namespace, optionally filtered by tags.
func (c *Cloudflare) ListUserScripts(ctx context.Context, namespace string, tagFilters ...string) ([]ScriptInfo, error) {
	l, err := c.ListUserScriptsDetailed(ctx, namespace, tagFilters...)
	return l.Scripts, err
}

// deleteByTagLimit is how many scripts one delete-by-tag call removes at most.
const deleteByTagLimit = 100

// DeleteUserScriptsByTag deletes every user worker matching all tagFilters ("tenant:42:yes")
// and returns how many were deleted. The call is paged ({deleted, deleted_count, has_more}),
// so it repeats until nothing is left. Without a filter Cloudflare deletes every script of the
// namespace, so it refuses to call without one.
func (c *Cloudflare) DeleteUserScriptsByTag(ctx context.Context, namespace string, tagFilters ...string) (int, error) {
	if len(tagFilters) == 0 {
		return 0, errors.New("cloudflare: refusing to delete by tag without a tag filter: Cloudflare would delete every script of the namespace")
	}
	for _, f := range tagFilters {
		if err := validateTagFilter(f); err != nil {
			return 0, err
		}
	}
	path := c.accountPath("workers/dispatch/namespaces/%s/scripts", namespace)
	filter := strings.Join(tagFilters, ",")
	total := 0
	for range 100000 {
		var out struct {
			Deleted      []struct{ ID string } `json:"deleted"`
			DeletedCount *int                  `json:"deleted_count"`
			HasMore      bool                  `json:"has_more"`
		}
		if _, err := c.call(ctx, http.MethodDelete, path, &out,
			option.WithQuery("tags", filter), option.WithQuery("limit", strconv.Itoa(deleteByTagLimit))); err != nil {
			return total, fmt.Errorf("cloudflare: unable to delete scripts tagged %q (%d deleted so far): %w", filter, total, err)
		}
		n := len(out.Deleted)
		if out.DeletedCount != nil {
			n = *out.DeletedCount
		}
		total += n
		if !out.HasMore {
			return total, nil
		}
		if n == 0 {
			return total, fmt.Errorf("cloudflare: delete by tag %q answered has_more without deleting anything (%d deleted so far)", filter, total)
		}
	}
	return total, fmt.Errorf("cloudflare: delete by tag %q does not end", filter)
}

// --- normal workers ---

// Workers lists the account's normal workers (GET workers/scripts) with their Durable Object
// migration tags: the call wrangler reads the current tag from before it uploads migrations.
func (c *Cloudflare) Workers(ctx context.Context) ([]ScriptInfo, error) {
	var out []struct {
		ID           string   `json:"id"`
		ETag         string   `json:"etag"`
		Tags         []string `json:"tags"`
		MigrationTag string   `json:"migration_tag"`
	}
	if _, err := c.call(ctx, http.MethodGet, c.accountPath("workers/scripts"), &out); err != nil {
		return nil, fmt.Errorf("cloudflare: unable to list the account's workers: %w", err)
	}
	infos := make([]ScriptInfo, 0, len(out))
	for _, w := range out {
		infos = append(infos, ScriptInfo{Name: w.ID, ETag: w.ETag, Tags: w.Tags, TagsKnown: w.Tags != nil, MigrationTag: w.MigrationTag})
	}
	return infos, nil
}

// WorkerMigrationTag returns a normal worker's current Durable Object migration tag; found is
// false when the account has no worker of that name.
func (c *Cloudflare) WorkerMigrationTag(ctx context.Context, name string) (tag string, found bool, err error) {
	all, err := c.Workers(ctx)
	if err != nil {
		return "", false, err
	}
	for _, w := range all {
		if w.Name == name {
			return w.MigrationTag, true, nil
		}
	}
	return "", false, nil
}

// --- dispatch namespaces ---

// DispatchNamespaces returns the names of the account's dispatch namespaces.
func (c *Cloudflare) DispatchNamespaces(ctx context.Context) ([]string, error) {
	var out []struct {
		Name string `json:"namespace_name"`
	}
	if _, err := c.call(ctx, http.MethodGet, c.accountPath("workers/dispatch/namespaces"), &out); err != nil {
		return nil, fmt.Errorf("cloudflare: unable to list dispatch namespaces: %w", err)
	}
	names := make([]string, len(out))
	for i, ns := range out {
		names[i] = ns.Name
	}
	return names, nil
}

// CreateDispatchNamespace creates a dispatch namespace.
func (c *Cloudflare) CreateDispatchNamespace(ctx context.Context, name string) error {
	body, err := jsonBody(map[string]string{"name": name})
	if err != nil {
		return err
	}
	if _, err := c.call(ctx, http.MethodPost, c.accountPath("workers/dispatch/namespaces"), nil, body); err != nil {
		return fmt.Errorf("cloudflare: unable to create dispatch namespace %q: %w", name, err)
	}
	return nil
}
