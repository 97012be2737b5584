package runtime

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func startOwn(t *testing.T, edgeURL string) *Runtime {
	t.Helper()
	wd, err := FindWorkerd("../..")
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	rt, err := Start(context.Background(), Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: edgeURL, EdgeAPIToken: testRuntimeToken, Namespace: testNS,
		ConfigKVNamespaceID: testConfigNS, DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Stop(ctx)
	})
	return rt
}

func TestSupervisorRestartsAndStops(t *testing.T) {
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	rt := startOwn(t, srv.URL)
	first := rt.Status()
	if !first.Running || first.PID == 0 {
		t.Fatalf("status after start: %+v", first)
	}
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := rt.Status()
		if st.Running && st.PID != 0 && st.PID != first.PID {
			if st.Restarts != 1 || st.LastError == "" {
				t.Errorf("after one crash: %+v", st)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workerd was not restarted: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e := &edgeEnv{rt: rt, edge: fe}
	if r := e.do(t, "GET", "", "/", nil); r.status != 404 || r.errorCode() != "no_app" {
		t.Fatalf("after restart: %d %s", r.status, r.body)
	}
	pid := rt.Status().PID
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("workerd pid %d still exists after Stop: %v", pid, err)
	}
	if rt.Status().Running {
		t.Errorf("status says running after Stop")
	}
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "workerd")
	os.WriteFile(notExec, []byte("#!/bin/sh\necho broken config >&2\nexit 3\n"), 0o755)
	cases := []struct {
		name string
		opts Options
	}{
		{"missing binary", Options{WorkerdPath: filepath.Join(dir, "nope")}},
		{"exits at once", Options{WorkerdPath: notExec}},
		{"bad edge url", Options{WorkerdPath: notExec, EdgeAPIURL: "ftp://x"}},
		{"no data dir", Options{WorkerdPath: notExec, DataDir: "-"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			if o.EdgeAPIURL == "" {
				o.EdgeAPIURL = "http://127.0.0.1:1"
			}
			if o.DataDir == "" {
				o.DataDir = t.TempDir()
			} else if o.DataDir == "-" {
				o.DataDir = ""
			}
			o.Namespace, o.ConfigKVNamespaceID, o.ListenAddr, o.EdgeAPIToken = "ns", "cfg", "127.0.0.1:0", testRuntimeToken
			o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			rt, err := Start(context.Background(), o)
			if err == nil {
				rt.Stop(context.Background())
				t.Fatal("Start succeeded")
			}
			if c.name == "exits at once" && !contains(err.Error(), "broken config") {
				t.Errorf("error does not carry workerd's output: %v", err)
			}
		})
	}
}

func TestFindWorkerdMissing(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("CLAW_WORKERD", "")
	_, err := FindWorkerd(t.TempDir())
	if !errors.Is(err, ErrWorkerdMissing) || !contains(err.Error(), "npm ci") {
		t.Fatalf("FindWorkerd without node_modules: %v", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// The default data dir is relative (./data); workerd runs elsewhere, so the
// runtime must hand it absolute paths. make run failed this way once.
func TestStartWithRelativeDataDir(t *testing.T) {
	root, _ := filepath.Abs("../..")
	wd, err := FindWorkerd(root)
	if err != nil {
		t.Skipf("SKIPPING workerd tests: %v", err)
	}
	fe := newFakeEdge()
	srv := httptest.NewServer(fe)
	defer srv.Close()
	t.Chdir(t.TempDir())
	rt, err := Start(context.Background(), Options{
		WorkerdPath: wd, ListenAddr: "127.0.0.1:0", EdgeAPIURL: srv.URL, EdgeAPIToken: testRuntimeToken, Namespace: testNS,
		ConfigKVNamespaceID: testConfigNS, DataDir: "data", Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("start with a relative data dir: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt.Stop(ctx)
}
