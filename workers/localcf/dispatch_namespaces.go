package localcf

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
)

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
