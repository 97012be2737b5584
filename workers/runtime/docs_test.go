package runtime

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
)

// A listed app's llms.txt at the edge (/<app>/llms.txt) is the portal's (/a/<app>/llms.txt), byte
// for byte, and its 402 HTML page links its docs page; an unlisted app has neither, and its
// /llms.txt is the tenant's to answer.
func TestEdgeAppDocs(t *testing.T) {
	l := newLedgerEdge(t)
	portal := l.tap.URL // the portal as the edge sees it (PORTAL_URL)
	// The portal lists the app: deployed, listed, with a paid route.
	if err := l.db.Gorm.Exec("UPDATE apps SET listed = ?, deployed_version_id = 1, description = 'Weather by the call' WHERE id = ?", true, l.app.ID).Error; err != nil {
		t.Fatal(err)
	}
	route := models.Route{AppID: l.app.ID, Method: "GET", Path: "/paid", Access: models.AccessX402, Price: "$0.01", Amount: "10000",
		Network: "eip155:84532", PayTo: payTo, Settle: "after", Description: "A paid answer"}
	if err := l.db.Gorm.Create(&route).Error; err != nil {
		t.Fatal(err)
	}
	get := func(url string) (int, string, string) {
		t.Helper()
		r, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r.StatusCode, r.Header.Get("Content-Type"), string(b)
	}
	st, _, want := get(portal + "/a/shop/llms.txt")
	if st != 200 || !strings.Contains(want, "Weather by the call") || !strings.Contains(want, "GET /paid") {
		t.Fatalf("portal llms.txt: %d %q", st, want)
	}

	t.Run("unlisted: no docs link, /llms.txt goes to the tenant", func(t *testing.T) {
		r := l.e.do(t, "GET", "", "/shop/paid", map[string]string{"Accept": "text/html"})
		if r.status != 402 || strings.Contains(r.body, "API docs") || strings.Contains(r.body, "/a/shop") {
			t.Errorf("402 page of an unlisted app: %d, links docs: %v", r.status, strings.Contains(r.body, "API docs"))
		}
		if r := l.e.do(t, "GET", "", "/shop/llms.txt", nil); r.status == 200 && r.body == want {
			t.Errorf("the edge served the docs of an unlisted app")
		}
	})

	// The config document says listed (workers.BuildConfig writes it from apps.listed).
	var doc map[string]any
	var raw json.RawMessage
	l.api("GET", "storage/kv/namespaces/"+l.cfgNS+"/values/app:shop", "", nil, &raw)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["listed"] = true
	b, _ := json.Marshal(doc)
	l.api("PUT", "storage/kv/namespaces/"+l.cfgNS+"/values/app:shop", "application/octet-stream", b, nil)
	l.stop()
	l.start()

	t.Run("listed: llms.txt is the portal's", func(t *testing.T) {
		r := l.e.do(t, "GET", "", "/shop/llms.txt", nil)
		if r.status != 200 || r.body != want || !strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown") {
			t.Fatalf("edge llms.txt: %d %s %q\nwant %q", r.status, r.header.Get("Content-Type"), r.body, want)
		}
		if r := l.e.do(t, "HEAD", "", "/shop/llms.txt", nil); r.status != 200 || r.body != "" {
			t.Errorf("HEAD: %d %q", r.status, r.body)
		}
	})

	t.Run("listed: the 402 page links the docs page", func(t *testing.T) {
		r := l.e.do(t, "GET", "", "/shop/paid", map[string]string{"Accept": "text/html"})
		if r.status != 402 || !strings.Contains(r.body, `href="`+portal+`/a/shop">API docs</a>`) {
			t.Errorf("402 page: %d, lacks the docs link: %s", r.status, r.body)
		}
		if r := l.e.do(t, "GET", "", "/shop/paid", nil); r.status != 402 || strings.Contains(r.body, "API docs") {
			t.Errorf("JSON 402: %d %s", r.status, r.body)
		}
	})
}
