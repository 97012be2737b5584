// Package scan is code moderation: it checks a version's files against rules — regular
// expressions (Go's RE2, which cannot backtrack catastrophically) and built-in checks that
// measure what a pattern cannot (obfuscation) — and says which rules matched, where.
//
// Rules live in the database and admins edit them; Defaults is the tested starting set. A rule's
// action is "flag" (the version waits for review) or "block" (the save is refused with the rule's
// message).
package scan

import (
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
)

// Actions and kinds.
const (
	ActionFlag  = "flag"
	ActionBlock = "block"

	KindPattern = "pattern" // Pattern is an RE2 regular expression, matched line by line
	KindCheck   = "check"   // Pattern names a built-in check (Checks)
)

// Rule is one moderation rule.
type Rule struct {
	Name     string
	Kind     string // pattern or check
	Pattern  string
	Severity string // low, medium, high
	Action   string // flag or block
	Message  string // what the tenant (block) or reviewer (flag) reads

	re  *regexp.Regexp
	pre prefilter
}

// Match is one rule that matched, with the lines that show why.
type Match struct {
	Rule  string
	File  string
	Lines []Line // at most maxLines per rule and file
	// Detail says what a check measured ("87% of identifiers look like _0x1a2b").
	Detail string
}

// Line is a matching line of a file, clipped for display.
type Line struct {
	N    int
	Text string
}

const (
	maxLines    = 5
	maxLineShow = 240
)

// PatternError says where a rule's pattern is wrong.
type PatternError struct {
	Offset  int // byte offset in the pattern, -1 when unknown
	Message string

	patternLen int
}

func (e *PatternError) Error() string {
	if e.Offset >= 0 && e.Offset >= e.patternLen && e.patternLen > 0 {
		return "at the end: " + e.Message
	}
	if e.Offset >= 0 {
		return fmt.Sprintf("at character %d: %s", e.Offset+1, e.Message)
	}
	return e.Message
}

