package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
)

// rawRequest writes a request's headers and the first bytes of its body on
// a fresh connection and returns the answer — without sending the rest of
// the body, so the answer can only come from a server that decided before
// reading it.
func rawRequest(t *testing.T, addr, method, path string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, addr)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: no answer before the body arrived (%v): the server waits for a body it should have refused", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res, string(data)
}

func hostOf(t *testing.T, p *portal) string {
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// sessionCookieOf is the Cookie header of a signed-in browser.
func sessionCookieOf(t *testing.T, p *portal, b *browser) string {
	u, _ := url.Parse(p.URL)
	return "claw_session=" + cookie(b, u, "claw_session")
}

// TestBodyRefusedBeforeReading: an announced Content-Length over the
// route's limit is answered at once, before the body: the review's attack
// announced 16 MB, sent one byte and waited while the portal held 16 MB.
// Routes that take large bodies authenticate first: without the credential
// the limit is the smallest one and the answer says what is missing.
func TestBodyRefusedBeforeReading(t *testing.T) {
	p := startPortal(t)
	addr := hostOf(t, p)
	tok := apiTenant(t, p, "limits@example.com", "Limits")
	if r := p.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"limited","name":"Limited"}`); r.Status != 201 {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	b := p.browser(t)
	if r := b.login("limits@example.com", "a good long password"); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.Status)
	}
	session := sessionCookieOf(t, p, b)
	huge := strconv.Itoa(16_000_000)
	free := strconv.Itoa(3<<20 + 64<<10 + 1) // one byte over a free plan's upload limit
	cases := []struct {
		name, path string
		hdr        map[string]string
		status     int
		code       string // JSON answers; empty: an HTML page
	}{
		{"telemetry without token", "/internal/telemetry", map[string]string{"Content-Length": huge}, 401, "unauthorized"},
		{"telemetry with a wrong token", "/internal/telemetry", map[string]string{"Content-Length": huge, "Authorization": "Bearer nope"}, 401, "unauthorized"},
		{"telemetry with the token", "/internal/telemetry", map[string]string{"Content-Length": huge, "Authorization": "Bearer test-ingest-token"}, 413, "too_large"},
		{"telemetry, trailing slash and capitals", "/Internal/Telemetry/", map[string]string{"Content-Length": huge}, 401, "unauthorized"},
		{"telemetry in absolute form", "http://" + addr + "/internal/telemetry", map[string]string{"Content-Length": huge}, 401, "unauthorized"},
		{"login form", "/login", map[string]string{"Content-Length": "100000", "Content-Type": "application/x-www-form-urlencoded"}, 413, ""},
		{"sign-up form", "/signup", map[string]string{"Content-Length": huge, "Content-Type": "application/x-www-form-urlencoded"}, 413, ""},
		{"api sign-up", "/api/v1/signup", map[string]string{"Content-Length": "100000", "Content-Type": "application/json"}, 413, "too_large"},
		{"api upload without token", "/api/v1/apps/limited/versions", map[string]string{"Content-Length": huge, "Content-Type": "application/json"}, 401, "unauthorized"},
		{"api upload over the plan", "/api/v1/apps/limited/versions", map[string]string{"Content-Length": free, "Content-Type": "application/json", "Authorization": "Bearer " + tok}, 413, "too_large"},
		{"api call with a token", "/api/v1/apps/limited/routes", map[string]string{"Content-Length": huge, "Content-Type": "application/json", "Authorization": "Bearer " + tok}, 413, "too_large"},
		{"page upload without session", "/apps/limited/versions", map[string]string{"Content-Length": huge, "Content-Type": "application/x-www-form-urlencoded"}, 413, ""},
		{"page upload over the plan", "/apps/limited/versions", map[string]string{"Content-Length": free, "Content-Type": "application/x-www-form-urlencoded", "Cookie": session}, 413, ""},
		{"page form", "/settings/tokens", map[string]string{"Content-Length": huge, "Content-Type": "application/x-www-form-urlencoded", "Cookie": session}, 413, ""},
		{"chunked login", "/login", map[string]string{"Transfer-Encoding": "chunked", "Content-Type": "application/x-www-form-urlencoded"}, 413, ""},
		{"unknown path", "/nope", map[string]string{"Content-Length": huge}, 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := "x"
			if c.hdr["Transfer-Encoding"] == "chunked" {
				// 8 KiB in one chunk, then nothing: over the 4 KiB of a login form.
				body = fmt.Sprintf("%x\r\n%s\r\n", 8<<10, strings.Repeat("a", 8<<10))
			}
			res, text := rawRequest(t, addr, "POST", c.path, c.hdr, body)
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %.300s", res.StatusCode, c.status, text)
			}
			if c.code != "" {
				var env struct {
					Error struct{ Code, Message string }
				}
				if err := json.Unmarshal([]byte(text), &env); err != nil || env.Error.Code != c.code || env.Error.Message == "" {
					t.Fatalf("answer %q, want JSON with code %s", text, c.code)
				}
			} else if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") || !strings.Contains(text, "too large") {
				t.Fatalf("answer %s %.300q, want a page saying the request is too large", res.Header.Get("Content-Type"), text)
			}
		})
	}
}

// TestBodyTooLargeAnswerArrives: a client that sends its whole (small but
// oversized) body still reads the 413 — the portal drains a little before
// closing instead of resetting the connection under the answer.
func TestBodyTooLargeAnswerArrives(t *testing.T) {
	p := startPortal(t)
	b := p.browser(t)
	r := b.post("/signup", url.Values{"email": {strings.Repeat("a", 1<<20) + "@example.com"}, "password": {"a good long password"}, "tenant": {"H"}})
	if r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "at most 4 KiB") {
		t.Fatalf("a 1 MiB sign-up form: %d %.300s", r.Status, r.Body)
	}
	api := p.api(t, "POST", "/api/v1/signup", "", "application/json", `{"email":"`+strings.Repeat("a", 1<<20)+`"}`)
	if api.Status != http.StatusRequestEntityTooLarge || !strings.Contains(api.Body, `"too_large"`) {
		t.Fatalf("a 1 MiB API sign-up: %d %.300s", api.Status, api.Body)
	}
	if n := count(t, p, &models.User{}); n != 0 {
		t.Fatalf("%d users", n)
	}
}

// TestCompressedBodyRefused: fiber inflates gzip, deflate and brotli bodies
// without a bound; a few KiB inside every limit could become gigabytes.
func TestCompressedBodyRefused(t *testing.T) {
	p := startPortal(t)
	for _, enc := range []string{"gzip", "br", "deflate", "GZIP"} {
		b := &browser{t: t, base: p.URL, c: http.DefaultClient}
		res := b.do("POST", "/api/v1/signup", strings.NewReader("\x1f\x8b"), map[string]string{"Content-Type": "application/json", "Content-Encoding": enc})
		if res.Status != http.StatusUnsupportedMediaType || !strings.Contains(res.Body, "uncompressed") {
			t.Fatalf("%s body: %d %s", enc, res.Status, res.Body)
		}
	}
}

// TestUploadAtPlanCap: the per-route limits still take a script of the
// plan's maximum size, however it is sent: JSON (escaping grows it), the
// editor's URL-encoded form (up to 3×) and multipart files.
func TestUploadAtPlanCap(t *testing.T) {
	p := startPortal(t)
	tok := apiTenant(t, p, "cap@example.com", "Cap")
	if r := p.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"capped","name":"Capped"}`); r.Status != 201 {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	free, err := p.Store.PlanByKey(context.Background(), "free")
	if err != nil {
		t.Fatal(err)
	}
	// A string literal full of characters that every encoding escapes.
	unit := `say \"hi\" & <b>100%</b> + 'more'; `
	head, tail := "export default { fetch() { return new Response(\"", "\"); } };\n"
	n := (int(free.MaxScriptBytes) - 8<<10 - len(head) - len(tail)) / len(unit)
	src := head + strings.Repeat(unit, n) + tail

	jsonBody := jsonVersion("index.js", map[string]string{"index.js": src})
	form := url.Values{"main_module": {"index.js"}, "code": {src}}.Encode()
	t.Logf("script %d bytes (plan cap %d); as JSON %d bytes (%.1f×), URL-encoded %d bytes (%.1f×)",
		len(src), free.MaxScriptBytes, len(jsonBody), float64(len(jsonBody))/float64(len(src)), len(form), float64(len(form))/float64(len(src)))

	if r := p.api(t, "POST", "/api/v1/apps/capped/versions", tok, "application/json", jsonBody); r.Status != http.StatusCreated {
		t.Fatalf("JSON upload at the cap: %d %.300s", r.Status, r.Body)
	}
	ctype, mp := multipartBody(t, map[string][]byte{"index.js": []byte(src)}, map[string]string{"main_module": "index.js"})
	if r := p.api(t, "POST", "/api/v1/apps/capped/versions", tok, ctype, mp); r.Status != http.StatusCreated {
		t.Fatalf("multipart upload at the cap: %d %.300s", r.Status, r.Body)
	}
	b := p.browser(t)
	if r := b.login("cap@example.com", "a good long password"); r.Status != http.StatusSeeOther {
		t.Fatalf("login: %d", r.Status)
	}
	vals, _ := url.ParseQuery(form)
	if r := b.post("/apps/capped/versions", vals); r.Status != http.StatusOK || !strings.Contains(r.Body, "Saved as version 3") {
		t.Fatalf("editor form at the cap: %d %.300s", r.Status, r.Body)
	}
	// Over the plan: the bundle check answers (a body inside the limit), not the body limit.
	over := head + strings.Repeat("a", int(free.MaxScriptBytes)) + tail
	if r := p.api(t, "POST", "/api/v1/apps/capped/versions", tok, "application/json", jsonVersion("index.js", map[string]string{"index.js": over})); r.Status != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body, "problems") {
		t.Fatalf("over the plan: %d %.300s", r.Status, r.Body)
	}
}

