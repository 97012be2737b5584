// Package views holds the portal's templ components: the layout, one file
// per page, and the partials HTMX swaps. Components take plain view models.
package views

import (
	"fmt"
	"time"

	"github.com/402claw/402claw/models"
)

// Page is what the layout needs on every page.
type Page struct {
	Title      string
	User       *models.User
	CSRF       string
	Nav        string // which navigation entry is current
	SignupOpen bool
	Flash      string // a success message from the form that redirected here
	// ReplaceURL is the GET address of a page rendered as the answer to a plain
	// form's POST; app.js puts it in the history so a reload does not resubmit.
	ReplaceURL string
	// PlansPage: the admin plans page exists (billing is configured).
	PlansPage bool
}

// LoggedIn reports whether a user is on the page.
func (p Page) LoggedIn() bool { return p.User != nil }

// CSRFHeaders is the hx-headers value that makes every htmx request carry the token.
func (p Page) CSRFHeaders() string { return fmt.Sprintf(`{"X-Csrf-Token":%q}`, p.CSRF) }

// TenantName is the tenant's display name or an empty string.
func (p Page) TenantName() string {
	if p.User != nil && p.User.Tenant != nil {
		return p.User.Tenant.Name
	}
	return ""
}

// Form carries a re-rendered form: values, per-field errors and one message.
type Form struct {
	Values  map[string]string
	Errors  map[string]string
	Message string
}

// Value returns a submitted value for re-display.
func (f Form) Value(k string) string { return f.Values[k] }

// Err returns the error of field k.
func (f Form) Err(k string) string { return f.Errors[k] }

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return t.UTC().Format("2006-01-02")
}

func when(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return ago(*t)
}

// tokenExpiry says when an API token stops working.
func tokenExpiry(t models.APIToken) string {
	switch {
	case t.ExpiresAt == nil:
		return "never"
	case t.Expired(time.Now()):
		return "expired " + t.ExpiresAt.UTC().Format("2006-01-02")
	}
	return t.ExpiresAt.UTC().Format("2006-01-02 15:04") + " UTC"
}

func dollars(cents int64) string {
	if cents == 0 {
		return "$0"
	}
	if cents%100 == 0 {
		return fmt.Sprintf("$%d", cents/100)
	}
	return fmt.Sprintf("$%d.%02d", cents/100, cents%100)
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
