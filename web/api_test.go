package web_test

import (
	"regexp"

	"context"
	"encoding/json"
	"github.com/402claw/402claw/web"
	"net/http"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/pb33f/libopenapi"
	"github.com/pb33f/libopenapi-validator/schema_validation"
)

func TestAPISignupTokensMe(t *testing.T) {
	p := startPortal(t)
	const good = `{"email":"api@example.com","password":"a good long password","tenant":"Api Co"}`
	r := p.api(t, "POST", "/api/v1/signup", "", "application/json", good)
	if r.Status != http.StatusCreated {
		t.Fatalf("signup: %d %s", r.Status, r.Body)
	}
	var tok struct{ Token string }
	json.Unmarshal([]byte(r.Body), &tok)
	if !strings.HasPrefix(tok.Token, "claw_") {
		t.Fatalf("token %q", tok.Token)
	}
	me := p.api(t, "GET", "/api/v1/me", tok.Token, "", "")
	var got struct {
		Email, Role string
		Tenant      struct{ Slug, Plan, Status string }
	}
	if err := json.Unmarshal([]byte(me.Body), &got); err != nil || me.Status != 200 {
		t.Fatalf("me: %d %s", me.Status, me.Body)
	}
	if got.Email != "api@example.com" || got.Role != "tenant" || got.Tenant.Slug != "api-co" || got.Tenant.Plan != "free" || got.Tenant.Status != "active" {
		t.Fatalf("me = %+v", got)
	}
	// A second token from email and password.
	r = p.api(t, "POST", "/api/v1/tokens", "", "application/json; charset=utf-8", `{"email":"API@example.com","password":"a good long password"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("tokens: %d %s", r.Status, r.Body)
	}
	// Tokens are hashed at rest.
	var rows []models.APIToken
	p.DB.Gorm.Find(&rows)
	for _, row := range rows {
		if strings.Contains(row.Hash, tok.Token) || len(row.Hash) != 64 {
			t.Fatalf("token stored in clear or badly hashed: %+v", row)
		}
	}
}

func TestAPIBadInput(t *testing.T) {
	p := startPortal(t)
	p.api(t, "POST", "/api/v1/signup", "", "application/json", `{"email":"dup@example.com","password":"a good long password","tenant":"Dup"}`)
	huge := `{"email":"` + strings.Repeat("a", 1<<20) + `@example.com","password":"a good long password","tenant":"H"}`
	cases := []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"form body", "POST", "/api/v1/signup", "application/x-www-form-urlencoded", "email=a", 415, "unsupported_media_type"},
		{"no content type", "POST", "/api/v1/signup", "", `{}`, 415, "unsupported_media_type"},
		{"text plain", "POST", "/api/v1/tokens", "text/plain", `{}`, 415, "unsupported_media_type"},
		{"unknown field", "POST", "/api/v1/signup", "application/json", `{"email":"u@example.com","password":"a good long password","tenant":"U","admin":true}`, 400, "unknown_field"},
		{"malformed", "POST", "/api/v1/signup", "application/json", `{"email":`, 400, "bad_request"},
		{"empty body", "POST", "/api/v1/signup", "application/json", ``, 400, "bad_request"},
		{"two objects", "POST", "/api/v1/signup", "application/json", `{} {}`, 400, "bad_request"},
		{"wrong type", "POST", "/api/v1/signup", "application/json", `{"email":1}`, 400, "bad_request"},
		{"non-utf8", "POST", "/api/v1/signup", "application/json", "{\"email\":\"\xff@example.com\",\"password\":\"a good long password\",\"tenant\":\"N\"}", 400, "bad_request"},
		{"huge body", "POST", "/api/v1/signup", "application/json", huge, 413, "too_large"},
		{"long email", "POST", "/api/v1/signup", "application/json", `{"email":"` + strings.Repeat("a", 3000) + `@example.com","password":"a good long password","tenant":"H"}`, 422, "invalid"},
		{"weak password", "POST", "/api/v1/signup", "application/json", `{"email":"w@example.com","password":"short","tenant":"W"}`, 422, "invalid"},
		{"duplicate email", "POST", "/api/v1/signup", "application/json", `{"email":"dup@example.com","password":"a good long password","tenant":"Dup2"}`, 409, "email_taken"},
		{"wrong password", "POST", "/api/v1/tokens", "application/json", `{"email":"dup@example.com","password":"nope nope nope"}`, 401, "unauthorized"},
		{"unknown email", "POST", "/api/v1/tokens", "application/json", `{"email":"ghost@example.com","password":"nope nope nope"}`, 401, "unauthorized"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := count(t, p, &models.User{}) + count(t, p, &models.APIToken{})
			r := p.api(t, c.method, c.path, "", c.ctype, c.body)
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			var env struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal([]byte(r.Body), &env); err != nil || env.Error.Code != c.code || env.Error.Message == "" {
				t.Fatalf("envelope %s, want code %s", r.Body, c.code)
			}
			if after := count(t, p, &models.User{}) + count(t, p, &models.APIToken{}); after != before {
				t.Fatalf("rejected request wrote rows")
			}
		})
	}
}

func TestAPIBearer(t *testing.T) {
	p := startPortal(t)
	ctx := context.Background()
	u, _, _ := p.Store.SignUp(ctx, "b@example.com", "x", "B", models.RoleTenant)
	tk, good, _ := p.Store.CreateAPIToken(ctx, u.ID, "t", 0)
	_, revoked, _ := p.Store.CreateAPIToken(ctx, u.ID, "r", 0)
	all, _ := p.Store.APITokens(ctx, u.ID)
	for _, x := range all {
		if x.ID != tk.ID {
			p.Store.RevokeAPIToken(ctx, u.ID, x.ID)
		}
	}
	for _, c := range []struct {
		name, header string
		status       int
	}{
		{"missing", "", 401},
		{"malformed scheme", "Basic abc", 401},
		{"not a claw token", "Bearer abc", 401},
		{"unknown", "Bearer claw_" + strings.Repeat("A", 43), 401},
		{"revoked", "Bearer " + revoked, 401},
		{"good", "Bearer " + good, 200},
		{"lower-case scheme", "bearer " + good, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", p.URL+"/api/v1/me", nil)
			if c.header != "" {
				req.Header.Set("Authorization", c.header)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d", res.StatusCode, c.status)
			}
		})
	}
}

func TestOpenAPIDescribesRoutes(t *testing.T) {
	p := startPortal(t)
	r := p.api(t, "GET", "/api/v1/openapi.json", "", "", "")
	var doc struct {
		OpenAPI string
		Paths   map[string]map[string]any
	}
	if err := json.Unmarshal([]byte(r.Body), &doc); err != nil {
		t.Fatal(err)
	}
	// Every API route the app serves must be described (and nothing more).
	app, _, err := web.New(web.Options{Store: p.Store, BaseURL: "http://x", SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range app.GetRoutes(true) {
		if !strings.HasPrefix(r.Path, "/api/v1/") || r.Path == "/api/v1/openapi.json" || r.Method == "HEAD" || r.Method == "USE" {
			continue
		}
		path := strings.TrimPrefix(r.Path, "/api/v1")
		path = regexp.MustCompile(`:([a-z]+)`).ReplaceAllString(path, "{$1}")
		key := strings.ToLower(r.Method) + " " + path
		served[key] = true
		if _, ok := doc.Paths[path][strings.ToLower(r.Method)]; !ok {
			t.Errorf("openapi lacks %s", key)
		}
	}
	if len(served) < 15 {
		t.Fatalf("only %d API routes found; the route walk is broken", len(served))
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if !served[m+" "+path] {
				t.Errorf("openapi describes %s %s, which is not served", m, path)
			}
		}
	}
}

// TestOpenAPIDocumentValid checks the served document against the OpenAPI
// 3.1 schema with an independent validator (libopenapi-validator): a
// "required": null or a malformed operation fails here.
func TestOpenAPIDocumentValid(t *testing.T) {
	p := startPortal(t)
	r := p.api(t, "GET", "/api/v1/openapi.json", "", "", "")
	doc, err := libopenapi.NewDocument([]byte(r.Body))
	if err != nil {
		t.Fatal(err)
	}
	if ok, errs := schema_validation.ValidateOpenAPIDocument(doc); !ok {
		for _, e := range errs {
			t.Errorf("%s: %s", e.Message, e.Reason)
			for _, se := range e.SchemaValidationErrors {
				t.Errorf("  at %s: %s", se.FieldPath, se.Reason)
			}
		}
	}
	for _, want := range []string{`"multipart/form-data"`, `"required":false`} {
		if !strings.Contains(r.Body, want) {
			t.Errorf("document lacks %s", want)
		}
	}
	if strings.Contains(r.Body, `"required":null`) {
		t.Error(`document has "required":null`)
	}
}
