package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models/starters"
	"github.com/402claw/402claw/models/x402"
)

const starterWallet = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

// fromStarter creates an app from a starter through the API and waits until the edge serves
// its first version.
func (tn *tenant) fromStarter(slug, starter, extra string) {
	tn.t.Helper()
	st, b := tn.api("POST", "/api/v1/apps", fmt.Sprintf(`{"slug":%q,"starter":%q%s}`, slug, starter, extra))
	if st != 201 {
		tn.t.Fatalf("create %s from %s: %d %s", slug, starter, st, b)
	}
	tn.waitDeployed(slug)
}

func (tn *tenant) waitDeployed(slug string) {
	tn.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, b := tn.api("GET", "/api/v1/apps/"+slug, "")
		var a struct {
			DeployedVersionID *uint  `json:"deployed_version_id"`
			SyncState         string `json:"sync_state"`
			SyncError         string `json:"sync_error"`
		}
		json.Unmarshal([]byte(b), &a)
		if a.DeployedVersionID != nil && a.SyncState == "in_sync" {
			return
		}
		if time.Now().After(deadline) {
			tn.t.Fatalf("%s never deployed: %s", slug, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func call(t *testing.T, method, u, body string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// TestStartersDeployAndAnswer creates an app from every starter through the API, lets the
// real edge (workerd) serve it and gets the answer each starter documents.
func TestStartersDeployAndAnswer(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, `{"error":"bad key"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Set-Cookie", "upstream=1")
		fmt.Fprintf(w, `{"upstream":true,"path":%q,"q":%q}`, r.URL.Path, r.URL.Query().Get("q"))
	}))
	defer upstream.Close()
	s := startServe(t, map[string]string{"CLAW_EDGE_PRIVATE_EGRESS": "allow"})
	covered := map[string]bool{}

	t.Run("json-api", func(t *testing.T) {
		covered["json-api"] = true
		tn := s.signUp(t, "json-api@example.com", "Json-Api")
		tn.fromStarter("json-start", "json-api", "")
		if st, _, b := call(t, "GET", s.Edge+"/json-start/items/1", ""); st != 200 || b != `{"id":1,"name":"Teapot","price":12}` {
			t.Fatalf("GET /items/1: %d %s", st, b)
		}
		if st, _, b := call(t, "POST", s.Edge+"/json-start/echo", `{"a":[1,2]}`); st != 200 || b != `{"received":{"a":[1,2]}}` {
			t.Fatalf("POST /echo: %d %s", st, b)
		}
	})

	t.Run("paid-api", func(t *testing.T) {
		covered["paid-api"] = true
		tn := s.signUp(t, "paid-api@example.com", "Paid-Api")
		// No wallet: refused, and no app is created.
		if st, b := tn.api("POST", "/api/v1/apps", `{"slug":"paid-start","starter":"paid-api"}`); st != 422 || !strings.Contains(b, `"pay_to"`) {
			t.Fatalf("paid starter without a wallet: %d %s", st, b)
		}
		if st, b := tn.api("POST", "/api/v1/apps", `{"slug":"paid-start","starter":"paid-api","pay_to":"0x1234"}`); st != 422 || !strings.Contains(b, `"pay_to"`) {
			t.Fatalf("paid starter with a bad wallet: %d %s", st, b)
		}
		if st, _ := tn.api("GET", "/api/v1/apps/paid-start", ""); st != 404 {
			t.Fatalf("a refused starter left an app: %d", st)
		}
		tn.fromStarter("paid-start", "paid-api", `,"pay_to":"`+starterWallet+`"`)
		st, h, b := call(t, "GET", s.Edge+"/paid-start/quote", "")
		var pr x402.PaymentRequired
		if st != 402 || x402.DecodeHeader(h.Get(x402.HeaderPaymentRequired), &pr) != nil || len(pr.Accepts) == 0 {
			t.Fatalf("GET /quote unpaid: %d %s", st, b)
		}
		if a := pr.Accepts[0]; a.Amount != "1000" || !strings.EqualFold(a.PayTo, starterWallet) {
			t.Fatalf("challenge: %+v", a)
		}
		if st, _, b := call(t, "GET", s.Edge+"/paid-start/", ""); st != 200 || !strings.Contains(b, "costs $0.001") {
			t.Fatalf("GET / (free): %d %s", st, b)
		}
		a := tn.console("paid-start", url.Values{"path": {"/quote"}, "pay": {"1"}})
		if !strings.HasPrefix(a.statusText, "200") || !strings.Contains(a.body, `"paid": true`) {
			t.Fatalf("paid through the console: %q %s", a.statusText, a.body)
		}
	})

	t.Run("proxy", func(t *testing.T) {
		covered["proxy"] = true
		tn := s.signUp(t, "proxy@example.com", "Proxy")
		tn.fromStarter("proxy-start", "proxy", "")
		if _, b := tn.api("GET", "/api/v1/apps/proxy-start/egress", ""); !strings.Contains(b, "httpbin.org") {
			t.Fatalf("the starter's allowlist: %s", b)
		}
		// Point it at the local upstream with its key; the allowlist does not name it yet.
		for _, v := range []string{`UPSTREAM_URL","value":"` + upstream.URL + `/v1"`, `UPSTREAM_TOKEN","value":"s3cret","secret":true`} {
			name := strings.SplitN(v, `"`, 2)[0]
			if st, b := tn.api("PUT", "/api/v1/apps/proxy-start/vars/"+name, `{"value"`+strings.TrimPrefix(v, name+`","value"`)+`}`); st != 200 {
				t.Fatalf("var %s: %d %s", name, st, b)
			}
		}
		tn.waitDeployed("proxy-start")
		s.edgeEventually(t, "/proxy-start/proxy/items?q=1", func(st int, b string) bool { return st >= 500 || strings.Contains(b, "egress") })
		u, _ := url.Parse(upstream.URL)
		if st, b := tn.api("PUT", "/api/v1/apps/proxy-start/egress", `{"allow":["httpbin.org","`+u.Hostname()+`"]}`); st != 200 {
			t.Fatalf("egress: %d %s", st, b)
		}
		s.edgeEventually(t, "/proxy-start/proxy/items?q=ada", func(st int, b string) bool {
			return st == 200 && b == `{"upstream":true,"path":"/v1/items","q":"ada"}`
		})
		if _, h, _ := call(t, "GET", s.Edge+"/proxy-start/proxy/items", ""); h.Get("Set-Cookie") != "" {
			t.Errorf("the upstream's cookie reached the consumer")
		}
	})

	t.Run("kv-counter", func(t *testing.T) {
		covered["kv-counter"] = true
		tn := s.signUp(t, "kv-counter@example.com", "Kv-Counter")
		tn.fromStarter("kv-start", "kv-counter", "")
		if st, _, b := call(t, "POST", s.Edge+"/kv-start/hit", ""); st != 200 || b != `{"count":1}` {
			t.Fatalf("POST /hit: %d %s", st, b)
		}
		if st, _, b := call(t, "POST", s.Edge+"/kv-start/hit", ""); st != 200 || b != `{"count":2}` {
			t.Fatalf("second POST /hit: %d %s", st, b)
		}
		if st, _, b := call(t, "GET", s.Edge+"/kv-start/", ""); st != 200 || b != `{"count":2}` {
			t.Fatalf("GET /: %d %s", st, b)
		}
	})

	tn := s.signUp(t, "starters@example.com", "Starters Co")
	if st, b := tn.api("POST", "/api/v1/apps", `{"slug":"nope-start","starter":"wordpress"}`); st != 422 || !strings.Contains(b, "json-api") {
		t.Errorf("unknown starter: %d %s", st, b)
	}
	for _, st := range starters.All() {
		if !covered[st.Key] {
			t.Errorf("starter %s has no test here", st.Key)
		}
	}
}
