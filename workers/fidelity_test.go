package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/workers/localcf"
)

// TestListAcceptsEveryShape: the list-scripts answer is read whichever shape Cloudflare sends
// (the OpenAPI schema nests items, the docs and the platform example do not), and items
// that cannot name a script are skipped, never turned into a name.
func TestListAcceptsEveryShape(t *testing.T) {
	tests := []struct {
		name      string
		result    string
		info      string
		wantNames []string
		wantTags  []bool
		shape     string
	}{
		{"nested (schema)", `[{"created_on":"2026-01-01T00:00:00Z","dispatch_namespace":"p","modified_on":"2026-01-02T00:00:00Z","script":{"id":"app-a","etag":"e1","tags":["402claw","sha:1"]}}]`, ``,
			[]string{"app-a"}, []bool{true}, `items nested under "script" with tags, no cursor`},
		{"flat with tags (docs)", `[{"id":"app-a","etag":"e1","tags":["402claw"]},{"id":"app-b","etag":"e2","tags":[]}]`, `{"cursor":""}`,
			[]string{"app-a", "app-b"}, []bool{true, true}, `flat items with tags, paged by cursor (1 pages)`},
		{"flat without tags (platform example)", `[{"id":"app-a","created_on":"2026-01-01T00:00:00Z"},{"id":"app-b"}]`, ``,
			[]string{"app-a", "app-b"}, []bool{false, false}, `flat items without tags, no cursor`},
		{"tags null", `[{"id":"app-a","tags":null}]`, ``, []string{"app-a"}, []bool{false}, `flat items without tags, no cursor`},
		{"nested without a name", `[{"created_on":"x","script":{"etag":"e"}},{"script":{"id":"app-b","tags":["t"]}}]`, ``,
			[]string{"app-b"}, []bool{true}, `items nested under "script", 1 of 2 with tags, no cursor, 1 items without a name ignored`},
		{"flat item with an empty id", `[{"id":"","tags":["402claw"]},{"etag":"e"}]`, ``, nil, nil, ""},
		{"item of another type", `[{"id":"app-a","tags":"402claw"},"app-b",17]`, ``, nil, nil, ""},
		{"no items", `[]`, ``, nil, nil, "no items, no cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, _ := newRecorded(t, func(_ int, _ recordedRequest, w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				body := `{"success":true,"errors":[],"messages":[],"result":` + tt.result
				if tt.info != "" {
					body += `,"result_info":` + tt.info
				}
				fmt.Fprint(w, body+"}")
			})
			l, err := cf.ListUserScriptsDetailed(context.Background(), "p", "402claw:yes")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			var known []bool
			for _, s := range l.Scripts {
				names, known = append(names, s.Name), append(known, s.TagsKnown)
				if s.Name == "" {
					t.Errorf("an item became a script without a name")
				}
			}
			if !slices.Equal(names, tt.wantNames) || !slices.Equal(known, tt.wantTags) {
				t.Errorf("scripts %v (tags known %v), want %v %v", names, known, tt.wantNames, tt.wantTags)
			}
			if tt.shape != "" && l.Shape() != tt.shape {
				t.Errorf("shape %q, want %q", l.Shape(), tt.shape)
			}
		})
	}
}

// TestListRefusesAPageThatMayBeCut: an answer without a cursor holding a whole page may have
// been cut by Cloudflare; a listing never returns it as complete.
func TestListRefusesAPageThatMayBeCut(t *testing.T) {
	cf, _ := newRecorded(t, func(_ int, _ recordedRequest, w http.ResponseWriter) {
		items := make([]map[string]string, ListLimit)
		for i := range items {
			items[i] = map[string]string{"id": fmt.Sprintf("app-%04d", i)}
		}
		okJSON(w, items, nil)
	})
	_, err := cf.ListUserScripts(context.Background(), "p", "tenant:1:yes")
	if !errors.Is(err, ErrListTruncated) {
		t.Fatalf("a full page without a cursor: %v", err)
	}
}

// newShapedEmulator is the emulator answering lists in the given shape, with n of our scripts
// (tagged as BuildScript tags them: owner and shard).
func newShapedEmulator(t *testing.T, listing localcf.Listing) (*Cloudflare, *localcf.Server) {
	t.Helper()
	emu, err := localcf.New(t.TempDir(), localcf.Options{Token: "t", RuntimeToken: "r", SecretKey: make([]byte, 32), Listing: listing})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emu.Close() })
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	cf := NewCloudflare(CloudflareConfig{APIToken: "t", AccountID: "acc", BaseURL: srv.URL + "/client/v4", MaxRetries: -1, KVRetryBackoff: time.Millisecond})
	if err := cf.CreateDispatchNamespace(context.Background(), "p"); err != nil {
		t.Fatal(err)
	}
	return cf, emu
}

