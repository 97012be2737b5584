package localcf

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// maxScriptBytes is the paid-plan script size limit; the body limit adds room for metadata.
const maxScriptBytes = 10 << 20

// moduleTypes are the module part types the schema lists for a script upload, plus
// text/javascript+module (wrangler's ESM type). There is no application/json: a JSON module
// goes up as text/plain or data.
var moduleTypes = map[string]bool{
	"application/javascript+module": true,
	"text/javascript+module":        true,
	"application/javascript":        true,
	"text/javascript":               true,
	"text/x-python":                 true,
	"text/x-python-requirement":     true,
	"application/wasm":              true,
	"text/plain":                    true,
	"application/octet-stream":      true,
	"application/source-map":        true,
}

// mainModuleTypes can be the main module.
var mainModuleTypes = map[string]bool{
	"application/javascript+module": true,
	"text/javascript+module":        true,
	"application/javascript":        true,
	"text/javascript":               true,
}

// scriptNameRe is the schema's pattern for script names (10016 otherwise).
var scriptNameRe = regexp.MustCompile(`^[a-z0-9_][a-z0-9-_]*$`)

func validateScriptName(name string) error {
	if !scriptNameRe.MatchString(name) {
		return &requestError{http.StatusBadRequest, codeInvalidScriptName,
			fmt.Sprintf("workers.api.error.invalid_script_name: %q does not match ^[a-z0-9_][a-z0-9-_]*$", name)}
	}
	return nil
}

// requestError is an answer the API gives instead of doing the work.
type requestError struct {
	status, code int
	message      string
}

func (e *requestError) Error() string { return e.message }

func badRequest(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, codeValidation, fmt.Sprintf(format, args...)}
}

func writeRequestError(w http.ResponseWriter, err error) {
	var re *requestError
	if errors.As(err, &re) {
		writeError(w, re.status, re.code, re.message)
		return
	}
	writeError(w, http.StatusInternalServerError, 10002, err.Error())
}

func errScriptNotFound() *requestError {
	return &requestError{http.StatusNotFound, codeScriptNotFound, "workers.api.error.script_not_found"}
}

func errNamespaceNotFound(name string) *requestError {
	return &requestError{http.StatusNotFound, codeNamespaceNotFound, fmt.Sprintf("workers.api.error.dispatch_namespace_not_found: %q", name)}
}

// maxTagLength is this emulator's guess: Cloudflare refuses long tags (100102) without
// publishing the limit. Our longest tag, app:<32-character slug>, is 36.
const maxTagLength = 128

func validateTag(t string) error {
	switch {
	case t == "" || strings.ContainsAny(t, ",&"):
		return &requestError{http.StatusBadRequest, codeTagInvalidChars, fmt.Sprintf("invalid tag %q: tags must be non-empty and contain neither ',' nor '&'", t)}
	case len(t) > maxTagLength:
		return &requestError{http.StatusBadRequest, codeTagTooLong, fmt.Sprintf("tag %q is longer than %d characters", t, maxTagLength)}
	}
	return nil
}

func validateTags(tags []string) error {
	if len(tags) > 8 {
		return &requestError{http.StatusBadRequest, codeTooManyTags, fmt.Sprintf("a script can have at most 8 tags, got %d", len(tags))}
	}
	for _, t := range tags {
		if err := validateTag(t); err != nil {
			return err
		}
	}
	return nil
}

// validateCompatibilityDate refuses a malformed date and one after today (UTC), as Cloudflare
// does (10021).
func (s *Server) validateCompatibilityDate(date string) error {
	if date == "" {
		return nil
	}
	d, err := time.Parse("2006-01-02", date)
	if err != nil {
		return badRequest("invalid compatibility_date %q", date)
	}
	today := s.opts.Now().UTC().Format("2006-01-02")
	if date > today {
		return badRequest("compatibility_date %s is in the future (today is %s)", d.Format("2006-01-02"), today)
	}
	return nil
}

func newID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// scripts returns the script map the request addresses: a dispatch namespace's or, when the
// route has no namespace, the account's normal workers. Call with s.mu held.
func (s *Server) scripts(r *http.Request) (map[string]*script, *dispatchNamespace, error) {
	name := r.PathValue("ns")
	if name == "" && !strings.Contains(r.URL.Path, "/workers/dispatch/") {
		return s.workers, nil, nil
	}
	ns := s.namespaces[name]
	if ns == nil {
		return nil, nil, errNamespaceNotFound(name)
	}
	return ns.scripts, ns, nil
}

// --- upload ---

type upload struct {
	migrations *migrations
	meta       map[string]json.RawMessage
	main       string
	date       string
	flags      []string
	bindings   []json.RawMessage
	secrets    map[string]string
	tags       []string
	hasTags    bool
	keep       []string
	modules    []module
	size       int
}

var knownMetadata = []string{"main_module", "body_part", "compatibility_date", "compatibility_flags", "bindings", "tags", "keep_bindings", "migrations"}

