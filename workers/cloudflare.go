package workers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v4"
	"github.com/cloudflare/cloudflare-go/v4/option"
)

// Every call goes through cloudflare-go's client (auth, retries, base URL) with paths and bodies
// built here, because v4.6.0 gets several of these calls wrong (reference/cloudflare.md): script
// upload sends no module parts, settings are flattened, KV values are JSON-wrapped, path
// segments are not escaped, and list/delete-by-tag are missing. One path for production and the
// local emulator: only BaseURL differs.

// CloudflareConfig configures a Cloudflare client.
type CloudflareConfig struct {
	APIToken  string
	AccountID string
	BaseURL   string // default https://api.cloudflare.com/client/v4; the local emulator's URL locally
	// MaxRetries for 408/409/429/5xx and connection errors: 0 keeps the SDK default (2),
	// a negative value disables retries.
	MaxRetries int
	HTTPClient *http.Client
	// KVRetries is how often a bulk write retries the keys Cloudflare reports as unsuccessful
	// (default 3); KVRetryBackoff the first wait, doubled each time (default 250 ms).
	KVRetries      int
	KVRetryBackoff time.Duration
}

// Cloudflare talks to the Workers for Platforms and KV API of one account.
type Cloudflare struct {
	client         *cloudflare.Client
	accountID      string
	kvRetries      int
	kvRetryBackoff time.Duration
}

// NewCloudflare returns a client for cfg.
func NewCloudflare(cfg CloudflareConfig) *Cloudflare {
	opts := []option.RequestOption{option.WithAPIToken(cfg.APIToken)}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	} else {
		opts = append(opts, option.WithBaseURL("https://api.cloudflare.com/client/v4/"))
	}
	switch {
	case cfg.MaxRetries < 0:
		opts = append(opts, option.WithMaxRetries(0))
	case cfg.MaxRetries > 0:
		opts = append(opts, option.WithMaxRetries(cfg.MaxRetries))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	c := &Cloudflare{client: cloudflare.NewClient(opts...), accountID: cfg.AccountID, kvRetries: cfg.KVRetries, kvRetryBackoff: cfg.KVRetryBackoff}
	if c.kvRetries <= 0 {
		c.kvRetries = 3
	}
	if c.kvRetryBackoff <= 0 {
		c.kvRetryBackoff = 250 * time.Millisecond
	}
	return c
}

// ErrNotFound is matched (errors.Is) by every 404 answer: missing script, key or namespace.
var ErrNotFound = errors.New("cloudflare: not found")

// APIError is an error answer of the Cloudflare API. Its text is Cloudflare's own, so the portal
// can show it to the tenant as is.
type APIError struct {
	Status  int
	Code    int
	Message string
	body    []byte // the answer as received: some error answers carry a result too
}

func (e *APIError) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("cloudflare: %s (HTTP %d)", e.Message, e.Status)
	}
	return fmt.Sprintf("cloudflare: %d %s (HTTP %d)", e.Code, e.Message, e.Status)
}

// Is makes errors.Is(err, ErrNotFound) true for any 404.
func (e *APIError) Is(target error) bool {
	return target == ErrNotFound && e.Status == http.StatusNotFound
}

// ScriptModule is one module of a script upload.
type ScriptModule struct {
	Name        string
	ContentType string // default application/javascript+module
	Content     []byte
}

// Binding is one entry of metadata.bindings, sent as is,
// e.g. {"type":"plain_text","name":"X","text":"y"}.
type Binding map[string]any

// ScriptUpload is the multipart upload of a user worker or a normal worker.
type ScriptUpload struct {
	MainModule         string
	Modules            []ScriptModule
	CompatibilityDate  string
	CompatibilityFlags []string
	Bindings           []Binding
	Tags               []string // at most 8, without ',' or '&'; nil leaves the script's tags alone
	// Migrations declares Durable Object classes (metadata.migrations); nil sends none.
	Migrations *Migrations
}

