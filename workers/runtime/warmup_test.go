package runtime

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The warm-up runs the dispatcher's free, unpaid and paid paths on its fake
// app before Start returns, and the fake app is not reachable afterwards.
func TestWarmUp(t *testing.T) {
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	var logs syncBuffer
	rt := startOwnEdge(t, wd, srv.URL, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	if out := logs.String(); !strings.Contains(out, "workerd warmed up") || strings.Contains(out, "warm-up failed") {
		t.Fatalf("no successful warm-up in the log:\n%s", out)
	}
	e := &edgeEnv{rt: rt, edge: fe}
	for _, path := range []string{"/claw-warm-up/", "/claw-warm-up/paid"} {
		if r := e.do(t, "GET", "", path, nil); r.status != 404 || r.errorCode() != "app_not_found" {
			t.Errorf("%s after the warm-up: %d %s, want 404 app_not_found", path, r.status, r.body)
		}
	}
	if n := fe.reads(testNS, "claw-warm-up"); n != 0 {
		t.Errorf("the warm-up read the script store %d times", n)
	}
}
