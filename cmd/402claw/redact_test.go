package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/402claw/402claw/workers"
)

// TestLogsNeverCarryFacilitatorCredentials: once the portal knows the facilitator credentials
// (at start and on every change in Admin → Facilitators), no log line carries them — in the
// message, an attribute, a wrapped error or a group, with the text or the JSON handler, raw or
// escaped — while the rest of the line stays readable.
func TestLogsNeverCarryFacilitatorCredentials(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	jwt, err := workers.JWTAuth("organizations/o/apiKeys/k", base64.StdEncoding.EncodeToString(priv))
	if err != nil {
		t.Fatal(err)
	}
	token := "tok_" + strings.Repeat("s3cr3t", 6)
	authJSON, _ := json.Marshal(map[string]workers.FacilitatorAuth{
		"https://pay.example/x402": {Type: "bearer", Token: token},
		"https://cdp.example/x402": jwt,
	})
	auth := string(authJSON)
	d := jwt.JWK["d"]
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		log := newLogger(&Config{LogFormat: format, LogLevel: "debug"}, &buf)
		log.Info("before the portal knows it: " + token)
		if !strings.Contains(buf.String(), token) {
			t.Fatalf("%s: the control line lost the token: %s", format, buf.String())
		}
		buf.Reset()
		redactFacilitatorAuth(auth)
		lines := []func(){
			func() { log.Info("facilitator answered: Bearer " + token) },
			func() {
				log.Error("upload failed", "err", fmt.Errorf("cloudflare: %w", errors.New("binding FACILITATOR_AUTH="+auth+" refused")))
			},
			func() { log.Warn("key", "jwk_d", d) },
			func() {
				log.With("edge", "local").WithGroup("facilitator").Debug("call", "authorization", "Bearer "+token, "auth", auth)
			},
			func() { log.Info("quoted", "v", fmt.Sprintf("%q", auth)) },
		}
		for i, line := range lines {
			buf.Reset()
			line()
			out := buf.String()
			for name, secret := range map[string]string{"token": token, "jwk d": d, "FACILITATOR_AUTH": auth} {
				if strings.Contains(out, secret) {
					t.Errorf("%s line %d carries the %s: %s", format, i, name, out)
				}
			}
			if !strings.Contains(out, redacted) {
				t.Errorf("%s line %d: nothing masked: %s", format, i, out)
			}
		}
		buf.Reset()
		log.Info("payment settled", "network", "eip155:8453")
		if !strings.Contains(buf.String(), "payment settled") || strings.Contains(buf.String(), redacted) {
			t.Errorf("%s: an ordinary line changed: %s", format, buf.String())
		}
	}
	// Short or empty values never mask ordinary words.
	var buf bytes.Buffer
	log := newLogger(&Config{}, &buf)
	redactFacilitatorAuth(`{"https://x":{"type":"bearer","token":"none"}}`)
	log.Info("none of this is secret")
	if strings.Contains(buf.String(), redacted) {
		t.Errorf("a 4-character token masked a word: %s", buf.String())
	}
}
