package localcf

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
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

// --- dispatch namespaces ---

func namespaceResult(ns *dispatchNamespace) map[string]any {
	return map[string]any{
		"namespace_id":   ns.ID,
		"namespace_name": ns.Name,
		"created_on":     ns.CreatedOn,
		"modified_on":    ns.CreatedOn,
		"script_count":   len(ns.scripts),
	}
}

func (s *Server) listNamespaces(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []map[string]any{}
	for _, ns := range s.namespaces {
		out = append(out, namespaceResult(ns))
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["namespace_name"].(string) < out[j]["namespace_name"].(string) })
	writeResult(w, out)
}

func (s *Server) createNamespace(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" {
		writeError(w, http.StatusBadRequest, codeValidation, "a JSON body with a non-empty name is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.namespaces[body.Name]; ok {
		writeError(w, http.StatusBadRequest, codeNamespaceExists, fmt.Sprintf("a dispatch namespace named %q already exists", body.Name))
		return
	}
	ns := &dispatchNamespace{ID: newID(), Name: body.Name, CreatedOn: s.opts.Now().UTC(), scripts: map[string]*script{}}
	s.namespaces[ns.Name] = ns
	if err := s.saveState(); err != nil {
		delete(s.namespaces, ns.Name)
		writeRequestError(w, err)
		return
	}
	writeResult(w, namespaceResult(ns))
}

