package x402

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrInvalidPattern is wrapped by every error from ParsePattern.
var ErrInvalidPattern = errors.New("invalid route pattern")

const maxPatternLen = 512

// methods are the HTTP methods a route may be limited to. A closed list
// catches typos ("GTE") that would otherwise make a route silently
// unreachable.
var methods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true,
	"PATCH": true, "DELETE": true, "OPTIONS": true,
}

type segKind uint8

const (
	segLiteral segKind = iota
	segParam           // ":id" or "[id]": exactly one non-empty segment
)

type segment struct {
	kind segKind
	lit  string // literal only: percent-decoded, ASCII lower-case
}

// Pattern is a parsed route in the x402 route syntax (as in the reference
// middleware, restricted so that every pattern means one obvious thing):
//
//	"/weather"        exactly /weather
//	"/api/*"          /api and everything below it ("*" may only end a pattern)
//	"/users/:id"      one segment in place of :id
//	"/users/[id]"     the same, Next.js style
//	"/" and "/*"      the root only, and everything
//
// Matching ignores ASCII case, the query string, repeated slashes and a
// trailing slash, and compares percent-decoded segments (an encoded slash
// %2F stays inside its segment). Non-ASCII letters are compared exactly:
// case folding beyond ASCII differs between Go and JavaScript, and the
// dispatcher must agree with the portal byte for byte.
// The zero Pattern matches nothing; build one with ParsePattern.
type Pattern struct {
	Method   string // upper-case; "" matches any method
	Path     string // canonical form: no trailing or repeated slash
	segs     []segment
	wildcard bool
	valid    bool
}

// ParsePattern checks a method and path pattern as a tenant typed them.
// method "" , "*" or "ANY" means any method.
func ParsePattern(method, path string) (Pattern, error) {
	m := strings.ToUpper(strings.TrimSpace(method))
	if m == "*" || m == "ANY" {
		m = ""
	}
	if m != "" && !methods[m] {
		return Pattern{}, fmt.Errorf("%w: unknown method %q (use GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, or leave it empty for any)", ErrInvalidPattern, clip(method))
	}

	p := strings.TrimSpace(path)
	switch {
	case p == "":
		return Pattern{}, fmt.Errorf("%w: the path is empty; write it like /weather or /api/*", ErrInvalidPattern)
	case len(p) > maxPatternLen:
		return Pattern{}, fmt.Errorf("%w: the path is longer than %d characters", ErrInvalidPattern, maxPatternLen)
	case p == "*":
		p = "/*" // the reference accepts a bare "*" for everything
	case strings.ContainsAny(p, " \t\r\n"):
		return Pattern{}, fmt.Errorf("%w: %q contains a space (put the method in its own field, and percent-encode spaces as %%20)", ErrInvalidPattern, clip(path))
	case p[0] != '/':
		return Pattern{}, fmt.Errorf("%w: %q must start with /", ErrInvalidPattern, clip(path))
	case strings.ContainsAny(p, "?#"):
		return Pattern{}, fmt.Errorf("%w: %q contains a query string or fragment; leave it out, requests match whatever their query", ErrInvalidPattern, clip(path))
	case strings.ContainsRune(p, '\\'):
		return Pattern{}, fmt.Errorf("%w: %q contains a backslash", ErrInvalidPattern, clip(path))
	}

	out := Pattern{Method: m, valid: true}
	var canon []string
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if part == "" {
			continue
		}
		last := true
		for _, rest := range parts[i+1:] {
			if rest != "" {
				last = false
				break
			}
		}
		switch {
		case part == "*":
			if !last {
				return Pattern{}, fmt.Errorf("%w: %q: * may only end a pattern, as in /api/*", ErrInvalidPattern, clip(path))
			}
			out.wildcard = true
			continue
		case strings.Contains(part, "*"):
			return Pattern{}, fmt.Errorf("%w: %q: * must be a whole segment at the end, as in /api/*", ErrInvalidPattern, clip(path))
		case part == "." || part == "..":
			return Pattern{}, fmt.Errorf("%w: %q contains a . or .. segment", ErrInvalidPattern, clip(path))
		case part[0] == ':':
			if !isParamName(part[1:]) {
				return Pattern{}, fmt.Errorf("%w: %q: a parameter is : followed by a name of letters, digits and _, as in /users/:id", ErrInvalidPattern, clip(path))
			}
			out.segs = append(out.segs, segment{kind: segParam})
		case part[0] == '[':
			name, ok := strings.CutSuffix(part[1:], "]")
			if !ok || name == "" || strings.ContainsAny(name, "[]") {
				return Pattern{}, fmt.Errorf("%w: %q: a parameter in brackets is a whole segment, as in /users/[id]", ErrInvalidPattern, clip(path))
			}
			out.segs = append(out.segs, segment{kind: segParam})
		case strings.ContainsAny(part, ":[]"):
			return Pattern{}, fmt.Errorf("%w: %q: : and [ ] only mark a parameter that fills a whole segment, as in /users/:id", ErrInvalidPattern, clip(path))
		default:
			dec, err := url.PathUnescape(part)
			if err != nil || !utf8.ValidString(dec) {
				return Pattern{}, fmt.Errorf("%w: %q has a broken percent-encoding in %q", ErrInvalidPattern, clip(path), clip(part))
			}
			if strings.ContainsAny(dec, "/\\") {
				return Pattern{}, fmt.Errorf("%w: %q: a segment cannot contain an encoded slash or backslash", ErrInvalidPattern, clip(path))
			}
			out.segs = append(out.segs, segment{kind: segLiteral, lit: asciiLower(dec)})
		}
		canon = append(canon, part)
	}
	out.Path = "/" + strings.Join(canon, "/")
	if out.wildcard {
		out.Path = strings.TrimSuffix(out.Path, "/") + "/*"
	}
	return out, nil
}

