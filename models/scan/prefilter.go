package scan

import (
	"regexp/syntax"
	"sort"
	"strings"
)

// Go's regexp has no DFA: a case-insensitive alternation runs at about a megabyte a second,
// which would make scanning a 1 MiB bundle take a second per rule. So every pattern gets a
// prefilter, as fast grep tools do: the literals one of which any match must contain, found
// with strings.Index; the regular expression then runs only on the text around each
// occurrence. A match is therefore at most window bytes long on each side of its literal —
// rules describe telltale snippets, never whole files.
const window = 2048

type prefilter struct {
	lits []literal // any match contains one of these; nil: no prefilter, scan everything
}

type literal struct {
	s    string
	fold bool // compare case-insensitively (ASCII)
}

// newPrefilter analyses a pattern. Literals shorter than 3 bytes would hit everywhere and are
// not worth it: then the pattern runs on the whole text.
func newPrefilter(pattern string) prefilter {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return prefilter{}
	}
	lits, ok := required(re.Simplify())
	if !ok || len(lits) == 0 || len(lits) > 64 {
		return prefilter{}
	}
	for _, l := range lits {
		if len(l.s) < 3 {
			return prefilter{}
		}
	}
	return prefilter{lits: lits}
}

// required returns literals one of which every match of re contains.
func required(re *syntax.Regexp) ([]literal, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		s := string(re.Rune)
		if fold {
			s = strings.ToLower(s)
		}
		return []literal{{s, fold}}, true
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		// The most selective child: the one whose shortest literal is longest.
		var best []literal
		bestLen := 0
		for _, sub := range re.Sub {
			lits, ok := required(sub)
			if !ok {
				continue
			}
			shortest := 1 << 30
			for _, l := range lits {
				shortest = min(shortest, len(l.s))
			}
			if shortest > bestLen {
				best, bestLen = lits, shortest
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		var all []literal
		for _, sub := range re.Sub {
			lits, ok := required(sub)
			if !ok {
				return nil, false
			}
			all = append(all, lits...)
		}
		return all, true
	}
	return nil, false
}

// spans are the byte ranges of src the pattern must run on: the windows around every literal
// occurrence, merged. ok is false when no literal occurs (no match is possible).
func (p prefilter) spans(src string, lower *string) (spans [][2]int, ok bool) {
	if p.lits == nil {
		return [][2]int{{0, len(src)}}, true
	}
	for _, l := range p.lits {
		text := src
		if l.fold {
			if *lower == "" {
				*lower = asciiLower(src)
			}
			text = *lower
		}
		for from := 0; ; {
			i := strings.Index(text[from:], l.s)
			if i < 0 {
				break
			}
			at := from + i
			spans = append(spans, [2]int{max(0, at-window), min(len(src), at+len(l.s)+window)})
			from = at + len(l.s)
		}
	}
	if len(spans) == 0 {
		return nil, false
	}
	return merge(spans), true
}

func merge(spans [][2]int) [][2]int {
	// Occurrences of one literal come in order; several literals interleave: sort by start.
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s[0] <= last[1] {
			last[1] = max(last[1], s[1])
		} else {
			out = append(out, s)
		}
	}
	return out
}

// asciiLower lower-cases ASCII letters only, keeping every byte offset.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
