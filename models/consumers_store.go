package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// SetAppListing stores an app's listing (validated by ValidateListing) and writes it through to
// the edge: the bazaar metadata of its 402 challenges carries the tags and icon.
func (s *Store) SetAppListing(ctx context.Context, app *App, l AppListing) error {
	return s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		res := tx.Model(&App{}).Where("id = ?", cur.ID).Updates(map[string]any{
			"description": l.Description, "tags": l.Tags, "icon_url": l.IconURL, "listed": l.Listed, "updated_at": time.Now().UTC(),
		})
		if res.Error != nil {
			return fmt.Errorf("store: unable to save the listing of app %d: %w", cur.ID, res.Error)
		}
		return nil
	})
}

// SetRouteDiscovery replaces the discovery data of route id (validated by ValidateDiscovery).
func (s *Store) SetRouteDiscovery(ctx context.Context, app *App, id uint, d RouteDiscovery) ([]Route, error) {
	return s.EditRoutes(ctx, app, func(cur []Route) ([]Route, error) {
		for i := range cur {
			if cur[i].ID == id {
				cur[i].RouteDiscovery = d
				return cur, nil
			}
		}
		return nil, ErrNotFound
	})
}

// SetRouteLimits replaces the per-caller limits of route id (validated by ValidateLimits).
func (s *Store) SetRouteLimits(ctx context.Context, app *App, id uint, l RouteLimits) ([]Route, error) {
	return s.EditRoutes(ctx, app, func(cur []Route) ([]Route, error) {
		for i := range cur {
			if cur[i].ID == id {
				cur[i].RouteLimits = l
				return cur, nil
			}
		}
		return nil, ErrNotFound
	})
}

// MaxCatalogPage is the largest page GET /discovery/resources answers.
const MaxCatalogPage = 100

// CatalogQuery filters the public catalog. Type is the bazaar resource type ("http" is the only
// one this platform serves); Network a CAIP-2 id; Text matches names, descriptions, tags and paths.
type CatalogQuery struct {
	Type, Network, Text string
	Limit, Offset       int
}

// CatalogEntry is one priced route of a listed app.
type CatalogEntry struct {
	App   App
	Route Route
}

// publicApps restricts q to apps anyone may see: listed, active, deployed, of an active tenant.
func publicApps(q *gorm.DB) *gorm.DB {
	return q.Joins("JOIN tenants ON tenants.id = apps.tenant_id").
		Where("apps.listed = ? AND apps.status = ? AND tenants.status = ? AND apps.deployed_version_id IS NOT NULL AND apps.sync_state <> ?",
			true, AppActive, TenantActive, SyncDeleting)
}

// PublicApp returns a listed, public app by slug with its routes, or ErrNotFound (also for an
// app that is unlisted, paused, undeployed or of a suspended tenant: the docs page then says
// nothing about it).
func (s *Store) PublicApp(ctx context.Context, slug string) (*App, []Route, error) {
	a, err := take[App](publicApps(s.db.WithContext(ctx).Model(&App{})).Select("apps.*").Where("apps.slug = ?", slug),
		fmt.Sprintf("read public app %q", slug))
	if err != nil {
		return nil, nil, err
	}
	routes, err := s.Routes(ctx, a.ID)
	if err != nil {
		return nil, nil, err
	}
	return a, routes, nil
}

// PublicApps lists every listed, public app by name (the platform's catalog page and llms.txt).
func (s *Store) PublicApps(ctx context.Context, limit int) ([]App, error) {
	var out []App
	if err := publicApps(s.db.WithContext(ctx).Model(&App{})).Select("apps.*").Order("apps.name, apps.id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list public apps: %w", err)
	}
	return out, nil
}
