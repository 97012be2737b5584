// Package localcf is a local stand-in for the Cloudflare API subset 402claw uses (Workers for
// Platforms and KV), served under the same /client/v4/ paths with the same envelope, status
// codes and error codes, so the portal talks to it through the unchanged cloudflare-go client.
// It also serves /runtime/ endpoints for the local workerd runtime: script bundles by name and
// the HTTP protocol of workerd's kvNamespace binding, backed by the same KV store.
//
// State lives in a directory and survives a restart. Every account id is accepted and all
// accounts share one state, but every request must carry a token: /client/v4/ the API token
// (Options.Token, what the portal's client sends), /runtime/ the runtime token (Options.
// RuntimeToken, what workerd sends). The two differ so that the runtime's token, which sits in
// workerd's configuration, cannot drive the API. Tenant code reaches neither: the edge's egress
// guard refuses the emulator's address.
package localcf

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// Token is the bearer token /client/v4/ requires. Required.
	Token string
	// RuntimeToken is the bearer token /runtime/ requires (scripts with their secrets, KV).
	// Required, and different from Token.
	RuntimeToken string
	// SecretKey (32 bytes) encrypts secret bindings in the state directory. Required.
	SecretKey []byte
	// Faults are injected into /client/v4/ requests from the start; see SetFaults.
	Faults Faults
	// Fsync makes every write reach the disk before it is acknowledged. Off by default: a
	// process restart loses nothing either way, only a machine crash can.
	Fsync bool
	// Now replaces time.Now (tests).
	Now func() time.Time
	// Listing is the shape of the list-scripts answer; the zero value is the schema's (items
	// nested under "script", no cursor). See SetListing.
	Listing Listing
}

// ListShape is how GET …/dispatch/namespaces/{ns}/scripts shapes its items. Cloudflare's
// sources disagree (the OpenAPI schema in cloudflare/api-schemas, the docs, the platform example), so the
// portal must survive each, and tests run it against each.
type ListShape string

const (
	// ListNested is the schema's shape: {created_on, dispatch_namespace, modified_on,
	// script: {id, etag, tags, …}}.
	ListNested ListShape = "nested"
	// ListFlat has the script's fields at the top: {id, etag, tags, …} (the docs' examples).
	ListFlat ListShape = "flat"
	// ListFlatNoTags is what Cloudflare's platform example reads: flat items with neither tags
	// nor etag.
	ListFlatNoTags ListShape = "flat-no-tags"
)

// Listing configures the list-scripts answer.
type Listing struct {
	Shape ListShape // "" is ListNested
	// Cursor pages with result_info.cursor (the docs). Without it (the schema) the answer has
	// no result_info and silently stops at limit (at most 1000) items.
	Cursor bool
}

// Event tells a runtime that something it may have cached changed.
type Event struct {
	Kind      string // "script" (user worker), "worker" (normal worker) or "kv"
	Namespace string // dispatch namespace for scripts, KV namespace id for kv, "" for workers
	Name      string // script name or KV key
}

// Server is the emulated Cloudflare API. It is an http.Handler and safe for concurrent use.
type Server struct {
	dir  string
	opts Options
	mux  *http.ServeMux

	mu         sync.RWMutex
	namespaces map[string]*dispatchNamespace
	workers    map[string]*script
	kv         map[string]*kvNamespace

	faults faultState

	listingMu sync.Mutex
	listing   Listing

	apiToken, runtimeToken [32]byte
	box                    cipher.AEAD // secret bindings at rest

	hookMu sync.Mutex
	hooks  map[int]func(Event)
	nextID int
}

