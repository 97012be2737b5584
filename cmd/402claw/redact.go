package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"sync"
)

// redactWriter masks secrets in everything the portal logs. The facilitator credentials
// (bearer tokens, JWT signing keys) are the dispatcher's secret binding and nobody's business
// in a log: an error from Cloudflare or from a facilitator that echoes what it was sent, a
// workerd line, a mistaken debug attribute would otherwise print them. Every formatted log
// line passes through here, whichever handler (text or JSON) wrote it, so a secret is masked
// in the message, in attributes and in errors alike, as written and as JSON or Go quoting
// escapes it.
type redactWriter struct {
	w       io.Writer
	mu      sync.RWMutex
	secrets [][]byte
}

const redacted = "[REDACTED]"

// minSecret keeps short values (an empty token, "none") from masking ordinary words.
const minSecret = 8

func (r *redactWriter) Write(p []byte) (int, error) {
	r.mu.RLock()
	out := p
	for _, s := range r.secrets {
		if bytes.Contains(out, s) {
			out = bytes.ReplaceAll(out, s, []byte(redacted))
		}
	}
	r.mu.RUnlock()
	if _, err := r.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// set replaces the masked values with values and their escaped forms.
func (r *redactWriter) set(values []string) {
	var out [][]byte
	seen := map[string]bool{}
	add := func(s string) {
		if len(s) >= minSecret && !seen[s] {
			seen[s] = true
			out = append(out, []byte(s))
		}
	}
	for _, v := range values {
		add(v)
		j, _ := json.Marshal(v)
		add(string(j[1 : len(j)-1]))
		q := strconv.Quote(v)
		add(q[1 : len(q)-1])
	}
	r.mu.Lock()
	r.secrets = out
	r.mu.Unlock()
}

// logSecrets is the portal's redactWriter (newLogger installs it; nil in tests that build a
// logger of their own).
var logSecrets struct {
	mu sync.Mutex
	r  *redactWriter
}

// redactFacilitatorAuth masks the credentials of the dispatcher's FACILITATOR_AUTH (JSON: URL →
// {token} or {jwk: {d, …}}) in the portal's logs from now on, the whole binding value too.
func redactFacilitatorAuth(auth string) {
	logSecrets.mu.Lock()
	r := logSecrets.r
	logSecrets.mu.Unlock()
	if r == nil {
		return
	}
	r.set(facilitatorSecrets(auth))
}

func facilitatorSecrets(auth string) []string {
	if auth == "" || auth == "{}" {
		return nil
	}
	out := []string{auth}
	var m map[string]struct {
		Token string            `json:"token"`
		JWK   map[string]string `json:"jwk"`
	}
	if json.Unmarshal([]byte(auth), &m) != nil {
		return out
	}
	for _, a := range m {
		out = append(out, a.Token, a.JWK["d"])
	}
	return out
}
