package models

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// readCache keeps hot read results (the session behind a cookie, a user's
// tokens, the plan catalog, admin list pages) for at most ttl. Every write
// through gorm bumps a per-table generation (a gorm callback, so no write
// path can forget it), and an entry is valid only while the generations of
// the tables it read are unchanged. Within one process reads therefore never
// see stale data; another replica's write is seen within ttl.
type readCache struct {
	ttl     time.Duration
	global  atomic.Uint64 // bumped by raw SQL whose table is unknown
	mu      sync.RWMutex
	gens    map[string]*atomic.Uint64
	entries sync.Map // key string -> *cacheEntry
	size    atomic.Int64

	flightMu sync.Mutex
	flights  map[string]*flight
}

// flight is one load in progress; concurrent misses of a key wait for it
// instead of all querying the database when an entry expires under load.
type flight struct {
	done   chan struct{}
	val    any
	err    error
	global uint64
	gens   []uint64
}

type cacheEntry struct {
	val     any
	expires time.Time
	global  uint64
	deps    []string
	gens    []uint64
}

const cacheMaxEntries = 50_000

func newReadCache(ttl time.Duration) *readCache {
	return &readCache{ttl: ttl, gens: map[string]*atomic.Uint64{}, flights: map[string]*flight{}}
}

func (c *readCache) gen(table string) *atomic.Uint64 {
	c.mu.RLock()
	g := c.gens[table]
	c.mu.RUnlock()
	if g != nil {
		return g
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if g = c.gens[table]; g == nil {
		g = new(atomic.Uint64)
		c.gens[table] = g
	}
	return g
}

func (c *readCache) bump(table string) {
	if table == "" {
		c.global.Add(1)
		return
	}
	c.gen(table).Add(1)
}

func (c *readCache) get(key string) (any, bool) {
	v, ok := c.entries.Load(key)
	if !ok {
		return nil, false
	}
	e := v.(*cacheEntry)
	if time.Now().After(e.expires) || e.global != c.global.Load() {
		return nil, false
	}
	for i, d := range e.deps {
		if c.gen(d).Load() != e.gens[i] {
			return nil, false
		}
	}
	return e.val, true
}

// snapshot reads the generations BEFORE the query runs, so a write that
// lands during the query invalidates the entry it produces.
func (c *readCache) snapshot(deps []string) (uint64, []uint64) {
	gens := make([]uint64, len(deps))
	for i, d := range deps {
		gens[i] = c.gen(d).Load()
	}
	return c.global.Load(), gens
}

func (c *readCache) put(key string, val any, global uint64, deps []string, gens []uint64) {
	if c.size.Load() > cacheMaxEntries {
		c.entries.Clear()
		c.size.Store(0)
	}
	if _, loaded := c.entries.Swap(key, &cacheEntry{val: val, expires: time.Now().Add(c.ttl), global: global, deps: deps, gens: gens}); !loaded {
		c.size.Add(1)
	}
}

// cached runs load unless a valid entry exists. Only successful results are kept.
func cached[T any](c *readCache, key string, deps []string, load func() (T, error)) (T, error) {
	if c == nil {
		return load()
	}
	if v, ok := c.get(key); ok {
		return v.(T), nil
	}
	g, gens := c.snapshot(deps)
	c.flightMu.Lock()
	// Join a load in progress only if no write happened since it started:
	// a caller that just wrote must never get what was read before its write.
	if f, ok := c.flights[key]; ok && f.global == g && slices.Equal(f.gens, gens) {
		c.flightMu.Unlock()
		<-f.done
		if f.err != nil {
			return *new(T), f.err
		}
		return f.val.(T), nil
	}
	f := &flight{done: make(chan struct{}), global: g, gens: gens}
	c.flights[key] = f
	c.flightMu.Unlock()

	v, err := load()
	if err == nil {
		c.put(key, v, g, deps, gens)
	}
	f.val, f.err = v, err
	c.flightMu.Lock()
	if c.flights[key] == f {
		delete(c.flights, key)
	}
	c.flightMu.Unlock()
	close(f.done)
	return v, err
}

// install registers the write hooks on db.
func (c *readCache) install(db *gorm.DB) {
	hook := func(tx *gorm.DB) {
		if tx.Error != nil {
			return
		}
		c.bump(tx.Statement.Table)
	}
	cb := db.Callback()
	_ = cb.Create().After("gorm:create").Register("claw:cache_create", hook)
	_ = cb.Update().After("gorm:update").Register("claw:cache_update", hook)
	_ = cb.Delete().After("gorm:delete").Register("claw:cache_delete", hook)
	_ = cb.Raw().After("gorm:raw").Register("claw:cache_raw", func(tx *gorm.DB) {
		if tx.Error == nil {
			c.bump("") // raw SQL: the table is not known, drop everything
		}
	})
}
