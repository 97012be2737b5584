package models

import (
	"context"
	"fmt"
	"net"
	"strings"

	"gorm.io/gorm"
)

// --- egress ---

// EgressPolicy says what an app's allowlist may name. On Cloudflare and on a default local edge
// tenants reach public hosts only; CLAW_EDGE_PRIVATE_EGRESS=allow (local development) lets the
// allowlist also name localhost and loopback or private IP addresses. The edge enforces the same
// rule on the address it actually connects to; refusing such entries here tells the tenant at
// once instead of with a 403 on every call.
type EgressPolicy struct {
	AllowPrivate bool
}

// Names that never lead to the public internet: single labels (search-domain lookups), and the
// suffixes of local networks, link-local service discovery and cloud metadata servers
// (metadata.google.internal).
var privateSuffixes = []string{".localhost", ".local", ".internal", ".localdomain", ".lan", ".home.arpa", ".arpa", ".intranet", ".corp", ".private"}

// ValidateEgressPattern checks one allowlist entry and returns it normalized (lower-case, no
// trailing dot). An entry is a host name ("api.example.com", punycode labels allowed) or
// "*.example.com", which allows the subdomains of example.com but not example.com itself, as
// the outbound worker matches. Ports, paths, schemes and IP addresses are refused: the outbound
// worker compares host names only and ignores ports, so "host:8080" would promise a restriction
// that does not exist, and an IP address would allow whatever is served there under any name.
// Non-ASCII names must be written in punycode (xn--…), the form the outbound worker sees.
func (p EgressPolicy) ValidateEgressPattern(s string) (string, error) {
	h := strings.ToLower(strings.TrimSpace(s))
	h = strings.TrimSuffix(h, ".")
	bare := strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if ip := net.ParseIP(bare); ip != nil {
		switch {
		case !p.AllowPrivate:
			return "", fieldErr("allow", fmt.Sprintf("%q is an IP address; allow host names only.", clipText(s)))
		case !ip.IsLoopback() && !ip.IsPrivate():
			return "", fieldErr("allow", fmt.Sprintf("%q is an IP address; only loopback and private addresses may be listed (local development), public hosts by name.", clipText(s)))
		case ip.To4() == nil:
			return "[" + ip.String() + "]", nil
		default:
			return ip.String(), nil
		}
	}
	switch {
	case h == "":
		return "", fieldErr("allow", "Enter a host name like api.example.com or *.example.com.")
	case h == "*" || h == "*.":
		return "", fieldErr("allow", "\"*\" would allow every host; list the hosts the app needs instead.")
	case strings.Contains(h, "://"):
		return "", fieldErr("allow", fmt.Sprintf("%q: write the host name only, without http:// or https://.", clipText(s)))
	case strings.ContainsAny(h, "/?#"):
		return "", fieldErr("allow", fmt.Sprintf("%q: write the host name only, without a path.", clipText(s)))
	case strings.ContainsAny(h, "[]"):
		return "", fieldErr("allow", fmt.Sprintf("%q is an IP address; allow host names only.", clipText(s)))
	case strings.Contains(h, ":"):
		return "", fieldErr("allow", fmt.Sprintf("%q: leave out the port; rules allow a host on every port.", clipText(s)))
	case len(h) > 253:
		return "", fieldErr("allow", "A host name has at most 253 characters.")
	case h == "localhost" && p.AllowPrivate:
		return h, nil
	}
	rest := h
	if after, ok := strings.CutPrefix(h, "*."); ok {
		rest = after
		if !strings.Contains(rest, ".") {
			return "", fieldErr("allow", fmt.Sprintf("%q would allow a whole top-level domain; name a domain like *.example.com.", clipText(s)))
		}
	}
	labels := strings.Split(rest, ".")
	for _, label := range labels {
		if msg := hostLabelProblem(label); msg != "" {
			return "", fieldErr("allow", fmt.Sprintf("%q: %s", clipText(s), msg))
		}
	}
	// A URL parser reads a host whose last label is a number as an IPv4 address (127.1,
	// 2130706433, 0x7f.1): no public name ends that way.
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" || strings.HasPrefix(last, "0x") {
		return "", fieldErr("allow", fmt.Sprintf("%q reads as an IP address; allow host names only.", clipText(s)))
	}
	if rest == "localhost" || len(labels) == 1 {
		return "", fieldErr("allow", fmt.Sprintf("%q is not a public host name: apps reach public internet hosts only (like api.example.com).", clipText(s)))
	}
	for _, suf := range privateSuffixes {
		if strings.HasSuffix("."+rest, suf) {
			return "", fieldErr("allow", fmt.Sprintf("%q is a local or internal name (%s): apps reach public internet hosts only.", clipText(s), suf))
		}
	}
	return h, nil
}

