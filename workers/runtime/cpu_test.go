package runtime

import (
	"strings"
	"testing"
	"time"
)

func TestCPUStatsFromTrace(t *testing.T) {
	// Two requests of the dispatcher, one of a loaded tenant, and a Durable
	// Object of the dispatcher whose context never ends while measured.
	trace := strings.Join([]string{
		`{"e":"ctx","ctx":1,"iso":1,"worker":"dispatcher","actor":null,"at":0}`,
		`{"e":"init","ctx":1,"id":5,"kind":"request","name":"fetch","trigger":0,"exec":0,"at":1}`,
		`{"e":"turn","ctx":1,"cause":5,"start":10,"locked":20,"end":3020}`,
		`{"e":"ctx","ctx":7,"iso":1,"worker":"dispatcher","actor":{"class":"PaymentLock"},"at":30}`,
		`{"e":"turn","ctx":7,"cause":9,"start":40,"locked":50,"end":1050}`,
		`{"e":"turn","ctx":1,"cause":6,"start":2000,"locked":4000,"end":5000}`,
		`{"e":"ctx_end","ctx":1,"at":6000}`,
		`{"e":"ctx","ctx":2,"iso":1,"worker":"dispatcher","actor":null,"at":7000}`,
		`{"e":"turn","ctx":2,"cause":8,"start":7000,"locked":7000,"end":9000}`,
		`{"e":"turn","ctx":2,"cause":8,"start":9000,"locked":0,"end":9500}`,
		`{"e":"ctx_end","ctx":2,"at":9600}`,
		`{"e":"ctx","ctx":3,"iso":2,"worker":"LOADER:app-hello@abc.3#-:10~0","actor":null,"at":7000}`,
		`{"e":"turn","ctx":3,"cause":11,"start":7000,"locked":7100,"end":7600}`,
		`{"e":"ctx_end","ctx":3,"at":7700}`,
		`{"e":"turn","ctx":99,"cause":1,"start":1,"locked":2,"end":100000}`,
		`not json`,
	}, "\n")
	c := newCPUStats()
	c.consume(strings.NewReader(trace))
	got := map[string]WorkerCPU{}
	for _, w := range c.snapshot() {
		got[w.Worker] = w
	}
	tests := []struct {
		worker         string
		requests       int64
		total, max, ls time.Duration
	}{
		// 3000+1000 ns and 2000 ns of requests, 1000 ns of the object.
		{"dispatcher", 2, 7000, 4000, 2000},
		{"app-hello", 1, 500, 500, 500},
	}
	for _, tt := range tests {
		w, ok := got[tt.worker]
		if !ok {
			t.Fatalf("%s: not measured (got %v)", tt.worker, got)
		}
		if w.Requests != tt.requests || w.Total != tt.total || w.Max != tt.max || w.Last != tt.ls {
			t.Errorf("%s: got %+v, want requests %d total %v max %v last %v", tt.worker, w, tt.requests, tt.total, tt.max, tt.ls)
		}
	}
	if len(got) != 2 {
		t.Errorf("workers: %v", got)
	}
}