func (s *Server) parseUpload(r *http.Request) (*upload, error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, badRequest("expected a multipart/form-data body with a metadata part and one part per module")
	}
	mr := multipart.NewReader(http.MaxBytesReader(nil, r.Body, maxScriptBytes+(1<<20)), params["boundary"])
	up := &upload{}
	var metadata []byte
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return nil, &requestError{http.StatusRequestEntityTooLarge, codeScriptTooLarge, "script exceeds the 10 MB limit"}
			}
			return nil, badRequest("could not parse multipart body: %v", err)
		}
		name := part.FormName()
		content, err := io.ReadAll(part)
		if err != nil {
			return nil, badRequest("could not read content for part %s", name)
		}
		if name == "metadata" {
			metadata = content
			continue
		}
		if name == "" {
			return nil, badRequest("every part needs a name")
		}
		if seen[name] {
			return nil, badRequest("duplicate module %q", name)
		}
		seen[name] = true
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if !moduleTypes[ct] {
			return nil, badRequest("module %q has unsupported content type %q", name, part.Header.Get("Content-Type"))
		}
		up.modules = append(up.modules, module{Name: name, ContentType: ct, Content: content})
		up.size += len(content)
	}
	if up.size > maxScriptBytes {
		return nil, &requestError{http.StatusRequestEntityTooLarge, codeScriptTooLarge, "script exceeds the 10 MB limit"}
	}
	if metadata == nil {
		return nil, badRequest("could not read content for part metadata: the metadata part is missing")
	}
	if err := json.Unmarshal(metadata, &up.meta); err != nil || up.meta == nil {
		return nil, badRequest("could not parse metadata: not a JSON object")
	}
	var typed struct {
		MainModule         string            `json:"main_module"`
		BodyPart           string            `json:"body_part"`
		CompatibilityDate  string            `json:"compatibility_date"`
		CompatibilityFlags []string          `json:"compatibility_flags"`
		Bindings           []json.RawMessage `json:"bindings"`
		Tags               []string          `json:"tags"`
		KeepBindings       []string          `json:"keep_bindings"`
	}
	if err := json.Unmarshal(metadata, &typed); err != nil {
		return nil, badRequest("could not parse metadata: %v", err)
	}
	if typed.MainModule == "" {
		if typed.BodyPart != "" {
			return nil, badRequest("service-worker scripts (body_part) are not supported here; upload ES modules with main_module")
		}
		return nil, badRequest("metadata.main_module is required")
	}
	i := slices.IndexFunc(up.modules, func(m module) bool { return m.Name == typed.MainModule })
	if i < 0 {
		return nil, badRequest("No such module %q.", typed.MainModule)
	}
	if ct := up.modules[i].ContentType; !mainModuleTypes[ct] {
		return nil, badRequest("main module %q must be JavaScript, not %q", typed.MainModule, ct)
	}
	if err := s.validateCompatibilityDate(typed.CompatibilityDate); err != nil {
		return nil, err
	}
	if raw, ok := up.meta["migrations"]; ok && string(raw) != "null" {
		up.migrations = &migrations{}
		if err := json.Unmarshal(raw, up.migrations); err != nil {
			return nil, badRequest("could not parse metadata.migrations: %v", err)
		}
	}
	if err := validateTags(typed.Tags); err != nil {
		return nil, err
	}
	up.main, up.date, up.tags, up.keep = typed.MainModule, typed.CompatibilityDate, typed.Tags, typed.KeepBindings
	_, up.hasTags = up.meta["tags"]
	up.flags = typed.CompatibilityFlags
	if up.flags == nil {
		up.flags = []string{}
	}
	up.bindings, up.secrets, err = splitBindings(typed.Bindings)
	if err != nil {
		return nil, err
	}
	return up, nil
}

// splitBindings separates secret_text bindings, which Cloudflare stores as secrets (listable by
// name, never readable), from the others.
func splitBindings(in []json.RawMessage) ([]json.RawMessage, map[string]string, error) {
	bindings := []json.RawMessage{}
	secrets := map[string]string{}
	names := map[string]bool{}
	for _, raw := range in {
		var b struct {
			Type string  `json:"type"`
			Name string  `json:"name"`
			Text *string `json:"text"`
		}
		if err := json.Unmarshal(raw, &b); err != nil || b.Type == "" || b.Name == "" {
			return nil, nil, badRequest("every binding needs a type and a name: %s", raw)
		}
		if names[b.Name] {
			return nil, nil, badRequest("binding name %q is used twice", b.Name)
		}
		names[b.Name] = true
		if b.Type == "secret_text" {
			if b.Text == nil {
				return nil, nil, badRequest("secret_text binding %q has no text", b.Name)
			}
			secrets[b.Name] = *b.Text
			continue
		}
		bindings = append(bindings, raw)
	}
	return bindings, secrets, nil
}

