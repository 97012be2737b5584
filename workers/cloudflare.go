package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	// TailConsumers are the Workers that receive the script's trace events
	// (metadata.tail_consumers); each must exist when the script is uploaded.
	TailConsumers []TailConsumer
}

// TailConsumer names a tail worker: a normal worker of the account by its script name.
type TailConsumer struct {
	Service string `json:"service"`
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
