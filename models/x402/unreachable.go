package x402

import "fmt"

// Warning says that the route at Index can never match because the route at
// ShadowedBy comes first (first match wins) and matches every request it
// would. Both are 0-based indexes into the slice given to Unreachable;
// Message counts from 1, as the routes table in the portal does.
type Warning struct {
	Index      int
	ShadowedBy int
	Message    string
}

// Unreachable finds routes that can never match: duplicates, and routes that
// an earlier wildcard or parameter pattern covers ("/api/*" before
// "GET /api/users", "/:id" before "/about"). A route for any method covers
// the same path for a specific method, not the other way round, and a GET
// route covers a HEAD route (GET routes match HEAD requests). Each
// unreachable route is reported once, against the first route that hides it.
func Unreachable(patterns []Pattern) []Warning {
	var out []Warning
	for j, later := range patterns {
		if !later.valid {
			continue
		}
		for i, earlier := range patterns[:j] {
			if !earlier.valid || !earlier.covers(later) {
				continue
			}
			msg := fmt.Sprintf("route %d (%s) can never match: route %d (%s) comes first and matches every request it would", j+1, later, i+1, earlier)
			if later.covers(earlier) {
				msg = fmt.Sprintf("route %d (%s) is a duplicate of route %d and can never match", j+1, later, i+1)
			}
			out = append(out, Warning{Index: j, ShadowedBy: i, Message: msg})
			break
		}
	}
	return out
}

// covers reports whether every request q matches is also matched by p.
// The syntax is simple enough to decide this exactly, segment by segment:
// a parameter covers any one segment, a literal only the same literal, and a
// trailing wildcard any number of further segments, including none.
func (p Pattern) covers(q Pattern) bool {
	if p.Method != "" && p.Method != q.Method && !(p.Method == "GET" && q.Method == "HEAD") {
		return false
	}
	if p.wildcard {
		if len(q.segs) < len(p.segs) {
			return false
		}
	} else if q.wildcard || len(q.segs) != len(p.segs) {
		return false
	}
	for k, s := range p.segs {
		t := q.segs[k]
		if s.kind == segParam {
			continue
		}
		if t.kind != segLiteral || t.lit != s.lit {
			return false
		}
	}
	return true
}