func modulesDigest(mods []module) string {
	h := sha256.New()
	for _, m := range mods {
		sum := sha256.Sum256(m.Content)
		fmt.Fprintf(h, "%q %q %x\n", m.Name, m.ContentType, sum)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// computeETag hashes what the runtime needs to build an isolate: code, compatibility settings
// and the env (bindings with secrets). Tags are left out so retagging does not force a reload.
func computeETag(sc *script, digest string) string {
	canon, _ := json.Marshal(struct {
		MainModule string            `json:"main_module"`
		Date       string            `json:"compatibility_date"`
		Flags      []string          `json:"compatibility_flags"`
		Bindings   []json.RawMessage `json:"bindings"`
		Modules    string            `json:"modules"`
	}{sc.MainModule, sc.CompatibilityDate, sc.CompatibilityFlags, runtimeBindings(sc), digest})
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// runtimeBindings are the stored bindings plus the secrets as secret_text, in name order.
func runtimeBindings(sc *script) []json.RawMessage {
	out := slices.Clone(sc.Bindings)
	for _, name := range slices.Sorted(maps.Keys(sc.Secrets)) {
		b, _ := json.Marshal(map[string]string{"type": "secret_text", "name": name, "text": sc.Secrets[name]})
		out = append(out, b)
	}
	if out == nil {
		out = []json.RawMessage{}
	}
	return out
}

type scriptJSON struct {
	ID                 string    `json:"id"`
	ETag               string    `json:"etag"`
	Tags               []string  `json:"tags"`
	CreatedOn          time.Time `json:"created_on"`
	ModifiedOn         time.Time `json:"modified_on"`
	Handlers           []string  `json:"handlers"`
	UsageModel         string    `json:"usage_model"`
	CompatibilityDate  string    `json:"compatibility_date"`
	CompatibilityFlags []string  `json:"compatibility_flags"`
	Size               int       `json:"size"`
	MigrationTag       string    `json:"migration_tag,omitempty"`
}

var fetchHandler = []string{"fetch"}

func scriptResult(sc *script) scriptJSON {
	tags := sc.Tags
	if tags == nil {
		tags = []string{}
	}
	flags := sc.CompatibilityFlags
	if flags == nil {
		flags = []string{}
	}
	return scriptJSON{
		ID: sc.Name, ETag: sc.ETag, Tags: tags, CreatedOn: sc.CreatedOn, ModifiedOn: sc.ModifiedOn,
		Handlers: fetchHandler, UsageModel: "standard", CompatibilityDate: sc.CompatibilityDate,
		CompatibilityFlags: flags, Size: sc.Size, MigrationTag: sc.MigrationTag,
	}
}

func (s *Server) uploadScript(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := validateScriptName(name); err != nil {
		writeRequestError(w, err)
		return
	}
	up, err := s.parseUpload(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	s.mu.Lock()
	scripts, ns, err := s.scripts(r)
	if err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	now := s.opts.Now().UTC()
	old := scripts[name]
	sc := &script{
		Name:               name,
		MainModule:         up.main,
		CompatibilityDate:  up.date,
		CompatibilityFlags: up.flags,
		Bindings:           up.bindings,
		Tags:               up.tags,
		Secrets:            up.secrets,
		Settings:           map[string]any{},
		Size:               up.size,
		CreatedOn:          now,
		ModifiedOn:         now,
	}
	if ns != nil {
		sc.Namespace = ns.Name
	}
	for k, v := range up.meta {
		if !slices.Contains(knownMetadata, k) {
			var x any
			json.Unmarshal(v, &x)
			sc.Settings[k] = x
		}
	}
	if old != nil {
		sc.CreatedOn = old.CreatedOn
		sc.MigrationTag, sc.DOClasses = old.MigrationTag, old.DOClasses
		if !up.hasTags {
			// An upload without tags keeps the script's tags, as on Cloudflare.
			sc.Tags = old.Tags
		}
		if slices.Contains(up.keep, "secret_text") {
			for k, v := range old.Secrets {
				if _, ok := sc.Secrets[k]; !ok {
					sc.Secrets[k] = v
				}
			}
		}
	}
	if up.migrations != nil {
		if sc.MigrationTag, sc.DOClasses, err = up.migrations.apply(sc.MigrationTag, sc.DOClasses); err != nil {
			s.mu.Unlock()
			writeRequestError(w, err)
			return
		}
	}
	if err := checkDOBindings(sc); err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	if err := s.checkTailConsumers(up.meta, name, ns); err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	sc.ETag = computeETag(sc, modulesDigest(up.modules))
	if err := s.saveScript(sc, up.modules); err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	scripts[name] = sc
	if ns != nil && old == nil {
		ns.sorted = nil
	}
	s.mu.Unlock()
	s.emit(scriptEvent(sc))
	writeResult(w, scriptResult(sc))
}

func scriptEvent(sc *script) Event {
	if sc.Namespace == "" {
		return Event{Kind: "worker", Name: sc.Name}
	}
	return Event{Kind: "script", Namespace: sc.Namespace, Name: sc.Name}
}