// New opens (or creates) the state in dir and returns a ready Server.
func New(dir string, opts Options) (*Server, error) {
	if opts.Token == "" || opts.RuntimeToken == "" || opts.Token == opts.RuntimeToken {
		return nil, errors.New("localcf: Options.Token and Options.RuntimeToken are required and must differ")
	}
	if len(opts.SecretKey) != 32 {
		return nil, errors.New("localcf: Options.SecretKey must be 32 bytes (it encrypts secret bindings at rest)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localcf: unable to create state directory: %w", err)
	}
	// The state holds every app's code and secrets: the operator's alone.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localcf: unable to restrict the state directory: %w", err)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		dir:          dir,
		opts:         opts,
		namespaces:   map[string]*dispatchNamespace{},
		workers:      map[string]*script{},
		kv:           map[string]*kvNamespace{},
		hooks:        map[int]func(Event){},
		apiToken:     sha256.Sum256([]byte(opts.Token)),
		runtimeToken: sha256.Sum256([]byte(opts.RuntimeToken)),
	}
	block, err := aes.NewCipher(opts.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("localcf: %w", err)
	}
	if s.box, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("localcf: %w", err)
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.SetFaults(opts.Faults)
	s.SetListing(opts.Listing)
	s.routes()
	return s, nil
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/client/v4/"):
		if !s.injectFault(w, r) {
			return
		}
		if !bearer(r, s.apiToken) {
			writeError(w, http.StatusForbidden, codeAuthentication, "Authentication error")
			return
		}
	case bearer(r, s.runtimeToken):
	default:
		// Nothing outside /client/v4/ answers without the runtime token, not even a 404.
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	// The runtime KV protocol bypasses the mux: ServeMux would clean and redirect keys such as
	// ".." or "a//b", which are legal KV keys.
	if rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/runtime/kv/"); ok {
		nsID, key, _ := strings.Cut(rest, "/")
		id, err := url.PathUnescape(nsID)
		if err != nil || id == "" {
			http.Error(w, "bad namespace id", http.StatusBadRequest)
			return
		}
		s.serveRuntimeKV(w, r, id, key)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	m := http.NewServeMux()
	const acct = "/client/v4/accounts/{account}/"
	const ns = acct + "workers/dispatch/namespaces/{ns}"
	const sc = ns + "/scripts/{name}"
	m.HandleFunc("GET "+acct+"workers/dispatch/namespaces", s.listNamespaces)
	m.HandleFunc("POST "+acct+"workers/dispatch/namespaces", s.createNamespace)
	m.HandleFunc("GET "+ns, s.getNamespace)
	m.HandleFunc("DELETE "+ns, s.deleteNamespace)
	m.HandleFunc("GET "+ns+"/scripts", s.listScripts)
	m.HandleFunc("DELETE "+ns+"/scripts", s.deleteScriptsByTag)
	m.HandleFunc("PUT "+sc, s.uploadScript)
	m.HandleFunc("GET "+sc, s.getScript)
	m.HandleFunc("DELETE "+sc, s.deleteScript)
	m.HandleFunc("GET "+sc+"/content", s.getScriptContent)
	m.HandleFunc("GET "+sc+"/settings", s.getSettings)
	m.HandleFunc("PATCH "+sc+"/settings", s.patchSettings)
	m.HandleFunc("GET "+sc+"/tags", s.getTags)
	m.HandleFunc("PUT "+sc+"/tags", s.putTags)
	m.HandleFunc("PUT "+sc+"/tags/{tag}", s.putTag)
	m.HandleFunc("DELETE "+sc+"/tags/{tag}", s.deleteTag)
	m.HandleFunc("GET "+sc+"/secrets", s.listSecrets)
	m.HandleFunc("PUT "+sc+"/secrets", s.putSecret)
	m.HandleFunc("GET "+sc+"/secrets/{secret}", s.getSecret)
	m.HandleFunc("DELETE "+sc+"/secrets/{secret}", s.deleteSecret)

	m.HandleFunc("GET "+acct+"workers/scripts", s.listWorkers)
	m.HandleFunc("PUT "+acct+"workers/scripts/{name}", s.uploadScript)
	m.HandleFunc("GET "+acct+"workers/scripts/{name}", s.getScriptContent)
	m.HandleFunc("DELETE "+acct+"workers/scripts/{name}", s.deleteScript)
	m.HandleFunc("GET "+acct+"workers/scripts/{name}/settings", s.getSettings)
	m.HandleFunc("PATCH "+acct+"workers/scripts/{name}/settings", s.patchSettings)

	const kv = acct + "storage/kv/namespaces"
	m.HandleFunc("GET "+kv, s.listKVNamespaces)
	m.HandleFunc("POST "+kv, s.createKVNamespace)
	m.HandleFunc("GET "+kv+"/{id}", s.getKVNamespace)
	m.HandleFunc("DELETE "+kv+"/{id}", s.deleteKVNamespace)
	m.HandleFunc("PUT "+kv+"/{id}/values/{key}", s.putKVValue)
	m.HandleFunc("GET "+kv+"/{id}/values/{key}", s.getKVValue)
	m.HandleFunc("DELETE "+kv+"/{id}/values/{key}", s.deleteKVValue)
	m.HandleFunc("GET "+kv+"/{id}/metadata/{key}", s.getKVMetadata)
	m.HandleFunc("PUT "+kv+"/{id}/bulk", s.putKVBulk)
	m.HandleFunc("POST "+kv+"/{id}/bulk/delete", s.deleteKVBulk)
	m.HandleFunc("DELETE "+kv+"/{id}/bulk", s.deleteKVBulk)
	m.HandleFunc("GET "+kv+"/{id}/keys", s.listKVKeys)

	m.HandleFunc("GET /runtime/namespaces/{ns}/scripts/{name}", s.runtimeScript)
	m.HandleFunc("GET /runtime/workers/{name}", s.runtimeScript)
	m.HandleFunc("/client/v4/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeRouteNotFound, "No route for that URI")
	})
	s.mux = m
}

