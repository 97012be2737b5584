package localcf

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
)

const (
	maxKVKeyBytes   = 512
	maxKVValueBytes = 25 << 20
	maxKVMetaBytes  = 1024
	maxKVBulk       = 10000
)

func errKVNamespaceNotFound() *requestError {
	return &requestError{http.StatusNotFound, codeKVNamespaceNotFound, "namespace not found"}
}

func kvBad(format string, args ...any) *requestError {
	return &requestError{http.StatusBadRequest, codeKVBadRequest, fmt.Sprintf(format, args...)}
}

func validateKey(key string) error {
	switch {
	case key == "":
		return kvBad("key must not be empty")
	case key == "." || key == "..":
		return kvBad("illegal key name %q", key)
	case len(key) > maxKVKeyBytes:
		return &requestError{http.StatusRequestURITooLong, codeKVKeyTooLong, fmt.Sprintf("key of %d bytes exceeds the %d byte limit", len(key), maxKVKeyBytes)}
	}
	return nil
}

// expiration turns the expiration / expiration_ttl parameters into a unix time (0 = never).
func (s *Server) expiration(expiration, ttl string) (int64, error) {
	now := s.opts.Now().Unix()
	if ttl != "" {
		n, err := strconv.ParseInt(ttl, 10, 64)
		if err != nil || n < 60 {
			return 0, kvBad("invalid expiration_ttl %q: it must be at least 60 seconds", ttl)
		}
		return now + n, nil
	}
	if expiration != "" {
		n, err := strconv.ParseInt(expiration, 10, 64)
		if err != nil || n < now+60 {
			return 0, kvBad("invalid expiration %q: it must be at least 60 seconds in the future", expiration)
		}
		return n, nil
	}
	return 0, nil
}

func validateMetadata(raw []byte) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if len(raw) > maxKVMetaBytes {
		return nil, kvBad("metadata of %d bytes exceeds the %d byte limit", len(raw), maxKVMetaBytes)
	}
	if !json.Valid(raw) {
		return nil, kvBad("metadata is not valid JSON")
	}
	var buf bytes.Buffer
	json.Compact(&buf, raw)
	return buf.Bytes(), nil
}

// --- store operations, called with s.mu held ---

func (s *Server) kvLookup(nsID, key string) *kvEntry {
	ns := s.kv[nsID]
	if ns == nil {
		return nil
	}
	e := ns.entries[key]
	if e == nil || e.expired(s.opts.Now()) {
		return nil
	}
	return e
}

func (s *Server) kvPut(ns *kvNamespace, entries []*kvEntry) error {
	record, err := encodePutRecord(entries)
	if err != nil {
		return fmt.Errorf("localcf: unable to encode kv values: %w", err)
	}
	if err := s.appendKV(ns, record); err != nil {
		return err
	}
	for _, e := range entries {
		if old, ok := ns.entries[e.Key]; ok {
			ns.liveBytes -= entryCost(old)
		} else {
			ns.sorted = nil
		}
		ns.entries[e.Key] = e
		ns.liveBytes += entryCost(e)
	}
	s.maybeCompact(ns)
	return nil
}

func (s *Server) kvDelete(ns *kvNamespace, keys []string) error {
	present := slices.DeleteFunc(slices.Clone(keys), func(k string) bool { return ns.entries[k] == nil })
	if len(present) == 0 {
		return nil
	}
	header, err := json.Marshal(logHeader{Del: present})
	if err != nil {
		return err
	}
	if err := s.appendKV(ns, append(header, '\n')); err != nil {
		return err
	}
	for _, k := range present {
		ns.liveBytes -= entryCost(ns.entries[k])
		delete(ns.entries, k)
	}
	ns.sorted = nil
	s.maybeCompact(ns)
	return nil
}

