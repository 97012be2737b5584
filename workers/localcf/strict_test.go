package localcf

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStrictLikeCloudflare: every rule the emulator enforces because Cloudflare does, one row
// each, with where the rule comes from. The rows run in order on one server; a row may change
// the server first (listing shape, faults).
func TestStrictLikeCloudflare(t *testing.T) {
	ts := newTestServer(t, Options{Now: func() time.Time { return time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC) }})
	ts.mustNamespace(t, "prod")
	kv := ts.mustKVNamespace(t, "cfg")
	sc := base + "workers/dispatch/namespaces/prod/scripts/"
	wk := base + "workers/scripts/"
	mod := part{"index.js", "application/javascript+module", helloModule}
	upload := func(meta map[string]any, parts ...part) func() (string, []byte) {
		return func() (string, []byte) {
			m := map[string]any{"main_module": "index.js", "compatibility_date": "2026-11-01"}
			for k, v := range meta {
				m[k] = v
			}
			if len(parts) == 0 {
				parts = []part{mod}
			}
			return form(append([]part{metadata(m)}, parts...)...)
		}
	}
	jsonBody := func(v any) func() (string, []byte) {
		return func() (string, []byte) { b, _ := json.Marshal(v); return "application/json", b }
	}
	lock := map[string]any{"type": "durable_object_namespace", "name": "LOCK", "class_name": "PaymentLock"}
	v1 := map[string]any{"new_tag": "v1", "new_sqlite_classes": []string{"PaymentLock"}}
	const (
		schemaUpload   = "schema: namespace-worker-script-upload-worker-module (PUT …/dispatch/namespaces/{ns}/scripts/{name})"
		schemaWorker   = "schema: worker-script-upload-worker-module (PUT accounts/{a}/workers/scripts/{name})"
		schemaList     = "schema: namespace-worker-list-scripts (GET …/dispatch/namespaces/{ns}/scripts)"
		schemaDelete   = "schema: namespace-worker-delete-scripts (DELETE …/scripts?tags=&limit=)"
		schemaTags     = "schema: namespace-worker-put-script-tags / put-script-tag"
		schemaKVKeys   = "schema: workers-kv-namespace-list-a-namespace'-s-keys (limit 10–1000)"
		schemaKVNS     = "schema: workers-kv-namespace-list-namespaces (per_page 5–100)"
		schemaKVBulk   = "schema: workers-kv-namespace-write-multiple-key-value-pairs (successful_key_count, unsuccessful_keys)"
		docsMigrations = "docs: durable-objects/reference/durable-objects-migrations; workers-sdk issue #705 (10079)"
		docsCompat     = "docs: workers/configuration/compatibility-dates (a date in the future is refused)"
		wranglerCodes  = "wrangler reports: 10013 is KV 'namespace not found' and Workers 'workers.api.error.unknown'"
	)
	tests := []struct {
		name, source string
		before       func()
		method, path string
		body         func() (string, []byte)
		wantStatus   int
		wantCode     int
		wantBody     string
	}{
		// Script names.
		{"upper-case name", schemaUpload, nil, "PUT", sc + "Shop", upload(nil), 400, codeInvalidScriptName, "invalid_script_name"},
		{"name starting with a dash", schemaUpload, nil, "PUT", sc + "-shop", upload(nil), 400, codeInvalidScriptName, ""},
		{"name with a slash", schemaUpload, nil, "PUT", sc + "a%2Fb", upload(nil), 400, codeInvalidScriptName, ""},
		{"name with a dot", schemaUpload, nil, "PUT", sc + "app.js", upload(nil), 400, codeInvalidScriptName, ""},
		{"valid name", schemaUpload, nil, "PUT", sc + "_app-1_x", upload(nil), 200, 0, ""},
		{"worker name checked too", schemaWorker, nil, "PUT", wk + "My-Worker", upload(nil), 400, codeInvalidScriptName, ""},

		// Module part types.
		{"application/json module", schemaUpload, nil, "PUT", sc + "a", upload(nil, mod, part{"d.json", "application/json", "{}"}), 400, codeValidation, "application/json"},
		{"text/javascript+module main module", schemaUpload, nil, "PUT", sc + "a", upload(nil, part{"index.js", "text/javascript+module", helloModule}), 200, 0, ""},
		{"source map part", schemaUpload, nil, "PUT", sc + "a", upload(nil, mod, part{"index.js.map", "application/source-map", "{}"}), 200, 0, ""},
		{"python requirement part", schemaUpload, nil, "PUT", sc + "a", upload(nil, mod, part{"requirements.txt", "text/x-python-requirement", "x"}), 200, 0, ""},
		{"source map as main module", schemaUpload, nil, "PUT", sc + "a", upload(map[string]any{"main_module": "m.map"}, part{"m.map", "application/source-map", "{}"}), 400, codeValidation, "must be JavaScript"},

		// Compatibility date.
		{"date in the future", docsCompat, nil, "PUT", sc + "a", upload(map[string]any{"compatibility_date": "2026-12-06"}), 400, codeValidation, "in the future"},
		{"date of today", docsCompat, nil, "PUT", sc + "a", upload(map[string]any{"compatibility_date": "2026-12-05"}), 200, 0, ""},
		{"future date in settings", docsCompat, nil, "PATCH", sc + "a/settings", func() (string, []byte) {
			return form(part{"settings", "application/json", `{"compatibility_date":"2027-01-01"}`})
		}, 400, codeValidation, "in the future"},

		// Durable Object migrations and bindings.
		{"DO binding without a migration", docsMigrations, nil, "PUT", wk + "disp", upload(map[string]any{"bindings": []any{lock}}), 400, codeDONotMigrated, "migration"},
		{"old_tag on a script without a tag", docsMigrations, nil, "PUT", wk + "disp", upload(map[string]any{"bindings": []any{lock},
			"migrations": map[string]any{"old_tag": "v0", "new_tag": "v1", "new_sqlite_classes": []string{"PaymentLock"}}}), 400, codeMigrationTag, "current tag is (none)"},
		{"first migration", docsMigrations, nil, "PUT", wk + "disp", upload(map[string]any{"bindings": []any{lock}, "migrations": v1}), 200, 0, `"migration_tag":"v1"`},
		{"the tag is in the account's script list", docsMigrations, nil, "GET", wk[:len(wk)-1], nil, 200, 0, `"migration_tag":"v1"`},
		{"the same migration again (the old bootstrap)", docsMigrations, nil, "PUT", wk + "disp", upload(map[string]any{"bindings": []any{lock}, "migrations": v1}), 400, codeMigrationTag,
			"Migration tag precondition failed; current tag is v1"},
		{"no migrations once at the tag", docsMigrations, nil, "PUT", wk + "disp", upload(map[string]any{"bindings": []any{lock}}), 200, 0, `"migration_tag":"v1"`},
		{"next step from the current tag", docsMigrations, nil, "PUT", wk + "disp", upload(map[string]any{"bindings": []any{lock, map[string]any{"type": "durable_object_namespace", "name": "B", "class_name": "Budget"}},
			"migrations": map[string]any{"old_tag": "v1", "new_tag": "v2", "steps": []any{map[string]any{"new_sqlite_classes": []string{"Budget"}}}}}), 200, 0, `"migration_tag":"v2"`},
		{"a class created twice", docsMigrations, nil, "PUT", wk + "disp", upload(map[string]any{"bindings": []any{lock},
			"migrations": map[string]any{"old_tag": "v2", "new_tag": "v3", "new_sqlite_classes": []string{"PaymentLock"}}}), 400, codeValidation, "already"},

		// Tags.
		{"tag with a comma", schemaUpload, nil, "PUT", sc + "a", upload(map[string]any{"tags": []string{"a,b"}}), 400, codeTagInvalidChars, ""},
		{"tag with an ampersand", schemaTags, nil, "PUT", sc + "a/tags/a&b", nil, 400, codeTagInvalidChars, ""},
		{"nine tags", schemaTags, nil, "PUT", sc + "a/tags", jsonBody([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}), 400, codeTooManyTags, ""},
		{"ninth tag added", schemaTags, func() {
			ts.call(t, "PUT", sc+"a/tags", "application/json", []byte(`["1","2","3","4","5","6","7","8"]`))
		}, "PUT", sc + "a/tags/9", nil, 400, codeTooManyTags, ""},
		{"tag too long", schemaTags, nil, "PUT", sc + "a/tags", jsonBody([]string{strings.Repeat("x", maxTagLength+1)}), 400, codeTagTooLong, ""},

		// Listing shapes and paging.
		{"list: nested, no result_info", schemaList, func() { ts.SetListing(Listing{}) }, "GET", sc[:len(sc)-1], nil, 200, 0, `"script":{"id":"_app-1_x"`},
		{"list: flat with tags", "docs: Workers for Platforms tags (list by tag)", func() { ts.SetListing(Listing{Shape: ListFlat, Cursor: true}) }, "GET", sc[:len(sc)-1], nil, 200, 0, `"result":[{"id":"_app-1_x","etag":`},
		{"list: flat without tags", "Cloudflare's platform example (reads result[].id; tags not in the list)", func() { ts.SetListing(Listing{Shape: ListFlatNoTags}) }, "GET", sc[:len(sc)-1], nil, 200, 0, `"result":[{"created_on":`},

		// Delete by tag.
		{"delete by tag is paged", schemaDelete, func() {
			ts.upload(t, "prod", "t1", []string{"x"})
			ts.upload(t, "prod", "t2", []string{"x"})
		}, "DELETE", sc[:len(sc)-1] + "?tags=x:yes&limit=1", nil, 200, 0, `"deleted":[{"id":"t1"}],"deleted_count":1,"has_more":true`},
		{"the last page says so", schemaDelete, nil, "DELETE", sc[:len(sc)-1] + "?tags=x:yes&limit=1", nil, 200, 0, `"deleted_count":1,"has_more":false`},

		// KV.
		{"keys limit below 10", schemaKVKeys, nil, "GET", base + "storage/kv/namespaces/" + kv + "/keys?limit=9", nil, 400, codeKVBadRequest, ""},
		{"keys limit 10", schemaKVKeys, nil, "GET", base + "storage/kv/namespaces/" + kv + "/keys?limit=10", nil, 200, 0, ""},
		{"keys limit above 1000", schemaKVKeys, nil, "GET", base + "storage/kv/namespaces/" + kv + "/keys?limit=1001", nil, 400, codeKVBadRequest, ""},
		{"namespaces per_page below 5", schemaKVNS, nil, "GET", base + "storage/kv/namespaces?per_page=4", nil, 400, codeKVBadRequest, ""},
		{"namespaces per_page above 100", schemaKVNS, nil, "GET", base + "storage/kv/namespaces?per_page=101", nil, 400, codeKVBadRequest, ""},
		{"namespaces per_page 100", schemaKVNS, nil, "GET", base + "storage/kv/namespaces?per_page=100", nil, 200, 0, ""},
		{"bulk write answers unsuccessful_keys", schemaKVBulk, func() { ts.SetFaults(Faults{KVUnsuccessfulRate: 1, KVUnsuccessfulPrefix: "bad:"}) },
			"PUT", base + "storage/kv/namespaces/" + kv + "/bulk", jsonBody([]map[string]string{{"key": "good", "value": "1"}, {"key": "bad:1", "value": "2"}}),
			200, 0, `"successful_key_count":1,"unsuccessful_keys":["bad:1"]`},
		{"an unsuccessful key is not stored", schemaKVBulk, func() { ts.SetFaults(Faults{}) }, "GET", base + "storage/kv/namespaces/" + kv + "/values/bad:1", nil, 404, codeKVKeyNotFound, ""},

		// 10013.
		{"10013: KV namespace not found", wranglerCodes, nil, "GET", base + "storage/kv/namespaces/nope/keys", nil, 404, codeKVNamespaceNotFound, "namespace not found"},
		{"10013: transient Workers failure", wranglerCodes, func() { ts.SetFaults(Faults{ErrorRate: 1}) }, "GET", sc[:len(sc)-1], nil, -500, codeWorkersUnknown, "workers.api.error.unknown"},
		{"a KV failure is not 10013", wranglerCodes, nil, "GET", base + "storage/kv/namespaces/" + kv + "/keys", nil, -500, codeInternal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			var ct string
			var body []byte
			if tt.body != nil {
				ct, body = tt.body()
			}
			r := ts.call(t, tt.method, tt.path, ct, body)
			statusOK := r.status == tt.wantStatus || (tt.wantStatus == -500 && r.status >= 500)
			if !statusOK || r.code() != tt.wantCode {
				t.Fatalf("%s %s = %d code %d, want %d code %d (%s): %s", tt.method, tt.path, r.status, r.code(), tt.wantStatus, tt.wantCode, tt.source, r.body)
			}
			if !strings.Contains(string(r.body), tt.wantBody) {
				t.Errorf("body %s does not contain %s (%s)", r.body, tt.wantBody, tt.source)
			}
		})
	}
}

// TestListingWithoutCursorIsCutSilently: the schema's list call has no cursor; what lies past
// the first page is left out without a word, which is what the portal's client must detect.
func TestListingWithoutCursorIsCutSilently(t *testing.T) {
	ts := newTestServer(t, Options{})
	ts.mustNamespace(t, "prod")
	for _, n := range []string{"a1", "a2", "a3"} {
		ts.upload(t, "prod", n, nil)
	}
	r := ts.call(t, "GET", base+"workers/dispatch/namespaces/prod/scripts?limit=2&cursor=x", "", nil)
	var items []json.RawMessage
	r.result(t, &items)
	if r.status != http.StatusOK || len(items) != 2 || strings.Contains(string(r.body), "result_info") {
		t.Errorf("unpaged listing: %d, %d items: %s", r.status, len(items), r.body)
	}
}
