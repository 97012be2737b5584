package models

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The public catalog (GET /discovery/resources) is read from memory: the list of every priced
// route of a listed app is loaded once and kept with the catalog version it was loaded at
// (catalog_versions, raised by database triggers on every change to routes, to the app fields
// the catalog shows or filters on, and to a tenant's status: migrations_catalog.go). Each query
// reads that one row; while it is unchanged the page, its filters and its total come from the
// list in memory, so a page costs the same on page 1 and page 100 and never counts rows. A change
// anywhere (this process, raw SQL, another replica) raises the version; the next query is still
// answered from the list it has (the previous snapshot) and starts loading the new one in the
// background, so no query waits for a reload (~0.25 s at 10,000 routes). Queries see the change
// once that load is done. Only the first query of a process, with nothing loaded, waits.

// catalogCache holds the newest loaded catalog; loading is one at a time.
type catalogCache struct {
	snap      atomic.Pointer[catalogSnapshot]
	mu        sync.Mutex
	reloading atomic.Bool
}

type catalogSnapshot struct {
	version int64
	entries []catalogItem
}

type catalogItem struct {
	app   *App
	route Route
	text  string // lower-case name, slug, description, tags, route description and path
}

// catalogVersion reads the counter; ok is false when the table is missing (a database migrated
// past version 82 before it existed), and the catalog is then loaded on every query.
func (s *Store) catalogVersion(ctx context.Context) (int64, bool) {
	var v []int64
	if err := s.db.WithContext(ctx).Raw(`SELECT version FROM catalog_versions WHERE id = 1`).Scan(&v).Error; err != nil || len(v) != 1 {
		return 0, false
	}
	return v[0], true
}

// catalogSnapshot returns the catalog: the loaded one when it is current; the loaded one while a
// newer one loads in the background when it is not; a fresh load when nothing is loaded yet or
// the version table is missing.
func (s *Store) catalogSnapshot(ctx context.Context) (*catalogSnapshot, error) {
	v, ok := s.catalogVersion(ctx)
	if cur := s.catalog.snap.Load(); ok && cur != nil {
		if cur.version != v {
			s.reloadCatalog(ctx)
		}
		return cur, nil
	}
	s.catalog.mu.Lock()
	defer s.catalog.mu.Unlock()
	if ok {
		// Another query may have loaded it while this one waited.
		if cur := s.catalog.snap.Load(); cur != nil {
			return cur, nil
		}
	}
	return s.loadCatalogVersion(ctx, ok)
}

// loadCatalogVersion loads the catalog and keeps it (when the version table exists). The caller
// holds s.catalog.mu. The version is read before the rows: a change committed in between makes
// the next query load again (the rows are newer than their version, never older).
func (s *Store) loadCatalogVersion(ctx context.Context, versioned bool) (*catalogSnapshot, error) {
	v, ok := s.catalogVersion(ctx)
	snap, err := s.loadCatalog(ctx)
	if err != nil {
		return nil, err
	}
	snap.version = v
	if versioned && ok {
		if cur := s.catalog.snap.Load(); cur == nil || cur.version <= v {
			s.catalog.snap.Store(snap)
		}
	}
	return snap, nil
}

// reloadCatalog loads the catalog in the background unless a load is running already (a change
// during that load is seen by the next query, which starts another). The load outlives the
// query that started it, for at most a minute.
func (s *Store) reloadCatalog(ctx context.Context) {
	if !s.catalog.reloading.CompareAndSwap(false, true) {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		s.catalog.mu.Lock()
		_, err := s.loadCatalogVersion(ctx, true)
		s.catalog.mu.Unlock()
		s.catalog.reloading.Store(false)
		if err != nil {
			slog.Warn("catalog: background reload failed; the previous catalog is served", "err", err)
		}
	}()
}

// loadCatalog reads every x402 route of a public app, in app then route order.
func (s *Store) loadCatalog(ctx context.Context) (*catalogSnapshot, error) {
	var apps []App
	if err := publicApps(s.db.WithContext(ctx).Model(&App{})).Select("apps.*").Order("apps.id").Find(&apps).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read the catalog's apps: %w", err)
	}
	snap := &catalogSnapshot{}
	if len(apps) == 0 {
		return snap, nil
	}
	byID := make(map[uint]*App, len(apps))
	ids := make([]uint, len(apps))
	appText := make(map[uint]string, len(apps))
	for i := range apps {
		a := &apps[i]
		byID[a.ID], ids[i] = a, a.ID
		appText[a.ID] = strings.ToLower(a.Name + "\x00" + a.Slug + "\x00" + a.Description + "\x00" + a.Tags)
	}
	var routes []Route
	// IN lists stay under SQLite's and PostgreSQL's parameter limits.
	for lo := 0; lo < len(ids); lo += 500 {
		hi := min(lo+500, len(ids))
		var part []Route
		if err := s.db.WithContext(ctx).Where("app_id IN ? AND access = ?", ids[lo:hi], AccessX402).Order("app_id, position, id").Find(&part).Error; err != nil {
			return nil, fmt.Errorf("store: unable to read the catalog's routes: %w", err)
		}
		routes = append(routes, part...)
	}
	snap.entries = make([]catalogItem, len(routes))
	for i, r := range routes {
		snap.entries[i] = catalogItem{app: byID[r.AppID], route: r,
			text: appText[r.AppID] + "\x00" + strings.ToLower(r.Description+"\x00"+r.Path)}
	}
	return snap, nil
}

// Catalog lists the x402 routes of listed apps, in app then route order, and their total count.
func (s *Store) Catalog(ctx context.Context, cq CatalogQuery) ([]CatalogEntry, int64, error) {
	if cq.Type != "" && cq.Type != "http" {
		return nil, 0, nil
	}
	snap, err := s.catalogSnapshot(ctx)
	if err != nil {
		return nil, 0, err
	}
	text := strings.ToLower(strings.TrimSpace(cq.Text))
	match := func(e *catalogItem) bool {
		return (cq.Network == "" || e.route.Network == cq.Network) && (text == "" || strings.Contains(e.text, text))
	}
	offset, limit := max(cq.Offset, 0), cq.Limit
	var out []CatalogEntry
	add := func(e *catalogItem) {
		if limit <= 0 || len(out) < limit {
			out = append(out, CatalogEntry{App: *e.app, Route: e.route})
		}
	}
	if cq.Network == "" && text == "" {
		total := len(snap.entries)
		for i := offset; i < total; i++ {
			if limit > 0 && len(out) >= limit {
				break
			}
			add(&snap.entries[i])
		}
		return out, int64(total), nil
	}
	var total int64
	for i := range snap.entries {
		e := &snap.entries[i]
		if !match(e) {
			continue
		}
		if total >= int64(offset) {
			add(e)
		}
		total++
	}
	return out, total, nil
}