// Validate checks a rule and compiles its pattern. A pattern error carries its position.
func (r *Rule) Validate() error {
	switch {
	case strings.TrimSpace(r.Name) == "":
		return fmt.Errorf("a rule needs a name")
	case r.Action != ActionFlag && r.Action != ActionBlock:
		return fmt.Errorf("action must be flag or block, not %q", r.Action)
	case r.Severity != "low" && r.Severity != "medium" && r.Severity != "high":
		return fmt.Errorf("severity must be low, medium or high, not %q", r.Severity)
	}
	switch r.Kind {
	case KindPattern:
		if strings.TrimSpace(r.Pattern) == "" {
			return &PatternError{Offset: 0, Message: "the pattern is empty"}
		}
		if len(r.Pattern) > 2000 {
			return &PatternError{Offset: 2000, Message: "patterns have at most 2,000 characters"}
		}
		re, err := regexp.Compile(r.Pattern)
		if err != nil {
			pe := &PatternError{Offset: -1, Message: err.Error(), patternLen: len(r.Pattern)}
			if se, ok := err.(*syntax.Error); ok {
				pe.Message = string(se.Code)
				switch {
				case se.Code == syntax.ErrMissingParen || se.Code == syntax.ErrMissingBracket:
					pe.Offset = len(r.Pattern) // nothing closes it before the end
				case se.Expr != "":
					pe.Message += ": " + se.Expr
					pe.Offset = strings.Index(r.Pattern, se.Expr)
				}
			}
			return pe
		}
		r.re, r.pre = re, newPrefilter(r.Pattern)
	case KindCheck:
		if _, ok := Checks[r.Pattern]; !ok {
			names := make([]string, 0, len(Checks))
			for n := range Checks {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("unknown check %q (known: %s)", r.Pattern, strings.Join(names, ", "))
		}
	default:
		return fmt.Errorf("kind must be pattern or check, not %q", r.Kind)
	}
	return nil
}

// Check is a built-in measurement over one file: whether it fires, and what it saw.
type Check func(name, src string) (bool, string, []Line)

// Checks are the built-in checks a rule of kind "check" names.
var Checks = map[string]Check{
	"obfuscation": checkObfuscation,
}

// Scan runs rules over files (name → source) and returns the matches, by rule then file. Rules
// that do not validate are skipped (they were refused when saved).
func Scan(rules []Rule, files map[string]string) []Match {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	lower := make(map[string]*string, len(files)) // each file lower-cased once, when a rule needs it
	for _, n := range names {
		lower[n] = new(string)
	}
	var out []Match
	for i := range rules {
		r := &rules[i]
		if r.re == nil && r.Kind == KindPattern {
			if r.Validate() != nil {
				continue
			}
		}
		for _, n := range names {
			src := files[n]
			switch r.Kind {
			case KindPattern:
				if lines := r.matchLines(src, lower[n]); len(lines) > 0 {
					out = append(out, Match{Rule: r.Name, File: n, Lines: lines})
				}
			case KindCheck:
				if c := Checks[r.Pattern]; c != nil {
					if ok, detail, lines := c(n, src); ok {
						out = append(out, Match{Rule: r.Name, File: n, Lines: lines, Detail: detail})
					}
				}
			}
		}
	}
	return out
}

// matchLines finds the first lines the pattern matches, running it only where its prefilter
// says a match can be.
func (r *Rule) matchLines(src string, lower *string) []Line {
	spans, ok := r.pre.spans(src, lower)
	if !ok {
		return nil
	}
	var out []Line
	lastLine, lastEnd := -1, -1
	for _, sp := range spans {
		for _, loc := range r.re.FindAllStringIndex(src[sp[0]:sp[1]], maxLines) {
			from, to := sp[0]+loc[0], sp[0]+loc[1]
			if from < lastEnd {
				continue // overlapping windows can find a match twice
			}
			lastEnd = to
			n := strings.Count(src[:from], "\n") + 1
			if n == lastLine {
				continue
			}
			lastLine = n
			out = append(out, Line{N: n, Text: around(src, from, to)})
			if len(out) == maxLines {
				return out
			}
		}
	}
	return out
}

// around is the line holding src[from:to], clipped around the match when the line is long.
func around(src string, from, to int) string {
	start := strings.LastIndexByte(src[:from], '\n') + 1
	end := strings.IndexByte(src[to:], '\n')
	if end < 0 {
		end = len(src)
	} else {
		end += to
	}
	if end-start <= maxLineShow {
		return src[start:end]
	}
	a := max(start, from-maxLineShow/3)
	b := min(end, max(to, a+maxLineShow))
	s := src[a:b]
	if a > start {
		s = "…" + s
	}
	if b < end {
		s += "…"
	}
	return strings.ToValidUTF8(s, "")
}

// checkObfuscation measures what obfuscators leave behind and minifiers do not: identifiers
// like _0x1a2b (javascript-obfuscator), strings written as \x escapes, and long string literals
// of near-random text (packed payloads). A minified library has short names and plain strings;
// it passes. One pass over the bytes each, no regular expressions: it runs on every save.
func checkObfuscation(_ string, src string) (bool, string, []Line) {
	hexIdents, firstHex := countHexIdents(src)
	idents := countIdents(src)
	escapes, firstEsc := countHexEscapes(src)
	kb := float64(len(src)) / 1024
	var reasons []string
	var at []int
	if hexIdents >= 20 && idents > 0 && float64(hexIdents)/float64(idents) > 0.15 {
		reasons = append(reasons, fmt.Sprintf("%d identifiers look like _0x1a2b (%.0f%% of identifiers)", hexIdents, 100*float64(hexIdents)/float64(idents)))
		at = append(at, firstHex)
	}
	if escapes >= 50 && float64(escapes)/max(kb, 1) > 20 {
		reasons = append(reasons, fmt.Sprintf("%d \\x escapes (%.0f per KiB)", escapes, float64(escapes)/max(kb, 1)))
		at = append(at, firstEsc)
	}
	if from, to, ok := randomLiteral(src); ok {
		lit := src[from:to]
		reasons = append(reasons, fmt.Sprintf("a %d-character string of near-random text (%.1f bits per character)", len(lit), entropy(lit)))
		at = append(at, from)
	}
	if len(reasons) == 0 {
		return false, "", nil
	}
	var lines []Line
	for _, p := range at {
		lines = append(lines, Line{N: strings.Count(src[:p], "\n") + 1, Text: around(src, p, p+1)})
	}
	return true, strings.Join(reasons, "; "), lines
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// countIdents counts identifier-like words (runs of identifier bytes not starting with a digit).
func countIdents(src string) int {
	n := 0
	for i := 0; i < len(src); {
		if !isIdentByte(src[i]) {
			i++
			continue
		}
		j := i
		for j < len(src) && isIdentByte(src[j]) {
			j++
		}
		if c := src[i]; c < '0' || c > '9' {
			n++
		}
		i = j
	}
	return n
}

// countHexIdents counts _0x followed by 4+ hex digits as a whole word, and where the first is.
func countHexIdents(src string) (int, int) {
	n, first := 0, -1
	for from := 0; ; {
		i := strings.Index(src[from:], "_0x")
		if i < 0 {
			return n, first
		}
		at := from + i
		j := at + 3
		for j < len(src) && isHex(src[j]) {
			j++
		}
		if j-at-3 >= 4 && (j == len(src) || !isIdentByte(src[j])) && (at == 0 || !isIdentByte(src[at-1])) {
			if first < 0 {
				first = at
			}
			n++
		}
		from = at + 3
	}
}

// countHexEscapes counts \x followed by two hex digits, and where the first is.
func countHexEscapes(src string) (int, int) {
	n, first := 0, -1
	for from := 0; ; {
		i := strings.Index(src[from:], "\\x")
		if i < 0 {
			return n, first
		}
		at := from + i
		if at+3 < len(src) && isHex(src[at+2]) && isHex(src[at+3]) {
			if first < 0 {
				first = at
			}
			n++
		}
		from = at + 2
	}
}

// randomLiteral finds a quoted run of 400+ base64/URL-safe characters that reads as random
// (high entropy, few vowels): a packed payload.
func randomLiteral(src string) (int, int, bool) {
	for i := 0; i < len(src); i++ {
		q := src[i]
		if q != '"' && q != '\'' && q != '`' {
			continue
		}
		j := i + 1
		for j < len(src) && isB64(src[j]) {
			j++
		}
		if j < len(src) && src[j] == q && j-i-1 >= 400 {
			lit := src[i+1 : j]
			if entropy(lit) > 5.3 && !looksLikeText(lit) {
				return i + 1, j, true
			}
		}
		i = j - 1
		if j > i+1 && j < len(src) && src[j] == q {
			i = j // the closing quote does not open a literal
		}
	}
	return 0, 0, false
}

func isB64(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '_' || c == '-'
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	h := 0.0
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / float64(len(s))
			h -= p * math.Log2(p)
		}
	}
	return h
}

// looksLikeText: a long literal of words (or a data table) has a few letters most of the time.
func looksLikeText(s string) bool {
	vowels := strings.Count(strings.ToLower(s), "a") + strings.Count(strings.ToLower(s), "e") + strings.Count(strings.ToLower(s), "o")
	return float64(vowels)/float64(len(s)) > 0.2
}