// kvList pages through live keys with prefix. It sorts lazily, so hold the write lock.
func (s *Server) kvList(ns *kvNamespace, prefix, cursor string, limit int) ([]*kvEntry, string, error) {
	now := s.opts.Now()
	keys := ns.keys()
	if prefix != "" && cursor == "" {
		// Start at the prefix instead of scanning the keys before it.
		i, _ := slices.BinarySearch(keys, prefix)
		if i > 0 {
			cursor = encodeCursor(keys[i-1])
		}
	}
	names, next, err := page(keys, cursor, limit, func(k string) bool {
		return strings.HasPrefix(k, prefix) && !ns.entries[k].expired(now)
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]*kvEntry, len(names))
	for i, n := range names {
		out[i] = ns.entries[n]
	}
	// Keys are sorted, so once past the prefix nothing further can match.
	if next != "" && prefix != "" {
		i, _ := slices.BinarySearch(keys, names[len(names)-1])
		if i+1 >= len(keys) || !strings.HasPrefix(keys[i+1], prefix) {
			next = ""
		}
	}
	return out, next, nil
}

func kvEvents(nsID string, keys []string) []Event {
	out := make([]Event, len(keys))
	for i, k := range keys {
		out[i] = Event{Kind: "kv", Namespace: nsID, Name: k}
	}
	return out
}

// --- REST: namespaces ---

func kvNamespaceResult(ns *kvNamespace) map[string]any {
	return map[string]any{"id": ns.ID, "title": ns.Title, "supports_url_encoding": true}
}

func (s *Server) listKVNamespaces(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	pageNo, err := strconv.Atoi(q.Get("page"))
	if err != nil || pageNo < 1 {
		pageNo = 1
	}
	// The schema's range for per_page: 5 to 100, default 20.
	perPage := 20
	if v := q.Get("per_page"); v != "" {
		if perPage, err = strconv.Atoi(v); err != nil || perPage < 5 || perPage > 100 {
			writeRequestError(w, kvBad("per_page must be between 5 and 100"))
			return
		}
	}
	s.mu.RLock()
	all := slices.SortedFunc(maps.Values(s.kv), func(a, b *kvNamespace) int { return strings.Compare(a.Title, b.Title) })
	out := []map[string]any{}
	for i := (pageNo - 1) * perPage; i < len(all) && len(out) < perPage; i++ {
		out = append(out, kvNamespaceResult(all[i]))
	}
	s.mu.RUnlock()
	writeResultInfo(w, out, map[string]any{"page": pageNo, "per_page": perPage, "count": len(out), "total_count": len(all)})
}

