package web_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMetricsAfterMixedMethods: requests of different methods on one
// keep-alive connection reuse the request buffers. The method label used to
// alias them ("GET" became "POS", "DELETE" became "GETETE") until /metrics
// collected two series with equal labels and answered 500.
func TestMetricsAfterMixedMethods(t *testing.T) {
	p := startPortal(t)
	conn, err := net.Dial("tcp", hostOf(t, p))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	methods := []string{"DELETE", "GET", "POST", "PUT", "HEAD", "PATCH", "OPTIONS", "GET", "DELETE", "POST"}
	sent := map[string]int{}
	for round := 0; round < 20; round++ {
		for _, m := range methods {
			fmt.Fprintf(conn, "%s /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", m)
			res, err := http.ReadResponse(br, &http.Request{Method: m})
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			sent[m]++
		}
	}
	r := p.browser(t).get("/metrics")
	if r.Status != http.StatusOK {
		t.Fatalf("/metrics: %d %.300s", r.Status, r.Body)
	}
	// Only GET and HEAD match /healthz; the others count as unmatched routes.
	label := regexp.MustCompile(`claw_http_requests_total\{method="([^"]*)",route="[^"]*",status="\d+"\} (\d+)`)
	got := map[string]int{}
	for _, m := range label.FindAllStringSubmatch(r.Body, -1) {
		var n int
		fmt.Sscan(m[2], &n)
		got[m[1]] += n
	}
	for m := range got {
		if !strings.Contains(" GET HEAD POST PUT PATCH DELETE OPTIONS OTHER ", " "+m+" ") {
			t.Errorf("method label %q: a request buffer leaked into the metrics", m)
		}
	}
	// The scrape itself is counted after it answers: the counts are exactly what was sent.
	for m, n := range sent {
		if got[m] != n {
			t.Errorf("%s: %d counted, %d sent", m, got[m], n)
		}
	}
}
