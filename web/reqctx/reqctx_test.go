package reqctx

import (
	"net/http/httptest"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/gofiber/fiber/v2"
)

// The accessors read only what their setters wrote: a value planted under the old string keys
// is not the current user, session or token.
func TestAccessors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		set     func(c *fiber.Ctx)
		user    uint
		csrf    string
		rid     string
		session bool
	}{
		{"nothing set", func(c *fiber.Ctx) {}, 0, "", "", false},
		{"string keys are not read", func(c *fiber.Ctx) {
			c.Locals("user", &models.User{ID: 7})
			c.Locals("csrf", "tok")
			c.Locals("request_id", "rid")
			c.Locals("session", &models.Session{})
		}, 0, "", "", false},
		{"typed setters", func(c *fiber.Ctx) {
			SetUser(c, &models.User{ID: 7})
			SetCSRF(c, "tok")
			SetRequestID(c, "rid")
			SetSession(c, &models.Session{})
		}, 7, "tok", "rid", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error {
				tc.set(c)
				var id uint
				if u := User(c); u != nil {
					id = u.ID
				}
				if id != tc.user || CSRF(c) != tc.csrf || RequestID(c) != tc.rid || (Session(c) != nil) != tc.session {
					t.Errorf("user %d csrf %q rid %q session %v", id, CSRF(c), RequestID(c), Session(c) != nil)
				}
				return nil
			})
			if _, err := app.Test(httptest.NewRequest("GET", "/", nil)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRedirect(t *testing.T) {
	for _, tc := range []struct {
		name           string
		headers        map[string]string
		status         int
		location, hxTo string
	}{
		{"plain form", nil, 303, "/apps", ""},
		{"htmx", map[string]string{"HX-Request": "true"}, 204, "", "/apps"},
		{"boosted navigation", map[string]string{"HX-Request": "true", "HX-Boosted": "true"}, 303, "/apps", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fiber.New()
			app.Post("/", func(c *fiber.Ctx) error { return Redirect(c, "/apps") })
			req := httptest.NewRequest("POST", "/", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			resp, err := app.Test(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location || resp.Header.Get("HX-Redirect") != tc.hxTo {
				t.Errorf("status %d, Location %q, HX-Redirect %q", resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("HX-Redirect"))
			}
		})
	}
}

// HX types the htmx headers; only a plain htmx request aimed at the element gets its fragment.
func TestHX(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers map[string]string
		want    HTMX
		partial bool
		targets bool // Targets("results")
	}{
		{"a plain page load", nil, HTMX{}, false, false},
		{"htmx aimed at the results", map[string]string{"HX-Request": "true", "HX-Target": "results", "HX-Trigger": "q", "HX-Trigger-Name": "q", "HX-Current-URL": "http://x/admin"},
			HTMX{Enabled: true, Target: "results", Trigger: "q", TriggerName: "q", CurrentURL: "http://x/admin"}, true, true},
		{"htmx aimed elsewhere", map[string]string{"HX-Request": "true", "HX-Target": "main"}, HTMX{Enabled: true, Target: "main"}, true, false},
		{"a boosted navigation", map[string]string{"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "results"}, HTMX{Enabled: true, Boosted: true, Target: "results"}, false, false},
		{"a history restore after back", map[string]string{"HX-Request": "true", "HX-History-Restore-Request": "true", "HX-Target": "results"}, HTMX{Enabled: true, HistoryRestore: true, Target: "results"}, false, false},
		{"the header without htmx's value", map[string]string{"HX-Request": "1", "HX-Target": "results"}, HTMX{Target: "results"}, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := fiber.New()
			app.Get("/", func(c *fiber.Ctx) error {
				h := HX(c)
				if h != tc.want || h.Partial() != tc.partial || IsHTMX(c) != tc.partial || h.Targets("results") != tc.targets {
					t.Errorf("HX = %+v partial %v targets %v", h, h.Partial(), h.Targets("results"))
				}
				return nil
			})
			req := httptest.NewRequest("GET", "/", nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			if _, err := app.Test(req); err != nil {
				t.Fatal(err)
			}
		})
	}
}
