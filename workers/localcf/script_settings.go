package localcf

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
)

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