func hostLabelProblem(l string) string {
	switch {
	case l == "":
		return "a host name cannot have an empty part (two dots in a row)."
	case l == "*":
		return "* may only come first, as in *.example.com."
	case len(l) > 63:
		return "each part of a host name has at most 63 characters."
	case l[0] == '-' || l[len(l)-1] == '-':
		return "a part of a host name cannot start or end with a hyphen."
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c >= 0x80 {
			return "write international names in punycode (xn--…)."
		}
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return "use letters, digits, hyphens and dots only."
		}
	}
	return ""
}

// ValidateEgress checks a whole allowlist; duplicates are dropped, the order is kept. The error
// names the index of the first bad entry.
func (p EgressPolicy) ValidateEgress(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for i, s := range in {
		h, err := p.ValidateEgressPattern(s)
		if err != nil {
			fe, _ := AsFieldError(err)
			return nil, &RouteError{Index: i, Field: "allow", Message: fe.Message}
		}
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	if len(out) > MaxEgressRules {
		return nil, fieldErr("allow", fmt.Sprintf("An app may allow at most %d hosts; use *.example.com for many subdomains.", MaxEgressRules))
	}
	return out, nil
}

// EgressRules returns an app's allowlist in order.
func (s *Store) EgressRules(ctx context.Context, appID uint) ([]EgressRule, error) {
	var es []EgressRule
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("position, id").Find(&es).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list egress rules of app %d: %w", appID, err)
	}
	return es, nil
}

// ReplaceEgress stores patterns (already validated) as the app's allowlist, with its sync job.
func (s *Store) ReplaceEgress(ctx context.Context, app *App, patterns []string) ([]EgressRule, error) {
	if len(patterns) > MaxEgressRules {
		return nil, fieldErr("allow", fmt.Sprintf("An app may allow at most %d hosts.", MaxEgressRules))
	}
	var out []EgressRule
	err := s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		if err := tx.Where("app_id = ?", cur.ID).Delete(&EgressRule{}).Error; err != nil {
			return fmt.Errorf("store: unable to clear egress of app %d: %w", cur.ID, err)
		}
		out = make([]EgressRule, len(patterns))
		for i, p := range patterns {
			out[i] = EgressRule{AppID: cur.ID, Position: i, Pattern: p}
		}
		if len(out) > 0 {
			if err := tx.Create(&out).Error; err != nil {
				return fmt.Errorf("store: unable to store egress of app %d: %w", cur.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AddEgress appends one validated pattern; an existing one is left as it is.
func (s *Store) AddEgress(ctx context.Context, app *App, pattern string) error {
	return s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		var es []EgressRule
		if err := tx.Where("app_id = ?", cur.ID).Order("position, id").Find(&es).Error; err != nil {
			return fmt.Errorf("store: unable to read egress of app %d: %w", cur.ID, err)
		}
		for _, e := range es {
			if e.Pattern == pattern {
				return nil
			}
		}
		if len(es) >= MaxEgressRules {
			return fieldErr("allow", fmt.Sprintf("An app may allow at most %d hosts; use *.example.com for many subdomains.", MaxEgressRules))
		}
		pos := 0
		if len(es) > 0 {
			pos = es[len(es)-1].Position + 1
		}
		if err := tx.Create(&EgressRule{AppID: cur.ID, Position: pos, Pattern: pattern}).Error; err != nil {
			return fmt.Errorf("store: unable to add egress rule to app %d: %w", cur.ID, err)
		}
		return nil
	})
}

// RemoveEgress deletes rule id of the app.
func (s *Store) RemoveEgress(ctx context.Context, app *App, id uint) error {
	return s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		res := tx.Where("app_id = ? AND id = ?", cur.ID, id).Delete(&EgressRule{})
		if res.Error != nil {
			return fmt.Errorf("store: unable to remove egress rule %d: %w", id, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}