// ScriptInfo describes a stored script.
type ScriptInfo struct {
	Name string
	ETag string
	Tags []string
	// TagsKnown says the answer carried the script's tags: a listing may leave them out
	// (Cloudflare's own platform example notes so), and then Tags is empty but unknown.
	TagsKnown  bool
	ModifiedOn time.Time
	// MigrationTag is the Durable Object migration tag of a normal worker ("" when it has
	// none), as the account's script list reports it.
	MigrationTag string
}

// KVNamespace is a KV namespace of the account.
type KVNamespace struct {
	ID    string
	Title string
}

// KVPair is one entry of a bulk KV write.
type KVPair struct {
	Key           string `json:"key"`
	Value         string `json:"value"`
	Base64        bool   `json:"base64,omitempty"`
	ExpirationTTL int    `json:"expiration_ttl,omitempty"`
	Metadata      any    `json:"metadata,omitempty"`
}

// kvBulkLimit is the API's maximum number of pairs or keys per bulk call.
const kvBulkLimit = 10000

// scriptNameRe is the schema's pattern for script names; anything else is refused (10016).
var scriptNameRe = regexp.MustCompile(`^[a-z0-9_][a-z0-9-_]*$`)

// ValidateScriptName checks Cloudflare's script name rule, so a bad name fails before any
// request.
func ValidateScriptName(name string) error {
	if !scriptNameRe.MatchString(name) {
		return fmt.Errorf("cloudflare: invalid script name %q: names are lower-case letters, digits, '-' and '_', and do not start with '-'", name)
	}
	return nil
}

// ValidateScriptTags checks Cloudflare's tag rules, so a bad tag fails before any request.
func ValidateScriptTags(tags []string) error {
	if len(tags) > 8 {
		return fmt.Errorf("cloudflare: a script can have at most 8 tags, got %d", len(tags))
	}
	for _, t := range tags {
		if t == "" || strings.ContainsAny(t, ",&") {
			return fmt.Errorf("cloudflare: invalid tag %q: tags must be non-empty and contain neither ',' nor '&'", t)
		}
	}
	return nil
}

type envelope struct {
	Success    bool            `json:"success"`
	Errors     []apiMessage    `json:"errors"`
	Result     json.RawMessage `json:"result"`
	ResultInfo struct {
		// Cursor is nil when the answer has none at all: the schema gives the list-scripts
		// call no result_info, the docs a cursor. Which one an account sends is unknown.
		Cursor     *string `json:"cursor"`
		Count      int     `json:"count"`
		Page       int     `json:"page"`
		PerPage    int     `json:"per_page"`
		TotalCount int     `json:"total_count"`
	} `json:"result_info"`
}

// cursor is the answer's next-page cursor, "" when there is none.
func (e *envelope) cursor() string {
	if e.ResultInfo.Cursor == nil {
		return ""
	}
	return *e.ResultInfo.Cursor
}

type apiMessage struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func apiErrorFrom(status int, msgs []apiMessage, body []byte) *APIError {
	e := &APIError{Status: status, body: body}
	if len(msgs) > 0 {
		e.Code = msgs[0].Code
		parts := make([]string, len(msgs))
		for i, m := range msgs {
			parts[i] = m.Message
			if i > 0 {
				parts[i] = strconv.Itoa(m.Code) + " " + m.Message
			}
		}
		e.Message = strings.Join(parts, "; ")
		return e
	}
	e.Message = strings.TrimSpace(string(body))
	if len(e.Message) > 300 {
		e.Message = e.Message[:300] + "…"
	}
	if e.Message == "" {
		e.Message = http.StatusText(status)
	}
	return e
}

