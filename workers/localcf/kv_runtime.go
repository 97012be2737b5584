package localcf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// --- the workerd kvNamespace protocol ---

// KVHandler serves the protocol of workerd's kvNamespace binding for one namespace at the root
// ("/<key>"), for a runtime that gives each namespace its own listener.
func (s *Server) KVHandler(nsID string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.serveRuntimeKV(w, r, nsID, strings.TrimPrefix(r.URL.EscapedPath(), "/"))
	})
}

// serveRuntimeKV answers workerd's KV protocol. rest is the escaped path after the namespace:
// "" lists, "bulk/get" reads many keys, anything else is one percent-encoded key. Errors are
// plain text: workerd only looks at the status.
func (s *Server) serveRuntimeKV(w http.ResponseWriter, r *http.Request, nsID, rest string) {
	switch {
	case rest == "" && r.Method == http.MethodGet:
		s.runtimeKVList(w, r, nsID)
		return
	case rest == "bulk/get" && r.Method == http.MethodPost:
		s.runtimeKVBulkGet(w, r, nsID)
		return
	}
	key, err := url.PathUnescape(rest)
	if err != nil {
		http.Error(w, "bad key encoding", http.StatusBadRequest)
		return
	}
	if err := validateKey(key); err != nil {
		var re *requestError
		errors.As(err, &re)
		http.Error(w, re.message, re.status)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.mu.RLock()
		e := s.kvLookup(nsID, key)
		s.mu.RUnlock()
		if e == nil {
			http.Error(w, "key not found", http.StatusNotFound)
			return
		}
		if e.Metadata != nil {
			w.Header().Set("CF-KV-Metadata", string(e.Metadata))
		}
		if e.Expiration != 0 {
			w.Header().Set("CF-Expiration", strconv.FormatInt(e.Expiration, 10))
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(e.value)
	case http.MethodPut:
		q := r.URL.Query()
		exp, err := s.expiration(q.Get("expiration"), q.Get("expiration_ttl"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		meta, err := validateMetadata([]byte(r.Header.Get("CF-KV-Metadata")))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		value, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxKVValueBytes))
		if err != nil {
			http.Error(w, "value exceeds the 25 MiB limit", http.StatusRequestEntityTooLarge)
			return
		}
		s.mu.Lock()
		ns, err := s.runtimeNamespace(nsID)
		if err == nil {
			err = s.kvPut(ns, []*kvEntry{{Key: key, Expiration: exp, Metadata: meta, value: value}})
		}
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.emit(Event{Kind: "kv", Namespace: nsID, Name: key})
	case http.MethodDelete:
		s.mu.Lock()
		var err error
		if ns := s.kv[nsID]; ns != nil {
			err = s.kvDelete(ns, []string{key})
		}
		s.mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		s.emit(Event{Kind: "kv", Namespace: nsID, Name: key})
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// runtimeNamespace returns the namespace, creating it on first write: the runtime may be
// configured with an id the REST API has not seen (a fresh local install). Call with s.mu held.
func (s *Server) runtimeNamespace(nsID string) (*kvNamespace, error) {
	if ns := s.kv[nsID]; ns != nil {
		return ns, nil
	}
	ns := &kvNamespace{ID: nsID, Title: nsID, entries: map[string]*kvEntry{}}
	s.kv[nsID] = ns
	err := s.openKVLog(ns)
	if err == nil {
		err = s.saveState()
	}
	if err != nil {
		s.closeKVLog(ns)
		delete(s.kv, nsID)
		return nil, err
	}
	return ns, nil
}

func (s *Server) runtimeKVList(w http.ResponseWriter, r *http.Request, nsID string) {
	q := r.URL.Query()
	limit := 1000
	if v := q.Get("key_count_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			http.Error(w, "key_count_limit must be between 1 and 1000", http.StatusBadRequest)
			return
		}
		limit = n
	}
	type listing struct {
		Keys         []kvKey `json:"keys"`
		ListComplete bool    `json:"list_complete"`
		Cursor       string  `json:"cursor,omitempty"`
	}
	s.mu.Lock()
	ns := s.kv[nsID]
	if ns == nil {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, listing{Keys: []kvKey{}, ListComplete: true})
		return
	}
	entries, next, err := s.kvList(ns, q.Get("prefix"), q.Get("cursor"), limit)
	keys := keysOf(entries)
	s.mu.Unlock()
	if err != nil {
		http.Error(w, "invalid cursor", http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, listing{Keys: keys, ListComplete: next == "", Cursor: next})
}

// runtimeKVBulkGet answers get([...keys]): an object from key to value (null when missing),
// or to {value, metadata} when withMetadata is set. workerd 1.20261117.1 was observed to send
// {"keys":[…]} for text (no "type"), {"keys":[…],"type":"json"} and {"keys":[…],
// "withMetadata":true}, and to hand the answer to the worker unchanged, so JSON values must
// arrive parsed.
func (s *Server) runtimeKVBulkGet(w http.ResponseWriter, r *http.Request, nsID string) {
	var req struct {
		Keys         []string `json:"keys"`
		Type         string   `json:"type"`
		WithMetadata bool     `json:"withMetadata"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20)).Decode(&req); err != nil {
		http.Error(w, "expected {\"keys\":[…]}", http.StatusBadRequest)
		return
	}
	if len(req.Keys) > 100 {
		http.Error(w, "at most 100 keys per bulk get", http.StatusBadRequest)
		return
	}
	out := make(map[string]any, len(req.Keys))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, k := range req.Keys {
		e := s.kvLookup(nsID, k)
		if e == nil {
			out[k] = nil
			continue
		}
		var v any = string(e.value)
		if req.Type == "json" {
			if !json.Valid(e.value) {
				http.Error(w, fmt.Sprintf("value of %q is not JSON", k), http.StatusBadRequest)
				return
			}
			v = json.RawMessage(e.value)
		}
		if req.WithMetadata {
			var meta any = nil
			if e.Metadata != nil {
				meta = e.Metadata
			}
			v = map[string]any{"value": v, "metadata": meta}
		}
		out[k] = v
	}
	writeJSON(w, http.StatusOK, out)
}
