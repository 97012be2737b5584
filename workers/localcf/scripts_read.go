package localcf

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
)

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
