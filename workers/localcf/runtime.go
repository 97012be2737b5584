package localcf

import (
	"encoding/json"
	"net/http"
)

type runtimeModule struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	ContentB64  []byte `json:"content_b64"` // encoding/json writes []byte as standard base64
}

type runtimeBundle struct {
	Name               string            `json:"name"`
	ETag               string            `json:"etag"`
	MainModule         string            `json:"main_module"`
	CompatibilityDate  string            `json:"compatibility_date"`
	CompatibilityFlags []string          `json:"compatibility_flags"`
	Bindings           []json.RawMessage `json:"bindings"`
	Modules            []runtimeModule   `json:"modules"`
}

// runtimeScript hands the local runtime everything it needs to build an isolate, secrets
// included: it is not part of the Cloudflare API and must only listen on loopback.
func (s *Server) runtimeScript(w http.ResponseWriter, r *http.Request) {
	nsName, name := r.PathValue("ns"), r.PathValue("name")
	s.mu.RLock()
	var sc *script
	if nsName == "" {
		sc = s.workers[name]
	} else if ns := s.namespaces[nsName]; ns != nil {
		sc = ns.scripts[name]
	}
	if sc == nil {
		s.mu.RUnlock()
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Worker not found."})
		return
	}
	full, err := s.readScriptFile(sc.Namespace, name)
	s.mu.RUnlock()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	b := runtimeBundle{
		Name:               full.Name,
		ETag:               full.ETag,
		MainModule:         full.MainModule,
		CompatibilityDate:  full.CompatibilityDate,
		CompatibilityFlags: full.CompatibilityFlags,
		Bindings:           runtimeBindings(full),
		Modules:            make([]runtimeModule, len(full.Modules)),
	}
	if b.CompatibilityFlags == nil {
		b.CompatibilityFlags = []string{}
	}
	for i, m := range full.Modules {
		b.Modules[i] = runtimeModule{Name: m.Name, ContentType: m.ContentType, ContentB64: m.Content}
	}
	w.Header().Set("ETag", `"`+full.ETag+`"`)
	writeJSON(w, http.StatusOK, b)
}
