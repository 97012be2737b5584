package web

import (
	"context"
	"strings"
	"sync"

	"github.com/402claw/402claw/workers/bundle"
)

// Stack positions in tenants' log lines name the bundle the edge runs (worker.js:12:7). At
// ingest each is rewritten to the tenant's own file and line (lib.js:2:9) with the source map
// of the version the app runs, so the Logs tab, the API and the test console all show the
// files the tenant wrote. Lines the edge already remapped (Cloudflare remaps uncaught
// exceptions in tail events with the uploaded map) are left alone.

// sourceMapCacheSize bounds the parsed maps kept (by version id; a version never changes).
const sourceMapCacheSize = 128

type sourceMapCache struct {
	mu   sync.Mutex
	maps map[uint]*bundle.SourceMap // nil value: the version has no usable map
}

func (c *sourceMapCache) get(id uint) (*bundle.SourceMap, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.maps[id]
	return m, ok
}

func (c *sourceMapCache) put(id uint, m *bundle.SourceMap) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maps == nil || len(c.maps) >= sourceMapCacheSize {
		c.maps = map[uint]*bundle.SourceMap{}
	}
	c.maps[id] = m
}

// mapLogPositions rewrites bundle positions in the lines of logs, in place. Best effort: a
// map that cannot be read leaves the lines as the edge sent them.
func (s *Server) mapLogPositions(ctx context.Context, logs []ingestLog) {
	var slugs []string
	seen := map[string]bool{}
	for _, l := range logs {
		if seen[l.App] {
			continue
		}
		for _, x := range l.Lines {
			if !x.Mapped && strings.Contains(x.Message, bundle.OutputModule+":") {
				seen[l.App] = true
				slugs = append(slugs, l.App)
				break
			}
		}
	}
	if len(slugs) == 0 {
		return
	}
	ids, err := s.store.LiveVersionIDs(ctx, slugs)
	if err != nil {
		s.log.Warn("log ingest: unable to read live versions for source maps", "err", err)
		return
	}
	maps := map[string]*bundle.SourceMap{}
	for slug, id := range ids {
		m, ok := s.srcMaps.get(id)
		if !ok {
			raw, err := s.store.VersionSourceMap(ctx, id)
			if err != nil {
				s.log.Warn("log ingest: unable to read a source map", "version", id, "err", err)
				continue
			}
			if len(raw) > 0 {
				if m, err = bundle.ParseSourceMap(raw); err != nil {
					s.log.Warn("log ingest: unreadable source map", "version", id, "err", err)
					m = nil
				}
			}
			s.srcMaps.put(id, m)
		}
		maps[slug] = m
	}
	for i := range logs {
		m := maps[logs[i].App]
		if m == nil {
			continue
		}
		for j := range logs[i].Lines {
			if x := &logs[i].Lines[j]; !x.Mapped {
				x.Message = m.Rewrite(x.Message)
			}
		}
	}
}