func (s *Server) getNamespace(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ns, err := s.scripts(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeResult(w, namespaceResult(ns))
}

func (s *Server) deleteNamespace(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	_, ns, err := s.scripts(r)
	if err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	delete(s.namespaces, ns.Name)
	if err := s.saveState(); err != nil {
		s.namespaces[ns.Name] = ns
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	os.RemoveAll(filepath.Join(s.dir, "scripts", hashName(ns.Name)))
	var events []Event
	for name := range ns.scripts {
		events = append(events, Event{Kind: "script", Namespace: ns.Name, Name: name})
	}
	s.mu.Unlock()
	s.emit(events...)
	writeResult(w, nil)
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

// --- read, delete, list ---

// lookupScript finds the script the request names (404 + 10007 when there is
// none). The caller holds s.mu.
func (s *Server) lookupScript(r *http.Request) (*script, *dispatchNamespace, error) {
	scripts, ns, err := s.scripts(r)
	if err != nil {
		return nil, nil, err
	}
	sc := scripts[r.PathValue("name")]
	if sc == nil {
		return nil, nil, errScriptNotFound()
	}
	return sc, ns, nil
}

func (s *Server) getScript(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ns, err := s.lookupScript(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeResult(w, map[string]any{
		"created_on":         sc.CreatedOn,
		"modified_on":        sc.ModifiedOn,
		"dispatch_namespace": ns.Name,
		"script":             scriptResult(sc),
	})
}

// getScriptContent answers the modules as multipart/form-data, the way Cloudflare returns
// module workers' content.
func (s *Server) getScriptContent(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	sc, _, err := s.lookupScript(r)
	if err != nil {
		s.mu.RUnlock()
		writeRequestError(w, err)
		return
	}
	full, err := s.readScriptFile(sc.Namespace, sc.Name)
	s.mu.RUnlock()
	if err != nil {
		writeRequestError(w, err)
		return
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, m := range full.Modules {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, m.Name, m.Name)}
		h["Content-Type"] = []string{m.ContentType}
		pw, _ := mw.CreatePart(h)
		pw.Write(m.Content)
	}
	mw.Close()
	w.Header().Set("Content-Type", mw.FormDataContentType())
	w.Header().Set("CF-Entrypoint", full.MainModule)
	w.Write(buf.Bytes())
}

func (s *Server) deleteScript(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	scripts, ns, err := s.scripts(r)
	if err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	name := r.PathValue("name")
	sc := scripts[name]
	if sc == nil {
		s.mu.Unlock()
		writeRequestError(w, errScriptNotFound())
		return
	}
	if err := os.Remove(s.scriptPath(sc.Namespace, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		s.mu.Unlock()
		writeRequestError(w, fmt.Errorf("localcf: unable to delete script %q: %w", name, err))
		return
	}
	delete(scripts, name)
	if ns != nil {
		ns.sorted = nil
	}
	s.mu.Unlock()
	s.emit(scriptEvent(sc))
	writeResult(w, nil)
}

type tagFilter struct {
	tag  string
	want bool
}

func parseTagFilters(q string) ([]tagFilter, error) {
	if q == "" {
		return nil, nil
	}
	var out []tagFilter
	for _, f := range strings.Split(q, ",") {
		i := strings.LastIndexByte(f, ':')
		if i <= 0 || (f[i+1:] != "yes" && f[i+1:] != "no") {
			return nil, badRequest("invalid tag filter %q: expected <tag>:yes or <tag>:no", f)
		}
		out = append(out, tagFilter{tag: f[:i], want: f[i+1:] == "yes"})
	}
	return out, nil
}

func matchTags(sc *script, filters []tagFilter) bool {
	for _, f := range filters {
		if slices.Contains(sc.Tags, f.tag) != f.want {
			return false
		}
	}
	return true
}

func parseLimit(q string, def, min, max int) (int, error) {
	if q == "" {
		return def, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < min || n > max {
		return 0, badRequest("limit must be between %d and %d", min, max)
	}
	return n, nil
}

func encodeCursor(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", badRequest("invalid cursor")
	}
	return string(b), nil
}

// page walks sorted names after cursor and keeps those ok accepts, up to limit. The cursor it
// returns is empty when nothing is left.
func page(names []string, cursor string, limit int, ok func(string) bool) ([]string, string, error) {
	start := 0
	if cursor != "" {
		after, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		start, _ = slices.BinarySearch(names, after)
		if start < len(names) && names[start] == after {
			start++
		}
	}
	var out []string
	for i := start; i < len(names); i++ {
		if !ok(names[i]) {
			continue
		}
		if len(out) == limit {
			return out, encodeCursor(out[len(out)-1]), nil
		}
		out = append(out, names[i])
	}
	return out, "", nil
}

func (s *Server) listScripts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	filters, err := parseTagFilters(q.Get("tags"))
	if err == nil {
		err = validateFilterTags(filters)
	}
	limit, lerr := parseLimit(q.Get("limit"), 1000, 1, 1000)
	if err == nil {
		err = lerr
	}
	if err != nil {
		writeRequestError(w, err)
		return
	}
	listing := s.Listing()
	cursor := q.Get("cursor")
	if !listing.Cursor {
		cursor = "" // the schema's call knows no cursor
	}
	// Listing sorts lazily, which writes the cache: take the write lock.
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ns, err := s.scripts(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	names, next, err := page(ns.names(), cursor, limit, func(n string) bool { return matchTags(ns.scripts[n], filters) })
	if err != nil {
		writeRequestError(w, err)
		return
	}
	if s.emptyScriptLists() {
		names, next = nil, ""
	}
	out := make([]any, 0, len(names))
	for _, n := range names {
		sc := ns.scripts[n]
		switch listing.Shape {
		case ListFlat:
			out = append(out, scriptResult(sc))
		case ListFlatNoTags:
			out = append(out, map[string]any{"id": sc.Name, "created_on": sc.CreatedOn, "modified_on": sc.ModifiedOn})
		default:
			out = append(out, map[string]any{"created_on": sc.CreatedOn, "modified_on": sc.ModifiedOn,
				"dispatch_namespace": ns.Name, "script": scriptResult(sc)})
		}
	}
	if !listing.Cursor {
		// No result_info and no cursor: whatever lies past limit is silently left out.
		writeResult(w, out)
		return
	}
	writeResultInfo(w, out, map[string]any{"count": len(out), "cursor": next})
}

func validateFilterTags(filters []tagFilter) error {
	for _, f := range filters {
		if err := validateTag(f.tag); err != nil {
			return err
		}
	}
	return nil
}

// listWorkers answers the account's script list, which carries each worker's
// migration_tag: wrangler reads the current tag from it before uploading migrations.
func (s *Server) listWorkers(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []scriptJSON{}
	for _, name := range slices.Sorted(maps.Keys(s.workers)) {
		out = append(out, scriptResult(s.workers[name]))
	}
	writeResult(w, out)
}

// deleteScriptsByTag deletes up to limit matching scripts and says whether more are left
// ({deleted, deleted_count, has_more}). Like Cloudflare, it deletes every script when no tags
// filter is given: the portal's client refuses to send that.
func (s *Server) deleteScriptsByTag(w http.ResponseWriter, r *http.Request) {
	filters, err := parseTagFilters(r.URL.Query().Get("tags"))
	if err == nil {
		err = validateFilterTags(filters)
	}
	limit, lerr := parseLimit(r.URL.Query().Get("limit"), 100, 1, 1000)
	if err == nil {
		err = lerr
	}
	if err != nil {
		writeRequestError(w, err)
		return
	}
	s.mu.Lock()
	_, ns, err := s.scripts(r)
	if err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	var events []Event
	deleted := []map[string]string{}
	hasMore := false
	for _, name := range slices.Clone(ns.names()) {
		sc := ns.scripts[name]
		if !matchTags(sc, filters) {
			continue
		}
		if len(deleted) == limit {
			hasMore = true
			break
		}
		if err := os.Remove(s.scriptPath(ns.Name, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.mu.Unlock()
			s.emit(events...)
			writeRequestError(w, fmt.Errorf("localcf: unable to delete script %q: %w", name, err))
			return
		}
		delete(ns.scripts, name)
		ns.sorted = nil
		events = append(events, scriptEvent(sc))
		deleted = append(deleted, map[string]string{"id": name})
	}
	s.mu.Unlock()
	s.emit(events...)
	writeResult(w, map[string]any{"deleted": deleted, "deleted_count": len(deleted), "has_more": hasMore})
}

// --- changes to an existing script: settings, tags, secrets ---

// modify loads the script with its modules, lets change edit it and stores the result. change
// returns a requestError to refuse; nothing is written then.
func (s *Server) modify(w http.ResponseWriter, r *http.Request, change func(sc *script) (any, error)) {
	s.mu.Lock()
	scripts, _, err := s.scripts(r)
	if err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	name := r.PathValue("name")
	if scripts[name] == nil {
		s.mu.Unlock()
		writeRequestError(w, errScriptNotFound())
		return
	}
	full, err := s.readScriptFile(scripts[name].Namespace, name)
	if err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	result, err := change(full)
	if err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	modules := full.Modules
	full.Modules = nil
	full.ETag = computeETag(full, modulesDigest(modules))
	full.ModifiedOn = s.opts.Now().UTC()
	if err := s.saveScript(full, modules); err != nil {
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	scripts[name] = full
	s.mu.Unlock()
	s.emit(scriptEvent(full))
	writeResult(w, result)
}

func settingsResult(sc *script) map[string]any {
	out := map[string]any{}
	maps.Copy(out, sc.Settings)
	bindings := slices.Clone(sc.Bindings)
	for _, name := range slices.Sorted(maps.Keys(sc.Secrets)) {
		b, _ := json.Marshal(map[string]string{"type": "secret_text", "name": name})
		bindings = append(bindings, b)
	}
	if bindings == nil {
		bindings = []json.RawMessage{}
	}
	tags := sc.Tags
	if tags == nil {
		tags = []string{}
	}
	out["bindings"] = bindings
	out["compatibility_date"] = sc.CompatibilityDate
	out["compatibility_flags"] = sc.CompatibilityFlags
	out["tags"] = tags
	if _, ok := out["usage_model"]; !ok {
		out["usage_model"] = "standard"
	}
	return out
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, _, err := s.lookupScript(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeResult(w, settingsResult(sc))
}

// patchSettings takes ONE multipart part named "settings" holding JSON, as the real API does;
// flattened form fields are rejected (the cloudflare-go v4.6.0 defect answers 10201 there).
func (s *Server) patchSettings(w http.ResponseWriter, r *http.Request) {
	raw, err := readSettingsPart(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(raw, &patch); err != nil {
		writeRequestError(w, badRequest("settings part is not a JSON object"))
		return
	}
	var typed struct {
		Bindings           []json.RawMessage `json:"bindings"`
		CompatibilityDate  string            `json:"compatibility_date"`
		CompatibilityFlags []string          `json:"compatibility_flags"`
		Tags               []string          `json:"tags"`
	}
	if err := json.Unmarshal(raw, &typed); err != nil {
		writeRequestError(w, badRequest("could not parse settings: %v", err))
		return
	}
	if err := validateTags(typed.Tags); err != nil {
		writeRequestError(w, err)
		return
	}
	if err := s.validateCompatibilityDate(typed.CompatibilityDate); err != nil {
		writeRequestError(w, err)
		return
	}
	s.modify(w, r, func(sc *script) (any, error) {
		if _, ok := patch["bindings"]; ok {
			if err := applyBindings(sc, typed.Bindings); err != nil {
				return nil, err
			}
			if err := checkDOBindings(sc); err != nil {
				return nil, err
			}
		}
		if _, ok := patch["compatibility_date"]; ok {
			sc.CompatibilityDate = typed.CompatibilityDate
		}
		if _, ok := patch["compatibility_flags"]; ok {
			sc.CompatibilityFlags = typed.CompatibilityFlags
			if sc.CompatibilityFlags == nil {
				sc.CompatibilityFlags = []string{}
			}
		}
		if _, ok := patch["tags"]; ok {
			sc.Tags = typed.Tags
		}
		if sc.Settings == nil {
			sc.Settings = map[string]any{}
		}
		for k, v := range patch {
			switch k {
			case "bindings", "compatibility_date", "compatibility_flags", "tags":
			default:
				var x any
				json.Unmarshal(v, &x)
				sc.Settings[k] = x
			}
		}
		return settingsResult(sc), nil
	})
}

// applyBindings replaces the bindings; {"type":"inherit","name":N} keeps the old binding N.
func applyBindings(sc *script, in []json.RawMessage) error {
	old := map[string]json.RawMessage{}
	for _, b := range sc.Bindings {
		var h struct{ Name string }
		json.Unmarshal(b, &h)
		old[h.Name] = b
	}
	var resolved []json.RawMessage
	keptSecrets := map[string]string{}
	for _, b := range in {
		var h struct{ Type, Name string }
		json.Unmarshal(b, &h)
		if h.Type != "inherit" {
			resolved = append(resolved, b)
			continue
		}
		if prev, ok := old[h.Name]; ok {
			resolved = append(resolved, prev)
		} else if text, ok := sc.Secrets[h.Name]; ok {
			keptSecrets[h.Name] = text
		} else {
			return badRequest("cannot inherit binding %q: the script has no such binding", h.Name)
		}
	}
	bindings, secrets, err := splitBindings(resolved)
	if err != nil {
		return err
	}
	maps.Copy(secrets, keptSecrets)
	sc.Bindings, sc.Secrets = bindings, secrets
	return nil
}

func readSettingsPart(r *http.Request) ([]byte, error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" {
		return nil, badRequest("expected multipart/form-data with one part named settings")
	}
	mr := multipart.NewReader(http.MaxBytesReader(nil, r.Body, 1<<20), params["boundary"])
	var settings []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, badRequest("could not parse multipart body: %v", err)
		}
		if part.FormName() != "settings" {
			return nil, &requestError{http.StatusBadRequest, 10201, fmt.Sprintf("unexpected part %q: settings must be one JSON part named settings", part.FormName())}
		}
		if settings, err = io.ReadAll(part); err != nil {
			return nil, badRequest("could not read content for part settings")
		}
	}
	if settings == nil {
		return nil, badRequest("could not read content for part settings: the part is missing")
	}
	return settings, nil
}

func (s *Server) getTags(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, _, err := s.lookupScript(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeResult(w, append([]string{}, sc.Tags...))
}

func (s *Server) putTags(w http.ResponseWriter, r *http.Request) {
	var tags []string
	if err := json.NewDecoder(r.Body).Decode(&tags); err != nil {
		writeRequestError(w, badRequest("expected a JSON array of tags"))
		return
	}
	if err := validateTags(tags); err != nil {
		writeRequestError(w, err)
		return
	}
	s.modify(w, r, func(sc *script) (any, error) {
		sc.Tags = tags
		return append([]string{}, tags...), nil
	})
}

func (s *Server) putTag(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue("tag")
	if err := validateTag(tag); err != nil {
		writeRequestError(w, err)
		return
	}
	s.modify(w, r, func(sc *script) (any, error) {
		if !slices.Contains(sc.Tags, tag) {
			tags := append(slices.Clone(sc.Tags), tag)
			if err := validateTags(tags); err != nil {
				return nil, err
			}
			sc.Tags = tags
		}
		return nil, nil
	})
}

func (s *Server) deleteTag(w http.ResponseWriter, r *http.Request) {
	tag := r.PathValue("tag")
	s.modify(w, r, func(sc *script) (any, error) {
		sc.Tags = slices.DeleteFunc(slices.Clone(sc.Tags), func(t string) bool { return t == tag })
		return nil, nil
	})
}

func (s *Server) listSecrets(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, _, err := s.lookupScript(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	out := []map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(sc.Secrets)) {
		out = append(out, map[string]string{"name": name, "type": "secret_text"})
	}
	writeResult(w, out)
}

func (s *Server) putSecret(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string  `json:"name"`
		Text *string `json:"text"`
		Type string  `json:"type"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Name == "" || body.Text == nil {
		writeRequestError(w, badRequest("expected {\"name\",\"text\",\"type\":\"secret_text\"}"))
		return
	}
	if body.Type != "" && body.Type != "secret_text" {
		writeRequestError(w, badRequest("unsupported secret type %q", body.Type))
		return
	}
	s.modify(w, r, func(sc *script) (any, error) {
		for _, b := range sc.Bindings {
			var h struct{ Name string }
			json.Unmarshal(b, &h)
			if h.Name == body.Name {
				return nil, badRequest("binding name %q is already in use by a non-secret binding", body.Name)
			}
		}
		if sc.Secrets == nil {
			sc.Secrets = map[string]string{}
		}
		sc.Secrets[body.Name] = *body.Text
		return map[string]string{"name": body.Name, "type": "secret_text"}, nil
	})
}

const codeSecretNotFound = 10056 // guessed, see the error code table in server.go

func (s *Server) getSecret(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, _, err := s.lookupScript(r)
	if err != nil {
		writeRequestError(w, err)
		return
	}
	name := r.PathValue("secret")
	if _, ok := sc.Secrets[name]; !ok {
		writeError(w, http.StatusNotFound, codeSecretNotFound, fmt.Sprintf("secret %q not found", name))
		return
	}
	writeResult(w, map[string]string{"name": name, "type": "secret_text"})
}

func (s *Server) deleteSecret(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("secret")
	s.modify(w, r, func(sc *script) (any, error) {
		if _, ok := sc.Secrets[name]; !ok {
			return nil, &requestError{http.StatusNotFound, codeSecretNotFound, fmt.Sprintf("secret %q not found", name)}
		}
		delete(sc.Secrets, name)
		return nil, nil
	})
}

// --- Durable Object migrations ---

// migrations is metadata.migrations in either form Cloudflare takes: one step inline
// ({old_tag, new_tag, new_classes, …}) or several ({old_tag, new_tag, steps: […]}).
type migrations struct {
	OldTag string `json:"old_tag"`
	NewTag string `json:"new_tag"`
	migrationStep
	Steps []migrationStep `json:"steps"`
}

type migrationStep struct {
	NewClasses       []string `json:"new_classes"`
	NewSQLiteClasses []string `json:"new_sqlite_classes"`
	DeletedClasses   []string `json:"deleted_classes"`
	RenamedClasses   []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"renamed_classes"`
}

// apply runs the migrations on a script at tag current with classes, as Cloudflare does: only
// from the tag the script is at (10079 "Migration tag precondition failed" otherwise).
func (m *migrations) apply(current string, classes []string) (string, []string, error) {
	if m.OldTag != current {
		shown := current
		if shown == "" {
			shown = "(none)"
		}
		return "", nil, &requestError{http.StatusBadRequest, codeMigrationTag,
			fmt.Sprintf("Migration tag precondition failed; current tag is %s", shown)}
	}
	if m.NewTag == "" {
		return "", nil, badRequest("metadata.migrations needs a new_tag")
	}
	steps := m.Steps
	if len(steps) == 0 {
		steps = []migrationStep{m.migrationStep}
	} else if len(m.NewClasses)+len(m.NewSQLiteClasses)+len(m.DeletedClasses)+len(m.RenamedClasses) > 0 {
		return "", nil, badRequest("metadata.migrations has both steps and inline classes")
	}
	have := slices.Clone(classes)
	for _, st := range steps {
		for _, c := range slices.Concat(st.NewClasses, st.NewSQLiteClasses) {
			if slices.Contains(have, c) {
				return "", nil, badRequest("Cannot apply new-class migration to class %q that is already depended on by existing Durable Objects", c)
			}
			have = append(have, c)
		}
		for _, rn := range st.RenamedClasses {
			i := slices.Index(have, rn.From)
			if i < 0 || slices.Contains(have, rn.To) {
				return "", nil, badRequest("Cannot apply rename migration from %q to %q", rn.From, rn.To)
			}
			have[i] = rn.To
		}
		for _, c := range st.DeletedClasses {
			i := slices.Index(have, c)
			if i < 0 {
				return "", nil, badRequest("Cannot apply delete migration to class %q that does not exist", c)
			}
			have = slices.Delete(have, i, i+1)
		}
	}
	slices.Sort(have)
	return m.NewTag, have, nil
}

// checkDOBindings refuses a Durable Object binding to one of the script's own classes that no
// migration created: Cloudflare does not create a class from a binding.
func checkDOBindings(sc *script) error {
	for _, raw := range sc.Bindings {
		var b struct {
			Type       string `json:"type"`
			Name       string `json:"name"`
			ClassName  string `json:"class_name"`
			ScriptName string `json:"script_name"`
		}
		json.Unmarshal(raw, &b)
		if b.Type != "durable_object_namespace" || (b.ScriptName != "" && b.ScriptName != sc.Name) {
			continue
		}
		if !slices.Contains(sc.DOClasses, b.ClassName) {
			return &requestError{http.StatusBadRequest, codeDONotMigrated, fmt.Sprintf(
				"Cannot create binding for class %q because it is not currently configured to implement Durable Objects. Did you forget to apply a Durable Object migration?", b.ClassName)}
		}
	}
	return nil
}
