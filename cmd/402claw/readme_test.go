package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// quickStart is the API quick start of the README: the shell block between the
// quickstart markers.
var quickStart = regexp.MustCompile("(?s)<!-- quickstart:begin -->\\s*```sh\\n(.*?)```\\s*<!-- quickstart:end -->")

// quickStartPay is the README's paid call from the command line (node and the official
// @x402/fetch client), the shell block between the quickstart:pay markers.
var quickStartPay = regexp.MustCompile("(?s)<!-- quickstart:pay:begin -->\\s*```sh\\n(.*?)```\\s*<!-- quickstart:pay:end -->")

// TestReadmeQuickStart runs the README's API quick start word for word, with bash and curl,
// against a fresh portal and its local edge, then the README's paid call (node and the
// official x402 client, from the repository's root as the README says), in the same shell,
// and checks what the README says they print.
func TestReadmeQuickStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := quickStart.FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no quick start block between <!-- quickstart:begin --> and <!-- quickstart:end -->")
	}
	pay := quickStartPay.FindSubmatch(readme)
	if pay == nil {
		t.Fatal("README.md has no paid call block between <!-- quickstart:pay:begin --> and <!-- quickstart:pay:end -->")
	}
	for _, tool := range []string{"bash", "curl", "sed", "grep", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPING the README quick start: %s is not installed", tool)
		}
	}
	if _, err := os.Stat("../../node_modules/@x402/fetch"); err != nil {
		t.Skip("SKIPPING the README quick start: @x402/fetch is not installed (npm ci)")
	}
	s := startServe(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", string(m[1])+"\n"+string(pay[1]))
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "BASE="+s.Portal, "EDGE="+s.Edge)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("the quick start failed: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errOut.String())
	}
	// Each step's output, in order: the app, the version, the deployment, the answer, the
	// routes, the 402, then the paid call's status and the tenant's body.
	want := []string{`"slug":"hello"`, `"main_module":"index.js"`, `"status":"pending"`, "\nhello\n", `"access":"x402"`, "\n402\n", "\n200 hello\n"}
	rest := out.String()
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("the quick start's output lacks %q (in order):\n%s", w, out.String())
		}
		rest = rest[i+len(w)-1:]
	}
}