// ParseRoute reads the reference middleware's route key: "GET /weather" or
// "/weather" (any method).
func ParseRoute(s string) (Pattern, error) {
	s = strings.TrimSpace(s)
	if method, path, ok := strings.Cut(s, " "); ok {
		return ParsePattern(method, strings.TrimSpace(path))
	}
	return ParsePattern("", s)
}

// String is the route as the reference middleware writes it: "GET /weather",
// or the path alone for any method.
func (p Pattern) String() string {
	if p.Method == "" {
		return p.Path
	}
	return p.Method + " " + p.Path
}

// Match reports whether a request is covered by the pattern. path is the
// request's path as it appears in the URL (query allowed, percent-encoded).
// Callers pass a URL path that a URL parser has already resolved . and ..
// segments in (JavaScript's URL does); Match does not resolve them.
func (p Pattern) Match(method, path string) bool {
	if !p.valid {
		return false
	}
	// ASCII folding only: strings.EqualFold would let "POſT" be POST. A GET
	// route covers HEAD (a HEAD request runs the GET handler): otherwise HEAD
	// would fall through to a later route or none, and run a priced handler
	// for free.
	if p.Method != "" && !asciiEqualFold(method, strings.ToLower(p.Method)) &&
		!(p.Method == "GET" && asciiEqualFold(method, "head")) {
		return false
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	n := 0
	for len(path) > 0 {
		var seg string
		seg, path, _ = strings.Cut(path, "/")
		if seg == "" {
			continue
		}
		if n >= len(p.segs) {
			return p.wildcard
		}
		if s := p.segs[n]; s.kind == segLiteral && !asciiEqualFold(decodeSegment(seg), s.lit) {
			return false
		}
		n++
	}
	return n == len(p.segs)
}

// decodeSegment percent-decodes one request path segment the way the
// reference middleware does: a broken escape or invalid UTF-8 leaves the
// segment as it came, and a decoded / or \ is encoded again so it cannot
// split or join segments.
func decodeSegment(seg string) string {
	if !strings.Contains(seg, "%") {
		return seg
	}
	dec, err := url.PathUnescape(seg)
	if err != nil || !utf8.ValidString(dec) {
		return seg
	}
	if strings.ContainsAny(dec, "/\\") {
		dec = strings.NewReplacer("/", "%2F", "\\", "%5C").Replace(dec)
	}
	return dec
}

func isParamName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// asciiEqualFold compares a with an already lower-cased b, folding ASCII
// letters only (see Pattern for why).
func asciiEqualFold(a, lowerB string) bool {
	if len(a) != len(lowerB) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lowerB[i] {
			return false
		}
	}
	return true
}