func uploadOwned(t *testing.T, cf *Cloudflare, names []string, withShard func(string) bool) {
	t.Helper()
	sem := make(chan struct{}, 8)
	errs := make(chan error, len(names))
	for _, name := range names {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			tags := []string{OwnerTag}
			if withShard(name) {
				tags = append(tags, ShardTag(name))
			}
			_, err := cf.UploadUserScript(context.Background(), "p", name, ScriptUpload{MainModule: "w.js", CompatibilityDate: CompatibilityDate,
				Modules: []ScriptModule{{Name: "w.js", Content: []byte("export default {}")}}, Tags: tags})
			errs <- err
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestListOwnedScriptsShardsAPageThatMayBeCut: 1,500 of our scripts behind a list call without
// a cursor (the schema's): the first answer is cut at 1,000, so the listing goes shard by shard
// and finds all 1,500 — also the few without a shard tag, which only the cut page showed.
func TestListOwnedScriptsShardsAPageThatMayBeCut(t *testing.T) {
	cf, emu := newShapedEmulator(t, localcf.Listing{Shape: localcf.ListNested})
	names := make([]string, 1500)
	for i := range names {
		names[i] = fmt.Sprintf("app-s%04d", i)
	}
	// app-s0000 … app-s0009 predate shard tags; they sort first, so the cut page has them.
	uploadOwned(t, cf, names, func(n string) bool { return n >= "app-s0010" })
	l, err := cf.ListOwnedScripts(context.Background(), "p")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, s := range l.Scripts {
		got[s.Name] = true
	}
	if len(l.Scripts) != 1500 || len(got) != 1500 || !l.Sharded || l.Cursor {
		t.Fatalf("listed %d (%d distinct), sharded %v, cursor %v: %s", len(l.Scripts), len(got), l.Sharded, l.Cursor, l.Shape())
	}
	// With a cursor, no sharding is needed.
	emu.SetListing(localcf.Listing{Shape: localcf.ListFlat, Cursor: true})
	l, err = cf.ListOwnedScripts(context.Background(), "p")
	if err != nil || len(l.Scripts) != 1500 || l.Sharded || !l.Cursor || l.Pages != 2 {
		t.Fatalf("with a cursor: %d, %v: %s", len(l.Scripts), err, l.Shape())
	}
}

// TestListOwnedScriptsFailsWhenAShardIsFull: if even a shard comes back full without a cursor,
// the listing fails rather than hand a partial list to the reconciler.
func TestListOwnedScriptsFailsWhenAShardIsFull(t *testing.T) {
	var shard string
	cf, _ := newRecorded(t, func(_ int, r recordedRequest, w http.ResponseWriter) {
		u, _ := url.Parse(r.URI)
		tags := u.Query().Get("tags")
		if tags != ownerFilter && !strings.HasSuffix(tags, ",shard:7f:yes") {
			okJSON(w, []any{}, nil)
			return
		}
		shard = tags
		items := make([]map[string]any, ListLimit)
		for i := range items {
			items[i] = map[string]any{"id": fmt.Sprintf("app-x%04d", i), "tags": []string{OwnerTag}}
		}
		okJSON(w, items, nil)
	})
	_, err := cf.ListOwnedScripts(context.Background(), "p")
	if !errors.Is(err, ErrListTruncated) || !strings.Contains(err.Error(), "shard:7f") || shard == "" {
		t.Fatalf("a full shard: %v", err)
	}
}

// TestKVBulkRetriesUnsuccessfulKeys: keys Cloudflare names in unsuccessful_keys (with a 200,
// or with a 4xx that stored part of the call) are written again; keys that keep failing fail
// the write, named.
func TestKVBulkRetriesUnsuccessfulKeys(t *testing.T) {
	t.Run("injected by the emulator, then stored", func(t *testing.T) {
		cf, emu := newShapedEmulator(t, localcf.Listing{})
		ns, _ := cf.CreateKVNamespace(context.Background(), "cfg")
		emu.SetFaults(localcf.Faults{KVUnsuccessfulRate: 0.1, Seed: 3})
		pairs := make([]KVPair, 200)
		for i := range pairs {
			pairs[i] = KVPair{Key: fmt.Sprintf("app:%03d", i), Value: "v"}
		}
		if err := cf.PutKVBulk(context.Background(), ns.ID, pairs); err != nil {
			t.Fatal(err)
		}
		if n := emu.FaultStats().KVUnsuccessful; n == 0 {
			t.Fatal("no key was refused: the test proves nothing")
		}
		emu.SetFaults(localcf.Faults{})
		if keys, err := cf.KVKeys(context.Background(), ns.ID, "app:"); err != nil || len(keys) != 200 {
			t.Fatalf("%d keys stored, %v", len(keys), err)
		}
	})
	t.Run("always refused", func(t *testing.T) {
		cf, emu := newShapedEmulator(t, localcf.Listing{})
		ns, _ := cf.CreateKVNamespace(context.Background(), "cfg")
		emu.SetFaults(localcf.Faults{KVUnsuccessfulRate: 1, KVUnsuccessfulPrefix: "app:bad"})
		err := cf.PutKVBulk(context.Background(), ns.ID, []KVPair{{Key: "app:good", Value: "1"}, {Key: "app:bad1", Value: "2"}, {Key: "app:bad2", Value: "3"}})
		var bulk *KVBulkError
		if !errors.As(err, &bulk) || !slices.Equal(bulk.Keys, []string{"app:bad1", "app:bad2"}) || bulk.Tries != 4 ||
			!strings.Contains(err.Error(), "2 KV keys were not stored after 4 tries: app:bad1, app:bad2") {
			t.Fatalf("err = %v", err)
		}
		if v, err := cf.GetKV(context.Background(), ns.ID, "app:good"); err != nil || string(v) != "1" {
			t.Errorf("the good key: %q %v", v, err)
		}
	})
	t.Run("wire: 4xx with a partial result, then 4xx storing nothing", func(t *testing.T) {
		cf, rec := newRecorded(t, func(n int, _ recordedRequest, w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(400)
			if n == 0 {
				fmt.Fprint(w, `{"success":false,"errors":[{"code":10026,"message":"some keys failed"}],"result":{"successful_key_count":1,"unsuccessful_keys":["b","not-sent"]}}`)
				return
			}
			fmt.Fprint(w, `{"success":false,"errors":[{"code":10026,"message":"value too large"}],"result":{"successful_key_count":0,"unsuccessful_keys":["b"]}}`)
		})
		cf.kvRetryBackoff = time.Millisecond
		err := cf.PutKVBulk(context.Background(), "ns", []KVPair{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}})
		var bulk *KVBulkError
		if !errors.As(err, &bulk) || !slices.Equal(bulk.Keys, []string{"b"}) || bulk.Tries != 2 || !strings.Contains(err.Error(), "10026 value too large") {
			t.Fatalf("err = %v", err)
		}
		reqs := rec.all()
		var second []KVPair
		json.Unmarshal(reqs[1].Body, &second)
		if len(reqs) != 2 || len(second) != 1 || second[0].Key != "b" {
			t.Errorf("%d requests; the retry sent %s", len(reqs), reqs[1].Body)
		}
	})
}

// TestDeleteByTagIsPagedAndNeedsAFilter: the client repeats the call until has_more is false,
// and never sends it without a filter (Cloudflare would delete every script).
func TestDeleteByTagIsPagedAndNeedsAFilter(t *testing.T) {
	cf, _ := newShapedEmulator(t, localcf.Listing{})
	names := make([]string, 250)
	for i := range names {
		names[i] = fmt.Sprintf("app-d%03d", i)
	}
	uploadOwned(t, cf, names, func(string) bool { return false })
	if _, err := cf.UploadUserScript(context.Background(), "p", "keep-me", ScriptUpload{MainModule: "w.js", CompatibilityDate: CompatibilityDate,
		Modules: []ScriptModule{{Name: "w.js", Content: []byte("export default {}")}}, Tags: []string{"other"}}); err != nil {
		t.Fatal(err)
	}
	n, err := cf.DeleteUserScriptsByTag(context.Background(), "p", OwnerTag+":yes")
	if err != nil || n != 250 {
		t.Fatalf("deleted %d, %v; want 250 in three calls", n, err)
	}
	if left, err := cf.ListUserScripts(context.Background(), "p"); err != nil || len(left) != 1 || left[0].Name != "keep-me" {
		t.Errorf("left: %+v %v", left, err)
	}

	rec, _ := newRecorded(t, nil)
	if _, err := rec.DeleteUserScriptsByTag(context.Background(), "p"); err == nil || !strings.Contains(err.Error(), "without a tag filter") {
		t.Errorf("delete without a filter: %v", err)
	}
}