// raw performs one API call and returns the response body of a success. Error answers become
// *APIError, also when their body is not JSON (a proxy's HTML 502), which the SDK cannot parse.
func (c *Cloudflare) raw(ctx context.Context, method, path string, opts ...option.RequestOption) ([]byte, error) {
	var res *http.Response
	var body []byte
	opts = append(opts, option.WithResponseInto(&res))
	err := c.client.Execute(ctx, method, path, nil, &body, opts...)
	if err != nil {
		var cfErr *cloudflare.Error
		if errors.As(err, &cfErr) {
			msgs := make([]apiMessage, len(cfErr.Errors))
			for i, e := range cfErr.Errors {
				msgs[i] = apiMessage{Code: int(e.Code), Message: e.Message}
			}
			raw, _ := io.ReadAll(cfErr.Response.Body)
			return nil, apiErrorFrom(cfErr.StatusCode, msgs, raw)
		}
		if res != nil && res.StatusCode >= 400 {
			raw, _ := io.ReadAll(res.Body)
			return nil, apiErrorFrom(res.StatusCode, nil, raw)
		}
		return nil, err
	}
	return body, nil
}

// call performs an API call with a JSON envelope answer and decodes its result into out.
func (c *Cloudflare) call(ctx context.Context, method, path string, out any, opts ...option.RequestOption) (*envelope, error) {
	body, err := c.raw(ctx, method, path, opts...)
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("cloudflare: unable to decode the answer to %s %s: %w", method, path, err)
	}
	if !env.Success {
		// A 200 with success:false is not an SDK error, but it is a failure.
		return nil, apiErrorFrom(http.StatusOK, env.Errors, body)
	}
	if out != nil && len(env.Result) > 0 && string(env.Result) != "null" {
		if err := json.Unmarshal(env.Result, out); err != nil {
			return nil, fmt.Errorf("cloudflare: unable to decode the result of %s %s: %w", method, path, err)
		}
	}
	return &env, nil
}

func jsonBody(v any) (option.RequestOption, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return option.WithRequestBody("application/json", b), nil
}

func (c *Cloudflare) accountPath(format string, segments ...string) string {
	args := make([]any, len(segments))
	for i, s := range segments {
		// PathEscape also escapes '/', so a name or key stays one path segment.
		args[i] = url.PathEscape(s)
	}
	return "accounts/" + url.PathEscape(c.accountID) + "/" + fmt.Sprintf(format, args...)
}

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

// --- KV ---

// KVNamespaces returns every KV namespace of the account.
func (c *Cloudflare) KVNamespaces(ctx context.Context) ([]KVNamespace, error) {
	var all []KVNamespace
	for page := 1; ; page++ {
		var out []struct {
			ID    string `json:"id"`
			Title string `json:"title"`
		}
		env, err := c.call(ctx, http.MethodGet, c.accountPath("storage/kv/namespaces"), &out,
			option.WithQuery("page", strconv.Itoa(page)), option.WithQuery("per_page", "100"))
		if err != nil {
			return nil, fmt.Errorf("cloudflare: unable to list kv namespaces: %w", err)
		}
		for _, ns := range out {
			all = append(all, KVNamespace{ID: ns.ID, Title: ns.Title})
		}
		if len(out) < 100 || (env.ResultInfo.TotalCount > 0 && len(all) >= env.ResultInfo.TotalCount) {
			return all, nil
		}
	}
}

// CreateKVNamespace creates a KV namespace titled title.
func (c *Cloudflare) CreateKVNamespace(ctx context.Context, title string) (KVNamespace, error) {
	body, err := jsonBody(map[string]string{"title": title})
	if err != nil {
		return KVNamespace{}, err
	}
	var out struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if _, err := c.call(ctx, http.MethodPost, c.accountPath("storage/kv/namespaces"), &out, body); err != nil {
		return KVNamespace{}, fmt.Errorf("cloudflare: unable to create kv namespace %q: %w", title, err)
	}
	return KVNamespace{ID: out.ID, Title: out.Title}, nil
}

