package localcf

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTokens: the API answers only its own token, the runtime endpoints only
// theirs; before, any bearer was accepted and /runtime/ had no check at all,
// so tenant code that reached the emulator read every app's secrets.
func TestTokens(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.mustNamespace(t, "prod")
	ts.upload(t, "prod", "victim", nil, map[string]any{"type": "secret_text", "name": "S", "text": "hush"})
	kv := ts.mustKVNamespace(t, "cfg")
	cases := []struct {
		name, method, path, auth string
		status                   int
	}{
		{"api with its token", "GET", base + "workers/dispatch/namespaces", "Bearer " + testToken, 200},
		{"api with any other bearer", "GET", base + "workers/dispatch/namespaces", "Bearer anything", 403},
		{"api with the runtime token", "GET", base + "workers/dispatch/namespaces", "Bearer " + testRuntimeToken, 403},
		{"api write with a wrong bearer", "PUT", base + "storage/kv/namespaces/" + kv + "/values/app:victim", "Bearer anything", 403},
		{"api with legacy key headers only", "GET", base + "workers/dispatch/namespaces", "", 403},
		{"runtime script with its token", "GET", "/runtime/namespaces/prod/scripts/victim", "Bearer " + testRuntimeToken, 200},
		{"runtime script without a token", "GET", "/runtime/namespaces/prod/scripts/victim", "", 403},
		{"runtime script with the api token", "GET", "/runtime/namespaces/prod/scripts/victim", "Bearer " + testToken, 403},
		{"runtime kv write without a token", "PUT", "/runtime/kv/" + kv + "/app:victim?urlencoded=true", "", 403},
		{"unknown path without a token", "GET", "/anything", "", 403},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.call(t, c.method, c.path, "text/plain", []byte("x"), "Authorization", c.auth, "X-Auth-Key", "k", "X-Auth-Email", "a@b.c")
			if r.status != c.status {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, r.status, r.body, c.status)
			}
			if c.status == 403 && strings.Contains(string(r.body), "hush") {
				t.Fatal("a refused request saw the secret")
			}
		})
	}
	if _, err := New(t.TempDir(), Options{Token: "same", RuntimeToken: "same", SecretKey: testKey}); err == nil {
		t.Error("equal API and runtime tokens must be refused")
	}
	if _, err := New(t.TempDir(), Options{}); err == nil {
		t.Error("a server without tokens must be refused")
	}
}

// TestSecretsAtRest: secret bindings never reach the state directory in
// clear, files are private to the operator, and a state written by an older
// version (secrets in clear) still opens and is sealed on its next write.
func TestSecretsAtRest(t *testing.T) {
	dir := t.TempDir()
	ts := openTestServer(t, dir, Options{})
	ts.mustNamespace(t, "prod")
	ts.upload(t, "prod", "shop", nil, map[string]any{"type": "secret_text", "name": "S", "text": "hush-hush-value"})
	ts.json(t, "PUT", base+"workers/dispatch/namespaces/prod/scripts/shop/secrets", map[string]any{"name": "T", "text": "second-secret-value", "type": "secret_text"})
	ts.Close()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, _ := d.Info()
		if d.IsDir() && info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: others may list it", p, info.Mode().Perm())
		}
		if !d.IsDir() {
			if info.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s is %v: others may read it", p, info.Mode().Perm())
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte("hush-hush-value")) || bytes.Contains(b, []byte("second-secret-value")) {
				t.Errorf("%s holds a secret in clear", p)
			}
		}
		return nil
	})
	again := openTestServer(t, dir, Options{})
	r := again.call(t, "GET", "/runtime/namespaces/prod/scripts/shop", "", nil)
	if !strings.Contains(string(r.body), "hush-hush-value") || !strings.Contains(string(r.body), "second-secret-value") {
		t.Fatalf("secrets after reopening: %s", r.body)
	}
	again.Close()
	if _, err := New(dir, Options{Token: testToken, RuntimeToken: testRuntimeToken, SecretKey: bytes.Repeat([]byte{8}, 32)}); err == nil || !strings.Contains(err.Error(), "secret key") {
		t.Errorf("opening with another key: %v, want an error naming the secret key", err)
	}

	// An older version's file: secrets in clear under "secrets".
	path := again.scriptPath("prod", "shop")
	b, _ := os.ReadFile(path)
	b = bytes.Replace(b, []byte(`"sealed_secrets":`), []byte(`"ignored":`), 1)
	b = bytes.Replace(b, []byte(`{"namespace"`), []byte(`{"secrets":{"OLD":"legacy-value"},"namespace"`), 1)
	os.WriteFile(path, b, 0o600)
	old := openTestServer(t, dir, Options{})
	if r := old.call(t, "GET", "/runtime/namespaces/prod/scripts/shop", "", nil); !strings.Contains(string(r.body), "legacy-value") {
		t.Fatalf("a legacy secret was lost: %s", r.body)
	}
	old.json(t, "PUT", base+"workers/dispatch/namespaces/prod/scripts/shop/secrets", map[string]any{"name": "U", "text": "third", "type": "secret_text"})
	if b, _ := os.ReadFile(path); bytes.Contains(b, []byte("legacy-value")) {
		t.Error("the legacy secret is still in clear after a write")
	}
}