// bearer compares the request's bearer token with want (a SHA-256) in constant time.
func bearer(r *http.Request, want [32]byte) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// SetListing changes the list-scripts answer's shape and paging from the next request on.
func (s *Server) SetListing(l Listing) {
	if l.Shape == "" {
		l.Shape = ListNested
	}
	s.listingMu.Lock()
	defer s.listingMu.Unlock()
	s.listing = l
}

// Listing returns the list-scripts answer's current shape and paging.
func (s *Server) Listing() Listing {
	s.listingMu.Lock()
	defer s.listingMu.Unlock()
	return s.listing
}

// OnChange registers fn to be called after every change to a script or a KV value; the returned
// function unregisters it. fn runs synchronously after the change is stored, outside any lock.
func (s *Server) OnChange(fn func(Event)) (cancel func()) {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	id := s.nextID
	s.nextID++
	s.hooks[id] = fn
	return func() {
		s.hookMu.Lock()
		defer s.hookMu.Unlock()
		delete(s.hooks, id)
	}
}

func (s *Server) emit(events ...Event) {
	if len(events) == 0 {
		return
	}
	s.hookMu.Lock()
	hooks := make([]func(Event), 0, len(s.hooks))
	for _, h := range s.hooks {
		hooks = append(hooks, h)
	}
	s.hookMu.Unlock()
	for _, h := range hooks {
		for _, e := range events {
			h(e)
		}
	}
}

// Error codes. 10000, 10007, 10009, 10013, 10014, 10016, 10021, 10027, 10079, 100102, 100103
// and 100134 are codes the real API answers (per Cloudflare's OpenAPI schema and wrangler
// reports); the others are this emulator's best guess and only need to be stable. 10013 means
// two things on Cloudflare, depending on the API: "namespace not found" (404) under
// storage/kv, and "workers.api.error.unknown" (a transient 5xx) under workers; the emulator
// uses it for exactly those two and nothing else.
const (
	codeAuthentication      = 10000
	codeInternal            = 10002
	codeScriptNotFound      = 10007
	codeKVKeyNotFound       = 10009
	codeKVNamespaceNotFound = 10013 // under storage/kv
	codeWorkersUnknown      = 10013 // under workers
	codeKVNamespaceExists   = 10014
	codeInvalidScriptName   = 10016
	codeKVKeyTooLong        = 10019
	codeValidation          = 10021
	codeKVBadRequest        = 10026
	codeScriptTooLarge      = 10027
	codeDONotMigrated       = 10061 // guessed
	codeMigrationTag        = 10079
	codeTagTooLong          = 100102
	codeTooManyTags         = 100103
	codeTagInvalidChars     = 100134
	codeRouteNotFound       = 7003
	codeNamespaceNotFound   = 100119
	codeNamespaceExists     = 100120
)

type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type envelope struct {
	Success    bool       `json:"success"`
	Errors     []apiError `json:"errors"`
	Messages   []any      `json:"messages"`
	Result     any        `json:"result"`
	ResultInfo any        `json:"result_info,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeResult(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []apiError{}, Messages: []any{}, Result: result})
}

func writeResultInfo(w http.ResponseWriter, result, info any) {
	writeJSON(w, http.StatusOK, envelope{Success: true, Errors: []apiError{}, Messages: []any{}, Result: result, ResultInfo: info})
}

func writeError(w http.ResponseWriter, status, code int, message string) {
	writeJSON(w, status, envelope{Errors: []apiError{{Code: code, Message: message}}, Messages: []any{}})
}