func (s *Server) createKVNamespace(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Title string `json:"title"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Title == "" {
		writeRequestError(w, kvBad("a JSON body with a non-empty title is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ns := range s.kv {
		if ns.Title == body.Title {
			writeError(w, http.StatusBadRequest, codeKVNamespaceExists, "a namespace with this account ID and title already exists")
			return
		}
	}
	ns := &kvNamespace{ID: newID(), Title: body.Title, entries: map[string]*kvEntry{}}
	s.kv[ns.ID] = ns
	err := s.openKVLog(ns)
	if err == nil {
		err = s.saveState()
	}
	if err != nil {
		s.closeKVLog(ns)
		delete(s.kv, ns.ID)
		writeRequestError(w, err)
		return
	}
	writeResult(w, kvNamespaceResult(ns))
}

func (s *Server) getKVNamespace(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ns := s.kv[r.PathValue("id")]
	if ns == nil {
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	writeResult(w, kvNamespaceResult(ns))
}

func (s *Server) deleteKVNamespace(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ns := s.kv[r.PathValue("id")]
	if ns == nil {
		s.mu.Unlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	delete(s.kv, ns.ID)
	if err := s.saveState(); err != nil {
		s.kv[ns.ID] = ns
		s.mu.Unlock()
		writeRequestError(w, err)
		return
	}
	s.closeKVLog(ns)
	os.Remove(s.kvLogPath(ns.ID))
	events := kvEvents(ns.ID, slices.Collect(maps.Keys(ns.entries)))
	s.mu.Unlock()
	s.emit(events...)
	writeResult(w, nil)
}

// --- REST: values ---

func (s *Server) putKVValue(w http.ResponseWriter, r *http.Request) {
	nsID, key := r.PathValue("id"), r.PathValue("key")
	if err := validateKey(key); err != nil {
		writeRequestError(w, err)
		return
	}
	exp, err := s.expiration(r.URL.Query().Get("expiration"), r.URL.Query().Get("expiration_ttl"))
	if err != nil {
		writeRequestError(w, err)
		return
	}
	e := &kvEntry{Key: key, Expiration: exp}
	body := http.MaxBytesReader(nil, r.Body, maxKVValueBytes+(64<<10))
	// The metadata variant of the call is a multipart form with "value" and "metadata" parts.
	if mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				writeRequestError(w, kvBad("could not parse multipart body: %v", err))
				return
			}
			content, err := io.ReadAll(part)
			if err != nil {
				writeRequestError(w, kvBad("could not read part %s", part.FormName()))
				return
			}
			switch part.FormName() {
			case "value":
				e.value = content
			case "metadata":
				if e.Metadata, err = validateMetadata(content); err != nil {
					writeRequestError(w, err)
					return
				}
			}
		}
		if e.value == nil {
			e.value = []byte{}
		}
	} else if e.value, err = io.ReadAll(body); err != nil {
		writeRequestError(w, &requestError{http.StatusRequestEntityTooLarge, codeKVBadRequest, "value exceeds the 25 MiB limit"})
		return
	}
	if len(e.value) > maxKVValueBytes {
		writeRequestError(w, &requestError{http.StatusRequestEntityTooLarge, codeKVBadRequest, "value exceeds the 25 MiB limit"})
		return
	}
	s.mu.Lock()
	ns := s.kv[nsID]
	if ns == nil {
		s.mu.Unlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	err = s.kvPut(ns, []*kvEntry{e})
	s.mu.Unlock()
	if err != nil {
		writeRequestError(w, err)
		return
	}
	s.emit(Event{Kind: "kv", Namespace: nsID, Name: key})
	writeResult(w, nil)
}

func (s *Server) getKVValue(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	if s.kv[r.PathValue("id")] == nil {
		s.mu.RUnlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	e := s.kvLookup(r.PathValue("id"), r.PathValue("key"))
	s.mu.RUnlock()
	if e == nil {
		writeError(w, http.StatusNotFound, codeKVKeyNotFound, "get: 'key not found'")
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	if e.Expiration != 0 {
		w.Header().Set("Expiration", strconv.FormatInt(e.Expiration, 10))
	}
	w.Write(e.value)
}

func (s *Server) getKVMetadata(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	if s.kv[r.PathValue("id")] == nil {
		s.mu.RUnlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	e := s.kvLookup(r.PathValue("id"), r.PathValue("key"))
	s.mu.RUnlock()
	if e == nil {
		writeError(w, http.StatusNotFound, codeKVKeyNotFound, "get: 'key not found'")
		return
	}
	var meta any = nil
	if e.Metadata != nil {
		meta = e.Metadata
	}
	writeResult(w, meta)
}

func (s *Server) deleteKVValue(w http.ResponseWriter, r *http.Request) {
	nsID, key := r.PathValue("id"), r.PathValue("key")
	s.mu.Lock()
	ns := s.kv[nsID]
	if ns == nil {
		s.mu.Unlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	err := s.kvDelete(ns, []string{key})
	s.mu.Unlock()
	if err != nil {
		writeRequestError(w, err)
		return
	}
	s.emit(Event{Kind: "kv", Namespace: nsID, Name: key})
	writeResult(w, nil)
}

// putKVBulk validates the whole batch before storing any of it.
func (s *Server) putKVBulk(w http.ResponseWriter, r *http.Request) {
	var pairs []struct {
		Key           string          `json:"key"`
		Value         string          `json:"value"`
		Base64        bool            `json:"base64"`
		Expiration    int64           `json:"expiration"`
		ExpirationTTL int64           `json:"expiration_ttl"`
		Metadata      json.RawMessage `json:"metadata"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 100<<20)).Decode(&pairs); err != nil {
		writeRequestError(w, kvBad("expected a JSON array of {key, value} objects: %v", err))
		return
	}
	if len(pairs) > maxKVBulk {
		writeRequestError(w, kvBad("a bulk write takes at most %d pairs, got %d", maxKVBulk, len(pairs)))
		return
	}
	entries := make([]*kvEntry, len(pairs))
	keys := make([]string, len(pairs))
	for i, p := range pairs {
		if err := validateKey(p.Key); err != nil {
			writeRequestError(w, err)
			return
		}
		e := &kvEntry{Key: p.Key, value: []byte(p.Value)}
		if p.Base64 {
			v, err := base64.StdEncoding.DecodeString(p.Value)
			if err != nil {
				writeRequestError(w, kvBad("value of %q is not valid base64", p.Key))
				return
			}
			e.value = v
		}
		var err error
		if e.Expiration, err = s.expiration(optInt(p.Expiration), optInt(p.ExpirationTTL)); err != nil {
			writeRequestError(w, err)
			return
		}
		if string(p.Metadata) != "null" {
			if e.Metadata, err = validateMetadata(p.Metadata); err != nil {
				writeRequestError(w, err)
				return
			}
		}
		entries[i], keys[i] = e, p.Key
	}
	// Cloudflare may store part of a bulk write and name the rest in unsuccessful_keys of a
	// 200; fault injection makes that happen here.
	unsuccessful := []string{}
	if failed := s.kvUnsuccessful(keys); len(failed) > 0 {
		stored, storedKeys := entries[:0:0], keys[:0:0]
		for i, e := range entries {
			if failed[e.Key] {
				unsuccessful = append(unsuccessful, e.Key)
				continue
			}
			stored, storedKeys = append(stored, e), append(storedKeys, keys[i])
		}
		entries, keys = stored, storedKeys
	}
	s.mu.Lock()
	ns := s.kv[r.PathValue("id")]
	if ns == nil {
		s.mu.Unlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	var err error
	if len(entries) > 0 {
		err = s.kvPut(ns, entries)
	}
	s.mu.Unlock()
	if err != nil {
		writeRequestError(w, err)
		return
	}
	s.emit(kvEvents(ns.ID, keys)...)
	writeResult(w, map[string]any{"successful_key_count": len(entries), "unsuccessful_keys": unsuccessful})
}

