package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// SourceMapModule is the name of the source map uploaded beside OutputModule;
// the bundle's last line (//# sourceMappingURL=worker.js.map) points at it, as
// wrangler's uploads do, and Cloudflare uses it to remap uncaught exceptions.
const SourceMapModule = OutputModule + ".map"

// SourceMap is a parsed version 3 source map of one bundle: for each line of
// the bundle, the positions in the tenant's files its code came from.
type SourceMap struct {
	sources []string
	lines   [][]mapping // by generated line (0-based), sorted by column
}

// mapping is one segment of a source map with absolute values, all 0-based;
// src is -1 for a segment that maps to no source.
type mapping struct {
	genCol, src, line, col int
}

// ParseSourceMap reads a source map (version 3, no index maps), decoding its
// Base64 VLQ mappings.
func ParseSourceMap(b []byte) (*SourceMap, error) {
	var raw struct {
		Version    int      `json:"version"`
		Sources    []string `json:"sources"`
		SourceRoot string   `json:"sourceRoot"`
		Mappings   string   `json:"mappings"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("bundle: unable to read source map: %w", err)
	}
	if raw.Version != 3 {
		return nil, fmt.Errorf("bundle: source map version %d, want 3", raw.Version)
	}
	m := &SourceMap{sources: make([]string, len(raw.Sources))}
	for i, s := range raw.Sources {
		m.sources[i] = raw.SourceRoot + s
	}
	var src, line, col int
	for _, text := range strings.Split(raw.Mappings, ";") {
		var segs []mapping
		genCol := 0
		for _, seg := range strings.Split(text, ",") {
			if seg == "" {
				continue
			}
			var f [5]int
			n, err := decodeVLQ(seg, f[:])
			if err != nil {
				return nil, err
			}
			switch n {
			case 1:
				genCol += f[0]
				segs = append(segs, mapping{genCol: genCol, src: -1})
			case 4, 5:
				genCol += f[0]
				src += f[1]
				line += f[2]
				col += f[3]
				if src < 0 || src >= len(m.sources) || line < 0 || col < 0 || genCol < 0 {
					return nil, errors.New("bundle: source map segment out of range")
				}
				segs = append(segs, mapping{genCol: genCol, src: src, line: line, col: col})
			default:
				return nil, fmt.Errorf("bundle: source map segment %q has %d fields", seg, n)
			}
		}
		sort.SliceStable(segs, func(i, j int) bool { return segs[i].genCol < segs[j].genCol })
		m.lines = append(m.lines, segs)
	}
	return m, nil
}

// decodeVLQ decodes the Base64 VLQ values of one segment into out and says
// how many there were.
func decodeVLQ(seg string, out []int) (int, error) {
	n, shift, value := 0, 0, 0
	for i := 0; i < len(seg); i++ {
		d := base64Digit(seg[i])
		if d < 0 {
			return 0, fmt.Errorf("bundle: source map segment %q: %q is not Base64", seg, seg[i])
		}
		if shift > 30 {
			return 0, fmt.Errorf("bundle: source map segment %q: value too large", seg)
		}
		value += (d & 31) << shift
		if d&32 != 0 {
			shift += 5
			continue
		}
		if n == len(out) {
			return 0, fmt.Errorf("bundle: source map segment %q has too many fields", seg)
		}
		// The lowest bit is the sign.
		if value&1 != 0 {
			out[n] = -(value >> 1)
		} else {
			out[n] = value >> 1
		}
		n, shift, value = n+1, 0, 0
	}
	if shift != 0 {
		return 0, fmt.Errorf("bundle: source map segment %q ends inside a value", seg)
	}
	return n, nil
}

func base64Digit(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}

// Lookup maps a 1-based line and column of the bundle, as V8 reports them in
// a stack, to the 1-based line and column of the tenant's file.
func (m *SourceMap) Lookup(line, col int) (file string, srcLine, srcCol int, ok bool) {
	if m == nil || line < 1 || line > len(m.lines) {
		return "", 0, 0, false
	}
	segs := m.lines[line-1]
	// The last segment that starts at or before the column.
	i := sort.Search(len(segs), func(i int) bool { return segs[i].genCol > col-1 }) - 1
	if i < 0 || segs[i].src < 0 {
		return "", 0, 0, false
	}
	s := segs[i]
	return m.sources[s.src], s.line + 1, s.col + 1, true
}

// bundlePosition finds positions in the bundle as stacks and messages name
// them: "worker.js:12:7", also behind a path or URL ("file:///worker.js:12:7").
var bundlePosition = regexp.MustCompile(`(?:[A-Za-z][A-Za-z0-9+.-]*:/+)?(?:[A-Za-z0-9_.@-]+/)*` + regexp.QuoteMeta(OutputModule) + `:(\d+):(\d+)`)

// Rewrite replaces each position in the bundle that text names (a stack's
// frames, a message quoting one) with the position in the tenant's own file.
// Positions the map does not cover stay as they are.
func (m *SourceMap) Rewrite(text string) string {
	if m == nil || !strings.Contains(text, OutputModule+":") {
		return text
	}
	return bundlePosition.ReplaceAllStringFunc(text, func(pos string) string {
		sub := bundlePosition.FindStringSubmatch(pos)
		line, err1 := strconv.Atoi(sub[1])
		col, err2 := strconv.Atoi(sub[2])
		if err1 != nil || err2 != nil {
			return pos
		}
		file, l, c, ok := m.Lookup(line, col)
		if !ok {
			return pos
		}
		return file + ":" + strconv.Itoa(l) + ":" + strconv.Itoa(c)
	})
}

// cleanSourceMap names the tenant's files in the map as they were uploaded
// (esbuild writes them with the plugin's namespace, "upload:lib.js") and
// names the bundle it belongs to.
func cleanSourceMap(b []byte) ([]byte, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("bundle: unable to read esbuild's source map: %w", err)
	}
	var sources []string
	if err := json.Unmarshal(raw["sources"], &sources); err != nil {
		return nil, fmt.Errorf("bundle: unable to read esbuild's source map sources: %w", err)
	}
	for i, s := range sources {
		sources[i] = strings.TrimPrefix(s, namespace+":")
	}
	raw["sources"], _ = json.Marshal(sources)
	raw["file"], _ = json.Marshal(OutputModule)
	return json.Marshal(raw)
}