// DeleteKVNamespace deletes a KV namespace and everything in it.
func (c *Cloudflare) DeleteKVNamespace(ctx context.Context, id string) error {
	if _, err := c.call(ctx, http.MethodDelete, c.accountPath("storage/kv/namespaces/%s", id), nil); err != nil {
		return fmt.Errorf("cloudflare: unable to delete kv namespace %s: %w", id, err)
	}
	return nil
}

// PutKV stores value under key as raw bytes.
func (c *Cloudflare) PutKV(ctx context.Context, nsID, key string, value []byte) error {
	path := c.accountPath("storage/kv/namespaces/%s/values/%s", nsID, key)
	if value == nil {
		value = []byte{}
	}
	if _, err := c.call(ctx, http.MethodPut, path, nil, option.WithRequestBody("application/octet-stream", value)); err != nil {
		return fmt.Errorf("cloudflare: unable to put kv key %q: %w", key, err)
	}
	return nil
}

// GetKV returns the raw value of key; a missing key is an error matching ErrNotFound.
func (c *Cloudflare) GetKV(ctx context.Context, nsID, key string) ([]byte, error) {
	path := c.accountPath("storage/kv/namespaces/%s/values/%s", nsID, key)
	value, err := c.raw(ctx, http.MethodGet, path)
	if err != nil {
		return nil, fmt.Errorf("cloudflare: unable to get kv key %q: %w", key, err)
	}
	if value == nil {
		value = []byte{}
	}
	return value, nil
}

// DeleteKV deletes key; deleting a missing key succeeds, as on Cloudflare.
func (c *Cloudflare) DeleteKV(ctx context.Context, nsID, key string) error {
	path := c.accountPath("storage/kv/namespaces/%s/values/%s", nsID, key)
	if _, err := c.call(ctx, http.MethodDelete, path, nil); err != nil {
		return fmt.Errorf("cloudflare: unable to delete kv key %q: %w", key, err)
	}
	return nil
}

// KVBulkError names the keys a bulk write could not store, after retrying them.
type KVBulkError struct {
	Keys  []string
	Tries int
	Cause error // Cloudflare's error answer, when the last try was one
}

func (e *KVBulkError) Error() string {
	shown := e.Keys
	if len(shown) > 10 {
		shown = shown[:10]
	}
	msg := fmt.Sprintf("cloudflare: %d KV keys were not stored after %d tries: %s", len(e.Keys), e.Tries, strings.Join(shown, ", "))
	if len(e.Keys) > len(shown) {
		msg += fmt.Sprintf(" and %d more", len(e.Keys)-len(shown))
	}
	if e.Cause != nil {
		msg += " (" + e.Cause.Error() + ")"
	}
	return msg
}

func (e *KVBulkError) Unwrap() error { return e.Cause }

// kvBulkResult is the answer of a bulk write, on a 200 as well as on a 4xx.
type kvBulkResult struct {
	SuccessfulKeyCount int      `json:"successful_key_count"`
	UnsuccessfulKeys   []string `json:"unsuccessful_keys"`
}

// PutKVBulk writes pairs in calls of at most 10,000. Cloudflare may store only part of a call
// and name the rest in unsuccessful_keys (with a 200 too); those are retried with backoff, and
// keys still failing make the write fail with a *KVBulkError naming them. Calls are not atomic
// together: on error, the other keys are stored.
func (c *Cloudflare) PutKVBulk(ctx context.Context, nsID string, pairs []KVPair) error {
	path := c.accountPath("storage/kv/namespaces/%s/bulk", nsID)
	for start := 0; start < len(pairs); start += kvBulkLimit {
		pending := pairs[start:min(start+kvBulkLimit, len(pairs))]
		for try := 1; ; try++ {
			failed, err := c.putKVChunk(ctx, path, pending)
			if err != nil && len(failed) == 0 {
				return fmt.Errorf("cloudflare: unable to bulk write kv pairs %d-%d: %w", start, start+len(pending)-1, err)
			}
			if len(failed) == 0 {
				break
			}
			if err != nil || try > c.kvRetries {
				// A 4xx that stored nothing will not store anything on a retry.
				return &KVBulkError{Keys: failed, Tries: try, Cause: err}
			}
			retry := make(map[string]bool, len(failed))
			for _, k := range failed {
				retry[k] = true
			}
			var next []KVPair
			for _, p := range pending {
				if retry[p.Key] {
					next = append(next, p)
				}
			}
			pending = next
			t := time.NewTimer(c.kvRetryBackoff << (try - 1))
			select {
			case <-ctx.Done():
				t.Stop()
				return &KVBulkError{Keys: failed, Tries: try, Cause: ctx.Err()}
			case <-t.C:
			}
		}
	}
	return nil
}