// The watchdog counts the request contexts that end per worker: not a
// Durable Object's, not one a tenant opened into its own isolate.
func TestTraceEndedContexts(t *testing.T) {
	trace := strings.Join([]string{
		`{"e":"ctx","ctx":1,"iso":1,"worker":"dispatcher","actor":null,"at":0}`,
		`{"e":"ctx_end","ctx":1,"at":10}`,
		`{"e":"ctx","ctx":2,"iso":2,"worker":"LOADER:app-a@e.1#-:10~0","actor":null,"at":1}`,
		`{"e":"ctx_end","ctx":2,"at":10}`,
		`{"e":"ctx","ctx":3,"iso":2,"worker":"LOADER:app-a@e.1#-:10~0","actor":null,"at":2}`,
		`{"e":"link","ctx":3,"id":4,"fromIso":2,"fromCtx":2,"fromId":3}`,
		`{"e":"ctx_end","ctx":3,"at":10}`,
		`{"e":"ctx","ctx":4,"iso":2,"worker":"LOADER:app-a@e.1#-:10~0","actor":null,"at":3}`,
		`{"e":"link","ctx":4,"id":4,"fromIso":1,"fromCtx":1,"fromId":3}`,
		`{"e":"ctx_end","ctx":4,"at":10}`,
		`{"e":"ctx","ctx":5,"iso":1,"worker":"dispatcher","actor":{"class":"PaymentLock"},"at":4}`,
		`{"e":"ctx_end","ctx":5,"at":10}`,
	}, "\n")
	var got []string
	newCPUStats().follow(strings.NewReader(trace), func(w string) { got = append(got, w) })
	if strings.Join(got, ",") != "dispatcher,app-a,app-a" {
		t.Errorf("ended %v, want dispatcher, app-a twice (not its call into itself, not the object)", got)
	}
}

// Ingest takes each request's JS time once, oldest first; self-calls and Durable Objects are
// not requests of their own, and what nobody took for recentAge is dropped.
func TestTakeRequestCPU(t *testing.T) {
	trace := strings.Join([]string{
		`{"e":"ctx","ctx":1,"iso":2,"worker":"LOADER:app-a@e.1#-:10~0","actor":null,"at":1}`,
		`{"e":"turn","ctx":1,"cause":1,"start":1,"locked":1000,"end":3000}`,
		`{"e":"ctx_end","ctx":1,"at":10}`,
		`{"e":"ctx","ctx":2,"iso":2,"worker":"LOADER:app-a@e.2#-:10~0","actor":null,"at":2}`,
		`{"e":"link","ctx":2,"id":4,"fromIso":2,"fromCtx":1,"fromId":3}`,
		`{"e":"turn","ctx":2,"cause":1,"start":1,"locked":1000,"end":9000}`,
		`{"e":"ctx_end","ctx":2,"at":10}`,
		`{"e":"ctx","ctx":3,"iso":2,"worker":"LOADER:app-a@e.2#-:10~0","actor":null,"at":3}`,
		`{"e":"turn","ctx":3,"cause":1,"start":1,"locked":1000,"end":6000}`,
		`{"e":"ctx_end","ctx":3,"at":10}`,
		`{"e":"ctx","ctx":4,"iso":1,"worker":"dispatcher","actor":{"class":"PaymentLock"},"at":4}`,
		`{"e":"turn","ctx":4,"cause":1,"start":1,"locked":1000,"end":6000}`,
		`{"e":"ctx_end","ctx":4,"at":10}`,
	}, "\n")
	c := newCPUStats()
	c.consume(strings.NewReader(trace))
	now := time.Now()
	for i, want := range []time.Duration{2000, 5000} {
		if d, ok := c.take("app-a", now); !ok || d != want {
			t.Fatalf("take %d = %v %v, want %v", i, d, ok, want)
		}
	}
	if d, ok := c.take("app-a", now); ok {
		t.Fatalf("a third take gave %v; the self-call is not a request", d)
	}
	if d, ok := c.take("dispatcher", now); ok {
		t.Fatalf("the Durable Object's turn was taken as a request: %v", d)
	}
	c.consume(strings.NewReader(strings.Join([]string{
		`{"e":"ctx","ctx":5,"iso":2,"worker":"LOADER:app-b@e.1#-:10~0","actor":null,"at":1}`,
		`{"e":"turn","ctx":5,"cause":1,"start":1,"locked":1000,"end":3000}`,
		`{"e":"ctx_end","ctx":5,"at":10}`,
	}, "\n")))
	if d, ok := c.take("app-b", now.Add(recentAge+time.Second)); ok {
		t.Fatalf("a measurement older than %v was taken: %v", recentAge, d)
	}
}