// TestSlowBodyCutOff: a body that trickles in is cut off by the read
// deadline set when the headers arrive; the client learns why.
func TestSlowBodyCutOff(t *testing.T) {
	p := startPortal(t, func(o *web.Options) { o.BodyTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", hostOf(t, p))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	fmt.Fprintf(conn, "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusRequestTimeout || time.Since(start) > 5*time.Second {
		t.Fatalf("stalled body: %d after %v: %.200s", res.StatusCode, time.Since(start), body)
	}
}

// TestBodyAttackRSS is the review's attack against a portal in a process
// of its own: 60 connections announce Content-Length 16,000,000 to
// /internal/telemetry and send one byte (then the same on other routes,
// with and without credentials). The portal's peak RSS (VmHWM) must stay
// under 150 MB; before per-route limits it reached about 1 GB.
func TestBodyAttackRSS(t *testing.T) {
	if os.Getenv("CLAW_BODY_ATTACK_CHILD") != "" {
		t.Skip("running as the attack's target")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to read a process's memory")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBodyAttackTarget$", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "CLAW_BODY_ATTACK_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var addr, token string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "TARGET" {
			addr, token = f[1], f[2]
			break
		}
	}
	if addr == "" {
		t.Fatal("the target process did not start")
	}
	go io.Copy(io.Discard, out)
	pid := cmd.Process.Pid
	before := procStatusMB(t, pid, "VmRSS")

	waves := []struct {
		path string
		hdr  string
	}{
		{"/internal/telemetry", ""},
		{"/internal/telemetry", "Authorization: Bearer " + token + "\r\n"},
		{"/api/v1/apps/x/versions", "Authorization: Bearer " + token + "\r\n"},
		{"/login", ""},
		{"/stripe/webhook", ""},
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, w := range waves {
		for i := 0; i < 60; i++ {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: 16000000\r\n\r\n{", w.path, addr, w.hdr)
		}
	}
	// Let the portal do whatever it does with them.
	time.Sleep(2 * time.Second)
	after, peak := procStatusMB(t, pid, "VmRSS"), procStatusMB(t, pid, "VmHWM")
	t.Logf("portal RSS %.0f MB before, %.0f MB after %d connections; peak %.0f MB", before, after, len(conns), peak)
	if peak >= 150 {
		t.Fatalf("peak RSS %.0f MB under the attack, want under 150 MB", peak)
	}
}

// TestBodyAttackTarget is the portal TestBodyAttackRSS attacks, in a child
// process so that its memory is the portal's alone.
func TestBodyAttackTarget(t *testing.T) {
	if os.Getenv("CLAW_BODY_ATTACK_CHILD") == "" {
		t.Skip("started by TestBodyAttackRSS")
	}
	p := startPortal(t)
	fmt.Printf("TARGET %s test-ingest-token\n", hostOf(t, p))
	time.Sleep(90 * time.Second)
}

func procStatusMB(t *testing.T, pid int, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if f := strings.Fields(string(line)); len(f) >= 2 && f[0] == field+":" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