// putKVChunk writes one call's pairs and returns the keys Cloudflare did not store. A 4xx whose
// answer names unsuccessful keys returns them with the error; err without keys is a plain
// failure of the call.
func (c *Cloudflare) putKVChunk(ctx context.Context, path string, pairs []KVPair) ([]string, error) {
	body, err := jsonBody(pairs)
	if err != nil {
		return nil, fmt.Errorf("cloudflare: unable to encode kv bulk write: %w", err)
	}
	sent := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		sent[p.Key] = true
	}
	ours := func(keys []string) []string {
		// Only keys this call sent can be retried; anything else in the answer is noise.
		var out []string
		for _, k := range keys {
			if sent[k] {
				out = append(out, k)
				delete(sent, k)
			}
		}
		return out
	}
	var res kvBulkResult
	if _, err := c.call(ctx, http.MethodPut, path, &res, body); err != nil {
		var ae *APIError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
			var env struct {
				Result *kvBulkResult `json:"result"`
			}
			if json.Unmarshal(ae.body, &env) == nil && env.Result != nil {
				failed := ours(env.Result.UnsuccessfulKeys)
				if len(failed) > 0 && env.Result.SuccessfulKeyCount > 0 {
					return failed, nil // partly stored: retry the rest
				}
				return failed, err
			}
		}
		return nil, err
	}
	return ours(res.UnsuccessfulKeys), nil
}

// DeleteKVBulk deletes keys in calls of at most 10,000.
func (c *Cloudflare) DeleteKVBulk(ctx context.Context, nsID string, keys []string) error {
	path := c.accountPath("storage/kv/namespaces/%s/bulk/delete", nsID)
	for start := 0; start < len(keys); start += kvBulkLimit {
		chunk := keys[start:min(start+kvBulkLimit, len(keys))]
		body, err := jsonBody(chunk)
		if err != nil {
			return err
		}
		if _, err := c.call(ctx, http.MethodPost, path, nil, body); err != nil {
			return fmt.Errorf("cloudflare: unable to bulk delete kv keys %d-%d: %w", start, start+len(chunk)-1, err)
		}
	}
	return nil
}

// KVKeys lists every key starting with prefix, following the cursor to the end.
func (c *Cloudflare) KVKeys(ctx context.Context, nsID, prefix string) ([]string, error) {
	path := c.accountPath("storage/kv/namespaces/%s/keys", nsID)
	var keys []string
	cursor := ""
	for {
		opts := []option.RequestOption{option.WithQuery("limit", "1000")}
		if prefix != "" {
			opts = append(opts, option.WithQuery("prefix", prefix))
		}
		if cursor != "" {
			opts = append(opts, option.WithQuery("cursor", cursor))
		}
		var page []struct {
			Name string `json:"name"`
		}
		env, err := c.call(ctx, http.MethodGet, path, &page, opts...)
		if err != nil {
			return nil, fmt.Errorf("cloudflare: unable to list kv keys: %w", err)
		}
		for _, k := range page {
			keys = append(keys, k.Name)
		}
		if env.cursor() == "" || env.cursor() == cursor || len(page) == 0 {
			return keys, nil
		}
		cursor = env.cursor()
	}
}