func optInt(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func (s *Server) deleteKVBulk(w http.ResponseWriter, r *http.Request) {
	var keys []string
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 10<<20)).Decode(&keys); err != nil {
		writeRequestError(w, kvBad("expected a JSON array of keys: %v", err))
		return
	}
	if len(keys) > maxKVBulk {
		writeRequestError(w, kvBad("a bulk delete takes at most %d keys, got %d", maxKVBulk, len(keys)))
		return
	}
	s.mu.Lock()
	ns := s.kv[r.PathValue("id")]
	if ns == nil {
		s.mu.Unlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	err := s.kvDelete(ns, keys)
	s.mu.Unlock()
	if err != nil {
		writeRequestError(w, err)
		return
	}
	s.emit(kvEvents(ns.ID, keys)...)
	writeResult(w, map[string]any{"successful_key_count": len(keys), "unsuccessful_keys": []string{}})
}

type kvKey struct {
	Name       string          `json:"name"`
	Expiration int64           `json:"expiration,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
}

func keysOf(entries []*kvEntry) []kvKey {
	out := make([]kvKey, len(entries))
	for i, e := range entries {
		out[i] = kvKey{Name: e.Key, Expiration: e.Expiration, Metadata: e.Metadata}
	}
	return out
}

func (s *Server) listKVKeys(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	// The schema's range for the keys call: 10 to 1000.
	limit, err := parseLimit(q.Get("limit"), 1000, 10, 1000)
	if err != nil {
		writeRequestError(w, kvBad("%v", err))
		return
	}
	s.mu.Lock()
	ns := s.kv[r.PathValue("id")]
	if ns == nil {
		s.mu.Unlock()
		writeRequestError(w, errKVNamespaceNotFound())
		return
	}
	entries, next, err := s.kvList(ns, q.Get("prefix"), q.Get("cursor"), limit)
	keys := keysOf(entries)
	s.mu.Unlock()
	if err != nil {
		writeRequestError(w, err)
		return
	}
	writeResultInfo(w, keys, map[string]any{"count": len(keys), "cursor": next})
}
