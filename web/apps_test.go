package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/PuerkitoBio/goquery"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
)

const goodWorker = `export default { async fetch(req, env) { return new Response("hello " + (env.GREETING || "")) } }`

// apiTenant signs up through the API and returns its token.
func apiTenant(t *testing.T, p *portal, email, tenant string) string {
	t.Helper()
	r := p.api(t, "POST", "/api/v1/signup", "", "application/json", fmt.Sprintf(`{"email":%q,"password":"a good long password","tenant":%q}`, email, tenant))
	if r.Status != 201 {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	var out struct{ Token string }
	json.Unmarshal([]byte(r.Body), &out)
	return out.Token
}

func multipartBody(t *testing.T, files map[string][]byte, fields map[string]string) (string, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	for name, content := range files {
		w, _ := mw.CreateFormFile("files", name)
		w.Write(content)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.String()
}

func jsonVersion(main string, modules map[string]string) string {
	b, _ := json.Marshal(map[string]any{"main_module": main, "modules": modules, "message": "m"})
	return string(b)
}

// TestVersionValidationAPI is the bad-input table of the Apps issue through the API.
func TestVersionValidationAPI(t *testing.T) {
	ep := startEdgePortal(t)
	tok := apiTenant(t, ep.portal, "v@example.com", "V")
	if r := ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"valid","name":"Valid"}`); r.Status != 201 {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	many := map[string][]byte{}
	for i := 0; i < 51; i++ {
		many[fmt.Sprintf("m%d.js", i)] = []byte("export const x = 1;")
	}
	many["index.js"] = []byte("export default {}")
	huge := "export default { fetch() { return new Response(" + fmt.Sprintf("%q", strings.Repeat("x", 1200_000)) + ") } }"
	// multipart with the same name twice (a map cannot say it).
	var dupBuf bytes.Buffer
	dupW := multipart.NewWriter(&dupBuf)
	for _, code := range []string{goodWorker, "export const x = 1;"} {
		w, _ := dupW.CreateFormFile("files", "index.js")
		w.Write([]byte(code))
	}
	dupW.WriteField("main_module", "index.js")
	dupW.Close()
	ctypeMany, bodyMany := multipartBody(t, many, map[string]string{"main_module": "index.js"})
	ctypeBad, bodyBad := multipartBody(t, map[string][]byte{"index.js": []byte("export default { fetch() { return new Response('\xff\xfe') } }")}, nil)
	ctypeBig, bodyBig := multipartBody(t, map[string][]byte{"index.js": []byte(goodWorker), "data.js": []byte("export const d = " + fmt.Sprintf("%q", strings.Repeat("d", 1200_000)) + ";")}, map[string]string{"main_module": "index.js"})
	cases := []struct {
		name        string
		ctype, body string
		status      int
		kind, want  string
		file        string // the file the problem of that kind must name ("": not checked)
	}{
		{"syntax error", "application/json", jsonVersion("index.js", map[string]string{"index.js": "export default {\n  fetch() { return new Response(1) \n}}}"}), 422, "syntax", "index.js:3:", "index.js"},
		{"no default export", "application/json", jsonVersion("index.js", map[string]string{"index.js": "export const handler = 1;"}), 422, "no_default_export", "default export", "index.js"},
		{"too large for free", "application/json", jsonVersion("index.js", map[string]string{"index.js": huge}), 413, "too_large", "Pro plan", "index.js"},
		{"one file over the plan's size", ctypeBig, bodyBig, 413, "too_large", "for one script", "data.js"},
		{"path-like name", "application/json", jsonVersion("../x.js", map[string]string{"../x.js": goodWorker}), 422, "bad_name", "../x.js", "../x.js"},
		{"nested escape", "application/json", jsonVersion("a/../../b.js", map[string]string{"a/../../b.js": goodWorker}), 422, "bad_name", "", ""},
		{"empty file name", "application/json", jsonVersion("index.js", map[string]string{"index.js": goodWorker, "": "export const x = 1;"}), 422, "bad_name", "file name is empty", ""},
		{"names differing in case", "application/json", jsonVersion("index.js", map[string]string{"index.js": goodWorker, "INDEX.js": goodWorker}), 422, "duplicate", "only in case", ""},
		{"the same name twice", dupW.FormDataContentType(), dupBuf.String(), 422, "duplicate", "already named", "index.js"},
		{"main module not among the files", "application/json", jsonVersion("index.js", map[string]string{"lib.js": goodWorker, "other.js": goodWorker}), 422, "no_main", "main module index.js is not among the files", "index.js"},
		{"main module not chosen", "application/json", jsonVersion("", map[string]string{"lib.js": goodWorker, "other.js": goodWorker}), 422, "no_main", "choose which file", ""},
		{"not utf-8", "application/json; charset=utf-8", "", 400, "", "UTF-8", ""},
		{"empty upload", "application/json", jsonVersion("index.js", map[string]string{}), 422, "", "", ""},
		{"unknown field", "application/json", `{"main_module":"index.js","modules":{},"author":"x"}`, 400, "", "Unknown field", ""},
		{"51 files", ctypeMany, bodyMany, 422, "too_many_files", "at most 50", ""},
		{"non-utf8 file", ctypeBad, bodyBad, 422, "not_utf8", "index.js", "index.js"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if c.name == "not utf-8" {
				body = "{\"main_module\":\"index.js\",\"modules\":{\"index.js\":\"\xff\"}}"
			}
			r := ep.api(t, "POST", "/api/v1/apps/valid/versions", tok, c.ctype, body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %.300s", r.Status, c.status, r.Body)
			}
			if c.kind != "" && !strings.Contains(r.Body, `"kind":"`+c.kind+`"`) {
				t.Fatalf("no problem of kind %s: %.300s", c.kind, r.Body)
			}
			if c.file != "" {
				var out struct {
					Error struct{ Problems []struct{ File, Kind string } }
				}
				json.Unmarshal([]byte(r.Body), &out)
				named := false
				for _, p := range out.Error.Problems {
					named = named || p.Kind == c.kind && p.File == c.file
				}
				if !named {
					t.Fatalf("no %s problem names %s: %.300s", c.kind, c.file, r.Body)
				}
			}
			if c.want != "" && !strings.Contains(r.Body, c.want) {
				t.Fatalf("answer lacks %q: %.300s", c.want, r.Body)
			}
			if n := count(t, ep.portal, &models.Version{}); n != 0 {
				t.Fatalf("a refused upload stored %d versions", n)
			}
		})
	}
}

// TestDeployWriteThroughAPI: save, deploy, the local Cloudflare API holds it;
// unknown and foreign versions are refused; delete while deploying wins.
func TestDeployWriteThroughAPI(t *testing.T) {
	ep := startEdgePortal(t)
	ctx := context.Background()
	tok := apiTenant(t, ep.portal, "d@example.com", "D")
	other := apiTenant(t, ep.portal, "o@example.com", "O")
	ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"deployme","name":"Deploy me"}`)
	ep.api(t, "POST", "/api/v1/apps", other, "application/json", `{"slug":"theirs","name":"Theirs"}`)
	if r := ep.api(t, "PUT", "/api/v1/apps/deployme/vars/GREETING", tok, "application/json", `{"value":"world"}`); r.Status != 200 {
		t.Fatalf("var: %d %s", r.Status, r.Body)
	}
	if r := ep.api(t, "PUT", "/api/v1/apps/deployme/vars/TOKEN", tok, "application/json", `{"value":"s3cret","secret":true}`); r.Status != 200 {
		t.Fatalf("secret: %d %s", r.Status, r.Body)
	}
	r := ep.api(t, "POST", "/api/v1/apps/deployme/versions", tok, "application/json", jsonVersion("index.js", map[string]string{"index.js": goodWorker}))
	if r.Status != 201 {
		t.Fatalf("version: %d %s", r.Status, r.Body)
	}
	var v struct {
		ID     uint
		SHA256 string
		Size   int64
	}
	json.Unmarshal([]byte(r.Body), &v)
	theirV := ep.api(t, "POST", "/api/v1/apps/theirs/versions", other, "application/json", jsonVersion("index.js", map[string]string{"index.js": goodWorker}))
	var tv struct{ ID uint }
	json.Unmarshal([]byte(theirV.Body), &tv)

	for _, c := range []struct {
		name, body string
		status     int
	}{
		{"unknown version", `{"version_id":99999}`, 404},
		{"another tenant's version", fmt.Sprintf(`{"version_id":%d}`, tv.ID), 404},
		{"zero", `{"version_id":0}`, 422},
	} {
		if r := ep.api(t, "POST", "/api/v1/apps/deployme/deployments", tok, "application/json", c.body); r.Status != c.status {
			t.Fatalf("%s: %d %s", c.name, r.Status, r.Body)
		}
	}
	if r := ep.api(t, "POST", "/api/v1/apps/theirs/deployments", tok, "application/json", "{}"); r.Status != 404 {
		t.Fatalf("deploying another tenant's app: %d", r.Status)
	}
	r = ep.api(t, "POST", "/api/v1/apps/deployme/deployments", tok, "", "")
	if r.Status != 202 {
		t.Fatalf("deploy: %d %s", r.Status, r.Body)
	}
	var d struct {
		ID     uint
		Status string
	}
	json.Unmarshal([]byte(r.Body), &d)
	app, _ := ep.Store.AppBySlug(ctx, mustUser(t, ep.portal, "d@example.com").Tenant.ID, "deployme")
	if got := ep.waitDeployment(t, app.ID, d.ID); got.Status != models.DeploySucceeded {
		t.Fatalf("deployment %+v", got)
	}
	r = ep.api(t, "GET", fmt.Sprintf("/api/v1/apps/deployme/deployments/%d", d.ID), tok, "", "")
	if !strings.Contains(r.Body, `"status":"succeeded"`) {
		t.Fatalf("deployment status: %s", r.Body)
	}

	// What the local Cloudflare API holds.
	req, _ := http.NewRequest(http.MethodGet, ep.CFURL+"/runtime/namespaces/"+testNamespace+"/scripts/app-deployme", nil)
	req.Header.Set("Authorization", "Bearer runtime")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var script struct {
		MainModule string           `json:"main_module"`
		Bindings   []map[string]any `json:"bindings"`
		Modules    []map[string]any `json:"modules"`
	}
	json.NewDecoder(res.Body).Decode(&script)
	res.Body.Close()
	vars := map[string]string{}
	for _, b := range script.Bindings {
		vars[b["name"].(string)] = b["type"].(string) + "=" + fmt.Sprint(b["text"])
	}
	// The bundle and its source map (uploaded beside it so stacks name the tenant's files).
	var parts []string
	for _, m := range script.Modules {
		parts = append(parts, fmt.Sprint(m["name"], " ", m["content_type"]))
	}
	if vars["GREETING"] != "plain_text=world" || vars["TOKEN"] != "secret_text=s3cret" ||
		strings.Join(parts, ", ") != "worker.js application/javascript+module, worker.js.map application/source-map" {
		t.Fatalf("uploaded script: main %s bindings %v modules %v", script.MainModule, vars, parts)
	}
	info, err := ep.CF.UserScript(ctx, testNamespace, "app-deployme")
	if err != nil {
		t.Fatal(err)
	}
	tags := strings.Join(info.Tags, ",")
	for _, want := range []string{"app:deployme", "plan:free", "sha:" + v.SHA256[:16], fmt.Sprintf("tenant:%d", app.TenantID)} {
		if !strings.Contains(tags, want) {
			t.Fatalf("tags %s lack %s", tags, want)
		}
	}
	doc, err := ep.CF.GetKV(ctx, ep.KVID, "app:deployme")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Etag   string `json:"etag"`
		Script string `json:"script"`
		Plan   struct {
			CPUMs       int `json:"cpuMs"`
			SubRequests int `json:"subRequests"`
		} `json:"plan"`
	}
	json.Unmarshal(doc, &cfg)
	if cfg.Etag != v.SHA256 || cfg.Script != "app-deployme" || cfg.Plan.CPUMs != 50 || cfg.Plan.SubRequests != 10 {
		t.Fatalf("config document %s", doc)
	}

	// Deleting while a deploy is pending: the delete wins, the edge forgets the app.
	ep.api(t, "POST", "/api/v1/apps/deployme/versions", tok, "application/json", jsonVersion("index.js", map[string]string{"index.js": goodWorker + "\n// v2"}))
	ep.api(t, "POST", "/api/v1/apps/deployme/deployments", tok, "", "")
	if r := ep.api(t, "DELETE", "/api/v1/apps/deployme", tok, "", ""); r.Status != 202 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ep.Syncer.RunJob(ctx, app.JobTarget())
		if r := ep.api(t, "GET", "/api/v1/apps/deployme", tok, "", ""); r.Status == 404 {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("deleted app still answers: %d %s", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := ep.CF.UserScript(ctx, testNamespace, "app-deployme"); err == nil {
		t.Fatal("the script survived the app's deletion")
	}
	if _, err := ep.CF.GetKV(ctx, ep.KVID, "app:deployme"); err == nil {
		t.Fatal("the config document survived the app's deletion")
	}
}

func TestAppCreateRules(t *testing.T) {
	ep := startEdgePortal(t)
	tok := apiTenant(t, ep.portal, "c@example.com", "C")
	cases := []struct {
		body   string
		status int
		code   string
	}{
		{`{"slug":"good-app","name":"Good"}`, 201, ""},
		{`{"slug":"good-app","name":"Again"}`, 409, "slug_taken"},
		{`{"slug":"admin","name":"Reserved"}`, 422, "invalid"},
		{`{"slug":"ab","name":"Short"}`, 422, "invalid"},
		{`{"slug":"Upper","name":"Upper"}`, 422, "invalid"},
		{`{"slug":"1abc","name":"Digit"}`, 422, "invalid"},
		{`{"slug":"second","name":"Second"}`, 201, ""},
		{`{"slug":"third","name":"Third"}`, 201, ""},
		{`{"slug":"fourth","name":"Fourth"}`, 403, "plan_limit"},
	}
	for _, c := range cases {
		r := ep.api(t, "POST", "/api/v1/apps", tok, "application/json", c.body)
		if r.Status != c.status || (c.code != "" && !strings.Contains(r.Body, `"code":"`+c.code+`"`)) {
			t.Fatalf("%s: %d %s", c.body, r.Status, r.Body)
		}
	}
	if r := ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"fifth","name":"F"}`); !strings.Contains(r.Body, "Pro plan allows more") {
		t.Fatalf("the cap message does not name the better plan: %s", r.Body)
	}
}

// TestAppPagesBadInput runs the editor's validation through the page.
func TestAppPagesBadInput(t *testing.T) {
	ep := startEdgePortal(t)
	b := ep.browser(t)
	b.signup("page@example.com", "Page")
	if r := b.post("/apps", url.Values{"slug": {"page-app"}, "name": {"Page app"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := b.post("/apps", url.Values{"slug": {"www"}, "name": {"x"}}); r.Status != 422 || !strings.Contains(r.Body, "reserved") {
		t.Fatalf("reserved slug through the page: %d", r.Status)
	}
	r := b.post("/apps/page-app/versions", url.Values{"main_module": {"index.js"}, "code": {"export default {\n  fetch( {\n}"}})
	if r.Status != 422 {
		t.Fatalf("syntax error: %d", r.Status)
	}
	doc := r.doc(t)
	loc := doc.Find("#build-problems .loc").First().Text()
	if !strings.HasPrefix(loc, "index.js:3:") {
		t.Fatalf("problem location %q", loc)
	}
	if doc.Find(".gutter span.bad").Text() != "3" {
		t.Fatalf("the editor does not mark line 3: %q", doc.Find(".gutter span.bad").Text())
	}
	if got := doc.Find("textarea[name=file_code]").First().Text(); !strings.Contains(got, "fetch( {") {
		t.Fatalf("the editor lost the code: %q", got)
	}
	ctype, body := multipartBody(t, map[string][]byte{"../evil.js": []byte(goodWorker)}, map[string]string{"_csrf": b.csrf()})
	r = b.do("POST", "/apps/page-app/versions", strings.NewReader(body), map[string]string{"Content-Type": ctype})
	if r.Status != 422 || !strings.Contains(r.Body, "evil.js") {
		t.Fatalf("path-like upload: %d", r.Status)
	}
	if n := count(t, ep.portal, &models.Version{}); n != 0 {
		t.Fatalf("bad saves stored %d versions", n)
	}
	// A good save then deploys; another tenant cannot see the app.
	r = b.post("/apps/page-app/versions", url.Values{"main_module": {"index.js"}, "code": {goodWorker}, "deploy": {"1"}})
	if r.Status != 200 || !strings.Contains(r.Body, "Saved as version 1") {
		t.Fatalf("good save: %d", r.Status)
	}
	intruder := ep.browser(t)
	intruder.signup("intruder@example.com", "Intruder")
	for _, path := range []string{"/apps/page-app", "/apps/page-app/versions", "/apps/page-app/settings", "/apps/page-app/deployments/1"} {
		if r := intruder.get(path); r.Status != 404 {
			t.Fatalf("another tenant GET %s: %d", path, r.Status)
		}
	}
	for _, path := range []string{"/apps/page-app/versions", "/apps/page-app/deployments", "/apps/page-app/delete", "/apps/page-app/vars"} {
		if r := intruder.post(path, url.Values{"confirm": {"page-app"}, "version_id": {"1"}, "name": {"X"}, "value": {"y"}}); r.Status != 404 {
			t.Fatalf("another tenant POST %s: %d", path, r.Status)
		}
	}
	// Vars: a bad name and a secret that is never rendered back.
	r = b.htmxPost("/apps/page-app/vars", url.Values{"name": {"1BAD"}, "value": {"x"}})
	if !strings.Contains(r.Body, "letters, digits and underscores") {
		t.Fatalf("bad var name: %s", r.Body)
	}
	b.htmxPost("/apps/page-app/vars", url.Values{"name": {"API_KEY"}, "value": {"very-secret-value"}, "secret": {"true"}})
	if page := b.get("/apps/page-app/settings").Body; strings.Contains(page, "very-secret-value") {
		t.Fatal("a secret was rendered back")
	}
	var stored models.Var
	ep.DB.Gorm.First(&stored, "name = ?", "API_KEY")
	if bytes.Contains(stored.Ciphertext, []byte("very-secret-value")) {
		t.Fatal("a secret is stored in clear")
	}
}

func TestAppPageShowsRuntimeState(t *testing.T) {
	p := startPortal(t, func(o *web.Options) {
		o.EdgeInfo = web.EdgeInfo{Local: true, EdgeURL: "http://127.0.0.1:8787",
			RuntimeNote: func() string { return "The local edge is not running: workerd is not installed. Run `npm ci`." },
			CPU: func(script string) (web.CPUStat, bool) {
				if script != "app-cpu-app" {
					return web.CPUStat{}, false
				}
				return web.CPUStat{Requests: 7, Mean: 1500 * time.Microsecond, Max: 60 * time.Millisecond}, true
			}}
	})
	b := p.browser(t)
	b.signup("cpu@example.com", "Cpu")
	b.post("/apps", url.Values{"slug": {"cpu-app"}, "name": {"Cpu"}})
	d := b.get("/apps/cpu-app").doc(t)
	if !strings.Contains(d.Find("#runtime-note").Text(), "npm ci") {
		t.Fatal("the page does not say how to install workerd")
	}
	stats := d.Find("#cpu-stats").Text()
	for _, want := range []string{"1.50 ms mean", "60.00 ms max", "7", "50 ms"} {
		if !strings.Contains(stats, want) {
			t.Fatalf("cpu stats %q lack %q", stats, want)
		}
	}
	if !strings.Contains(d.Text(), "does not enforce the plan's CPU limit") {
		t.Fatal("no note that CPU limits are enforced only on Cloudflare")
	}
}

// TestCodeRoundTrip: issue 11's lost code. A version keeps the tenant's own main module, the
// Code tab opens it after a save, and saving from the tab again keeps the text byte for byte;
// the API answers the main module it was given.
func TestCodeRoundTrip(t *testing.T) {
	ep := startEdgePortal(t)
	b := ep.browser(t)
	b.signup("trip@example.com", "Trip")
	if r := b.post("/apps", url.Values{"slug": {"trip-app"}, "name": {"Trip"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.Status)
	}
	code := "// first\nexport default {\n\tfetch() { return new Response(\"ü €\"); },\n};\n"
	for i, main := range []string{"index.js", "api.ts"} {
		// As a browser sends the editor: CRLF line breaks, the empty "new file" slot.
		sent := strings.ReplaceAll(code, "\n", "\r\n")
		form := url.Values{"file_name": {main, ""}, "file_code": {sent, ""}, "main_index": {"0"}}
		if r := b.post("/apps/trip-app/versions", form); r.Status != 200 {
			t.Fatalf("save %d: %d", i, r.Status)
		}
		files := editorFilesOf(t, b.get("/apps/trip-app"))
		if len(files) != 1 || files[0].name != main || files[0].code != code || !files[0].main {
			t.Fatalf("after save %d the Code tab shows %+v, want %q with %q", i, files, main, code)
		}
		// Saving again exactly what the tab shows works (it used to fail: "every uploaded file is empty").
		if r := b.post("/apps/trip-app/versions", url.Values{"file_name": {files[0].name}, "file_code": {files[0].code}, "main_index": {"0"}}); r.Status != 200 {
			t.Fatalf("save from the tab %d: %d", i, r.Status)
		}
		code = strings.Replace(code, "first", "edited", 1)
	}
	tok := apiTenant(t, ep.portal, "trip-api@example.com", "TripAPI")
	if r := ep.api(t, "POST", "/api/v1/apps", tok, "application/json", `{"slug":"trip-api","name":"T"}`); r.Status != 201 {
		t.Fatalf("create app: %d %s", r.Status, r.Body)
	}
	r := ep.api(t, "POST", "/api/v1/apps/trip-api/versions", tok, "application/json", jsonVersion("main.ts", map[string]string{"main.ts": goodWorker, "lib.ts": "export const x = 1;"}))
	if r.Status != 201 || !strings.Contains(r.Body, `"main_module":"main.ts"`) {
		t.Fatalf("API version: %d %s", r.Status, r.Body)
	}
}

type editorFile struct {
	name, code string
	main       bool
}

// editorFilesOf reads the editor's files from a Code tab page (the empty "new file" slot left out).
func editorFilesOf(t *testing.T, r resp) []editorFile {
	t.Helper()
	var out []editorFile
	r.doc(t).Find("fieldset.file-slot").Each(func(_ int, s *goquery.Selection) {
		name, _ := s.Find("input[name=file_name]").Attr("value")
		code := s.Find("textarea[name=file_code]").Text()
		_, main := s.Find("input[name=main_index]").Attr("checked")
		if name == "" && code == "" {
			return
		}
		out = append(out, editorFile{name, code, main})
	})
	return out
}

// TestEditorFiles: several files and TypeScript round-trip through the editor form, and every
// bad input is refused on the right file with nothing stored and the editor's content kept.
func TestEditorFiles(t *testing.T) {
	ep := startEdgePortal(t)
	b := ep.browser(t)
	b.signup("files@example.com", "Files")
	if r := b.post("/apps", url.Values{"slug": {"files-app"}, "name": {"Files"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.Status)
	}
	main := "import { greet } from \"./lib/greet.ts\";\nexport default { fetch(): Response { return new Response(greet(\"ts\")); } };\n"
	lib := "export function greet(n: string): string {\n  return `hi ${n}`;\n}\n"
	form := url.Values{"file_name": {"index.ts", "lib/greet.ts", ""}, "file_code": {main, lib, ""}, "main_index": {"0"}}
	if r := b.post("/apps/files-app/versions", form); r.Status != 200 {
		t.Fatalf("save: %d %s", r.Status, r.Body)
	}
	files := editorFilesOf(t, b.get("/apps/files-app"))
	if len(files) != 2 || files[0] != (editorFile{"index.ts", main, true}) || files[1] != (editorFile{"lib/greet.ts", lib, false}) {
		t.Fatalf("the Code tab shows %+v", files)
	}
	stored := count(t, ep.portal, &models.Version{})
	many := url.Values{"main_index": {"0"}}
	for i := range 51 {
		many.Add("file_name", fmt.Sprintf("m%d.js", i))
		many.Add("file_code", "export default {}")
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		slot   int // the slot that carries the message (-1: only the list at the top)
		want   string
	}{
		{"a file without a name", url.Values{"file_name": {"index.ts", ""}, "file_code": {main, "export const x = 1;"}, "main_index": {"0"}}, 422, 1, "has no name"},
		{"two files with one name", url.Values{"file_name": {"index.ts", "index.ts"}, "file_code": {main, lib}, "main_index": {"0"}}, 422, 1, "already named"},
		{"a rename onto an existing file", url.Values{"file_name": {"index.ts", "lib/greet.ts", "LIB/greet.ts"}, "file_code": {main, lib, "x"}, "main_index": {"0"}}, 422, 2, "only in case"},
		{"the main module removed", url.Values{"file_name": {"lib/greet.ts", "other.ts"}, "file_code": {lib, "export const y = 2;"}, "main_index": {"5"}}, 422, -1, "index.ts was the main module"},
		{"51 files", many, 422, -1, "at most 50"},
		{"not UTF-8", url.Values{"file_name": {"index.js"}, "file_code": {"export default {}; // \xff"}, "main_index": {"0"}}, 422, 0, "UTF-8"},
		{"a bad path", url.Values{"file_name": {"index.ts", "../evil.ts"}, "file_code": {main, lib}, "main_index": {"0"}}, 422, 1, ""},
		{"over the plan's size", url.Values{"file_name": {"index.js", "data.js"}, "file_code": {main, "export const d = \"" + strings.Repeat("x", 1200_000) + "\";"}, "main_index": {"0"}}, 413, 1, "over the limit of 1.0 MiB for one script"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := b.post("/apps/files-app/versions", c.form)
			if r.Status != c.status {
				t.Fatalf("%d, want %d", r.Status, c.status)
			}
			doc := r.doc(t)
			if !strings.Contains(doc.Find("#build-problems").Text(), "Not saved") {
				t.Error("no problems list at the top")
			}
			if c.slot >= 0 {
				msg := doc.Find("fieldset.file-slot").Eq(c.slot).Find(".file-problems").Text()
				if msg == "" || !strings.Contains(msg, c.want) {
					t.Errorf("slot %d says %q, want %q", c.slot, msg, c.want)
				}
				// Only that file carries it.
				doc.Find("fieldset.file-slot").Each(func(i int, f *goquery.Selection) {
					if i != c.slot && f.Find(".file-problems").Length() > 0 {
						t.Errorf("slot %d also carries a problem: %q", i, f.Find(".file-problems").Text())
					}
				})
			} else if !strings.Contains(doc.Find("#build-problems").Text(), c.want) {
				t.Errorf("problems %q lack %q", doc.Find("#build-problems").Text(), c.want)
			}
			// The editor keeps what was sent.
			got := editorFilesOf(t, r)
			sentNames := c.form["file_name"]
			kept := 0
			for i, n := range sentNames {
				if n != "" || c.form["file_code"][i] != "" {
					kept++
				}
			}
			if len(got) != kept {
				t.Errorf("the editor shows %d files, %d were sent", len(got), kept)
			}
			if n := count(t, ep.portal, &models.Version{}); n != stored {
				t.Fatalf("a refused save stored a version (%d → %d)", stored, n)
			}
		})
	}
}

// TestEditorCheck: the editor's live diagnostics name the file slot and line of each problem and
// store nothing.
func TestEditorCheck(t *testing.T) {
	ep := startEdgePortal(t)
	b := ep.browser(t)
	b.signup("check@example.com", "Check")
	if r := b.post("/apps", url.Values{"slug": {"check-app"}, "name": {"Check"}}); r.Status != http.StatusSeeOther {
		t.Fatalf("create: %d", r.Status)
	}
	r := b.post("/apps/check-app/check", url.Values{"file_name": {"index.js", "lib.js", ""}, "file_code": {"import { x } from \"./lib.js\";\nexport default { fetch() { return new Response(x) } };", "export const x =\n  ;\n", "orphan code"}, "main_index": {"0"}})
	var out struct {
		OK       bool
		Problems []struct {
			Slot, Line int
			File, Kind string
			Message    string
		}
	}
	if err := json.Unmarshal([]byte(r.Body), &out); err != nil || r.Status != 200 {
		t.Fatalf("check: %d %s", r.Status, r.Body)
	}
	if out.OK || len(out.Problems) != 1 || out.Problems[0].Slot != 2 || !strings.Contains(out.Problems[0].Message, "no name") {
		t.Fatalf("nameless file: %+v", out)
	}
	r = b.post("/apps/check-app/check", url.Values{"file_name": {"index.js", "lib.js"}, "file_code": {"import { x } from \"./lib.js\";\nexport default { fetch() { return new Response(x) } };", "export const x =\n  ;\n"}, "main_index": {"0"}})
	json.Unmarshal([]byte(r.Body), &out)
	if out.OK || len(out.Problems) == 0 || out.Problems[0].Slot != 1 || out.Problems[0].Line != 2 || out.Problems[0].File != "lib.js" {
		t.Fatalf("syntax error in lib.js: %s", r.Body)
	}
	r = b.post("/apps/check-app/check", url.Values{"file_name": {"index.js"}, "file_code": {goodWorker}, "main_index": {"0"}})
	if !strings.Contains(r.Body, `"ok":true`) {
		t.Fatalf("good code: %s", r.Body)
	}
	// The check takes what a save takes (the upload limit, not the 64 KiB of other forms).
	big := goodWorker + "\nexport const table = " + fmt.Sprintf("%q", strings.Repeat("data ", 60_000)) + ";\n"
	r = b.post("/apps/check-app/check", url.Values{"file_name": {"index.js"}, "file_code": {big}, "main_index": {"0"}})
	if r.Status != 200 || !strings.Contains(r.Body, `"ok":true`) {
		t.Fatalf("a 300 KB file: %d %.200s", r.Status, r.Body)
	}
	if n := count(t, ep.portal, &models.Version{}); n != 0 {
		t.Fatalf("check stored %d versions", n)
	}
}
