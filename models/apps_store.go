package models

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// lockForUpdate locks the selected rows on PostgreSQL. SQLite needs nothing: the store opens
// its transactions with BEGIN IMMEDIATE, so writers are already serialized.
func lockForUpdate(tx *gorm.DB) *gorm.DB {
	if DialectOf(tx) == Postgres {
		return tx.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return tx
}

// lockedApp reads an app row for update inside tx; a missing app is ErrNotFound.
func lockedApp(tx *gorm.DB, id uint) (*App, error) {
	return first[App](lockForUpdate(tx), fmt.Sprintf("read app %d", id), id)
}

// betterPlan names the cheapest active plan whose cap (read by get) is above limit.
func betterPlan(tx *gorm.DB, limit int64, get func(Plan) int64) string {
	var ps []Plan
	if err := tx.Where("active = ?", true).Order("sort, key").Find(&ps).Error; err != nil {
		return ""
	}
	for _, p := range ps {
		if get(p) > limit {
			return p.Name
		}
	}
	return ""
}

// enqueueApp bumps the app's generation and raises its job to it. It must run inside the
// transaction of the change, so the outbox can never miss a committed change. The UPDATE also
// takes the app's row lock, which orders concurrent changes of one app: a later commit always
// carries a higher generation.
func enqueueApp(tx *gorm.DB, appID uint, kind string) (int64, error) {
	res := tx.Exec(`UPDATE apps SET generation = generation + 1,
		sync_state = CASE WHEN sync_state = ? THEN sync_state ELSE ? END, updated_at = ? WHERE id = ?`,
		SyncDeleting, SyncPending, time.Now().UTC(), appID)
	if res.Error != nil {
		return 0, fmt.Errorf("store: unable to bump app %d: %w", appID, res.Error)
	}
	if res.RowsAffected == 0 {
		return 0, ErrNotFound
	}
	var gen int64
	if err := tx.Raw(`SELECT generation FROM apps WHERE id = ?`, appID).Scan(&gen).Error; err != nil {
		return 0, fmt.Errorf("store: unable to read app %d generation: %w", appID, err)
	}
	now := time.Now().UTC()
	id := appID
	job := SyncJob{Kind: kind, Target: AppJobTarget(appID), AppID: &id, DesiredGen: gen, NextAt: now, UpdatedAt: now}
	err := tx.Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "target"}},
		DoUpdates: clause.Assignments(map[string]any{
			"kind": kind, "desired_gen": gen, "next_at": now, "attempts": 0, "permanent": false, "updated_at": now,
		}),
	}).Create(&job).Error
	if err != nil {
		return 0, fmt.Errorf("store: unable to enqueue app %d: %w", appID, err)
	}
	return gen, nil
}

// EnqueueApp raises the app's job inside tx, for other packages' changes the edge must see
// (routes, egress, consumer keys). It returns ErrAppBusy for an app being deleted.
func EnqueueApp(tx *gorm.DB, appID uint) (int64, error) {
	var state string
	if err := tx.Raw(`SELECT sync_state FROM apps WHERE id = ?`, appID).Scan(&state).Error; err != nil {
		return 0, fmt.Errorf("store: unable to read app %d: %w", appID, err)
	}
	if state == SyncDeleting {
		return 0, ErrAppBusy
	}
	return enqueueApp(tx, appID, JobApp)
}

// enqueueTenantApps raises the job of every app of a tenant (plan change, suspension), inside
// the caller's transaction.
func enqueueTenantApps(ctx context.Context, tx *gorm.DB, tenantID uint) error {
	var ids []uint
	if err := tx.WithContext(ctx).Model(&App{}).Where("tenant_id = ? AND sync_state <> ?", tenantID, SyncDeleting).
		Order("id").Pluck("id", &ids).Error; err != nil {
		return fmt.Errorf("store: unable to list apps of tenant %d: %w", tenantID, err)
	}
	for _, id := range ids {
		if _, err := enqueueApp(tx.WithContext(ctx), id, JobApp); err != nil {
			return err
		}
	}
	return nil
}

// CreateApp creates an app and enqueues its first config document. The plan's app cap is
// checked under the tenant's row lock, so concurrent creates cannot overshoot it.
func (s *Store) CreateApp(ctx context.Context, tenant *Tenant, slug, name string) (*App, error) {
	if err := ValidateAppSlug(slug); err != nil {
		if IsReservedSlug(slug) {
			return nil, errors.Join(ErrReservedSlug, err)
		}
		return nil, err
	}
	name, err := ValidateAppName(name)
	if err != nil {
		return nil, err
	}
	var a App
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var t Tenant
		if err := lockForUpdate(tx).First(&t, tenant.ID).Error; err != nil {
			return fmt.Errorf("store: unable to read tenant %d: %w", tenant.ID, err)
		}
		var p Plan
		if err := tx.Where("key = ?", t.PlanKey).First(&p).Error; err != nil {
			return fmt.Errorf("store: unable to read plan %s: %w", t.PlanKey, err)
		}
		var n int64
		if err := tx.Model(&App{}).Where("tenant_id = ? AND sync_state <> ?", t.ID, SyncDeleting).Count(&n).Error; err != nil {
			return fmt.Errorf("store: unable to count apps: %w", err)
		}
		if n >= int64(p.MaxApps) {
			return &PlanLimitError{What: "apps", Limit: int64(p.MaxApps), Plan: p.Name,
				BetterPlan: betterPlan(tx, int64(p.MaxApps), func(q Plan) int64 { return int64(q.MaxApps) })}
		}
		a = App{TenantID: t.ID, Slug: slug, Name: name, ScriptName: ScriptName(slug), Status: AppActive, SyncState: SyncPending}
		if err := tx.Create(&a).Error; err != nil {
			if isUniqueViolation(err) {
				return ErrSlugTaken
			}
			return fmt.Errorf("store: unable to create app %s: %w", slug, err)
		}
		gen, err := enqueueApp(tx, a.ID, JobApp)
		a.Generation = gen
		return err
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Apps returns a tenant's apps by slug. It is read on every dashboard view,
// so it goes through the read cache; callers get their own copy of the slice.
func (s *Store) Apps(ctx context.Context, tenantID uint) ([]App, error) {
	as, err := cached(s.cache, fmt.Sprintf("apps:%d", tenantID), []string{"apps"}, func() ([]App, error) { return s.apps(ctx, tenantID) })
	return append([]App(nil), as...), err
}

func (s *Store) apps(ctx context.Context, tenantID uint) ([]App, error) {
	var as []App
	if err := s.db.WithContext(ctx).Where("tenant_id = ?", tenantID).Order("slug").Find(&as).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list apps of tenant %d: %w", tenantID, err)
	}
	return as, nil
}

// AppBySlug returns a tenant's app; another tenant's app is ErrNotFound.
func (s *Store) AppBySlug(ctx context.Context, tenantID uint, slug string) (*App, error) {
	return first[App](s.db.WithContext(ctx).Where("tenant_id = ? AND slug = ?", tenantID, slug), fmt.Sprintf("read app %s", slug))
}

// AppByID returns any app (syncer, admin).
func (s *Store) AppByID(ctx context.Context, id uint) (*App, error) {
	return first[App](s.db.WithContext(ctx), fmt.Sprintf("read app %d", id), id)
}

// RenameApp changes the display name only; the edge does not see it.
func (s *Store) RenameApp(ctx context.Context, app *App, name string) error {
	name, err := ValidateAppName(name)
	if err != nil {
		return err
	}
	res := s.db.WithContext(ctx).Model(&App{}).Where("id = ?", app.ID).Updates(map[string]any{"name": name, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return fmt.Errorf("store: unable to rename app %d: %w", app.ID, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrNotFound
	}
	app.Name = name
	return nil
}

// changeApp runs change on the locked, live app row and enqueues its job in the same
// transaction; app is refreshed from the database afterwards.
func (s *Store) changeApp(ctx context.Context, app *App, change func(tx *gorm.DB, cur *App) error) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := lockedApp(tx, app.ID)
		if err != nil {
			return err
		}
		if cur.SyncState == SyncDeleting {
			return ErrAppBusy
		}
		if err := change(tx, cur); err != nil {
			return err
		}
		_, err = enqueueApp(tx, cur.ID, JobApp)
		return err
	})
	if err != nil {
		return err
	}
	fresh, err := s.AppByID(ctx, app.ID)
	if err != nil {
		return err
	}
	*app = *fresh
	return nil
}

// SetAppKV switches the app's KV store on or off. Off removes the binding but keeps the
// namespace and its data, so switching back on finds them again; DeleteApp removes it.
func (s *Store) SetAppKV(ctx context.Context, app *App, on bool) error {
	return s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		return tx.Model(&App{}).Where("id = ?", cur.ID).Update("kv_enabled", on).Error
	})
}

// DeleteApp marks the app deleting and enqueues the removal of its script, config document and
// KV namespace; the rows go when that job succeeds. A deploy still pending is overtaken: the job
// reads the app's current state, sees it deleting and removes instead of uploading, and its
// pending deployments end failed ("app deleted").
func (s *Store) DeleteApp(ctx context.Context, app *App) error {
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := lockedApp(tx, app.ID)
		if err != nil {
			return err
		}
		if cur.SyncState == SyncDeleting {
			return nil // already on its way out
		}
		if err := tx.Model(&App{}).Where("id = ?", cur.ID).Updates(map[string]any{"sync_state": SyncDeleting, "sync_error": ""}).Error; err != nil {
			return fmt.Errorf("store: unable to mark app %d deleting: %w", cur.ID, err)
		}
		_, err = enqueueApp(tx, cur.ID, JobAppDelete)
		return err
	})
	if err != nil {
		return err
	}
	app.SyncState = SyncDeleting
	return nil
}

// purgeApp removes an app's rows after the edge forgot it (FinishAppRemoval).
func purgeApp(tx *gorm.DB, appID uint) error {
	now := time.Now().UTC()
	if err := tx.Model(&Deployment{}).Where("app_id = ? AND status = ?", appID, DeployPending).
		Updates(map[string]any{"status": DeployFailed, "error": "app deleted", "finished_at": now}).Error; err != nil {
		return err
	}
	for _, m := range []any{&Deployment{}, &Version{}, &Var{}, &Route{}, &EgressRule{}, &APIKey{}} {
		if err := tx.Where("app_id = ?", appID).Delete(m).Error; err != nil {
			return fmt.Errorf("store: unable to purge app %d: %w", appID, err)
		}
	}
	if err := tx.Where("target = ?", AppJobTarget(appID)).Delete(&SyncJob{}).Error; err != nil {
		return fmt.Errorf("store: unable to purge app %d job: %w", appID, err)
	}
	return tx.Delete(&App{}, appID).Error
}

// --- versions ---

// versionListColumns leave out the bundle and the sources, which lists never show.
var versionListColumns = []string{"id", "app_id", "number", "main_module", "bundle_name", "sha256", "size", "author_user_id", "message",
	"review_state", "review_reason", "reviewed_by", "reviewed_at", "scan_matches", "created_at"}

// CreateVersion stores an immutable snapshot. The plan's script size cap is checked here too,
// so no caller can store what the plan does not allow.
func (s *Store) CreateVersion(ctx context.Context, app *App, authorID uint, nv NewVersion) (*Version, error) {
	if len(nv.Bundle) == 0 || nv.MainModule == "" {
		return nil, errors.New("store: a version needs a main module and a bundle")
	}
	sum := sha256.Sum256(nv.Bundle)
	digest := hex.EncodeToString(sum[:])
	if nv.SHA256 != "" && nv.SHA256 != digest {
		return nil, fmt.Errorf("store: version sha256 %s does not match its bundle (%s)", nv.SHA256, digest)
	}
	if nv.BundleName == "" {
		nv.BundleName = "worker.js"
	}
	// Moderation: the scan runs before the transaction (tens of milliseconds per MiB); a block
	// rule refuses the save, a flag rule makes the version wait for review (moderation.go).
	matches, block, err := s.ScanCode(ctx, nv.Sources, nv.BundleName, nv.Bundle)
	if err != nil {
		return nil, err
	}
	if block != nil {
		return nil, &BlockedError{Rule: block.Name, Message: block.Message, Matches: matches}
	}
	var v Version
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cur, err := lockedApp(tx, app.ID)
		if err != nil {
			return err
		}
		if cur.SyncState == SyncDeleting {
			return ErrAppBusy
		}
		var p Plan
		if err := tx.Raw(`SELECT plans.* FROM plans JOIN tenants ON tenants.plan_key = plans.key WHERE tenants.id = ?`, cur.TenantID).Scan(&p).Error; err != nil {
			return fmt.Errorf("store: unable to read plan of tenant %d: %w", cur.TenantID, err)
		}
		if p.Key != "" && int64(len(nv.Bundle)) > p.MaxScriptBytes {
			return &PlanLimitError{What: "script bytes", Limit: p.MaxScriptBytes, Plan: p.Name,
				BetterPlan: betterPlan(tx, p.MaxScriptBytes, func(q Plan) int64 { return q.MaxScriptBytes })}
		}
		var tenantPolicy string
		if err := tx.Raw(`SELECT review_policy FROM tenants WHERE id = ?`, cur.TenantID).Scan(&tenantPolicy).Error; err != nil {
			return fmt.Errorf("store: unable to read review policy of tenant %d: %w", cur.TenantID, err)
		}
		wait, err := needsApproval(tx, cur.TenantID, reviewPolicy(tenantPolicy, p.ReviewPolicy))
		if err != nil {
			return err
		}
		var max *int
		if err := tx.Raw(`SELECT MAX(number) FROM versions WHERE app_id = ?`, cur.ID).Scan(&max).Error; err != nil {
			return fmt.Errorf("store: unable to number version: %w", err)
		}
		n := 1
		if max != nil {
			n = *max + 1
		}
		v = Version{AppID: cur.ID, Number: n, MainModule: nv.MainModule, Sources: nv.Sources, Bundle: nv.Bundle,
			BundleName: nv.BundleName, SourceMap: nv.SourceMap, SHA256: digest, Size: int64(len(nv.Bundle)), AuthorUserID: authorID, Message: nv.Message}
		if v.Sources == nil {
			v.Sources = map[string]string{}
		}
		v.ScanMatches = matches
		if wait || len(matches) > 0 {
			v.ReviewState = ReviewPending
		}
		if err := tx.Create(&v).Error; err != nil {
			return fmt.Errorf("store: unable to create version: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Versions returns an app's versions newest first, without bundles and sources.
func (s *Store) Versions(ctx context.Context, appID uint) ([]Version, error) {
	var vs []Version
	if err := s.db.WithContext(ctx).Select(versionListColumns).Where("app_id = ?", appID).Order("number DESC").Find(&vs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list versions of app %d: %w", appID, err)
	}
	return vs, nil
}

// VersionByID returns one version with its bundle and sources; another app's is ErrNotFound.
func (s *Store) VersionByID(ctx context.Context, appID, id uint) (*Version, error) {
	return first[Version](s.db.WithContext(ctx).Where("app_id = ? AND id = ?", appID, id), fmt.Sprintf("read version %d", id))
}

// VersionSources returns one version with its sources but without the bundle
// (up to 10 MiB), for the editor and diffs; another app's is ErrNotFound.
func (s *Store) VersionSources(ctx context.Context, appID, id uint) (*Version, error) {
	return first[Version](s.db.WithContext(ctx).Omit("bundle").Where("app_id = ? AND id = ?", appID, id), fmt.Sprintf("read version %d", id))
}

// VersionNumber returns the per-app number of a version (v1, v2, …) without
// loading its code; the deployment status poll reads it every second.
func (s *Store) VersionNumber(ctx context.Context, appID, id uint) (int, error) {
	var n []int
	if err := s.db.WithContext(ctx).Model(&Version{}).Where("app_id = ? AND id = ?", appID, id).Pluck("number", &n).Error; err != nil {
		return 0, fmt.Errorf("store: unable to read version %d: %w", id, err)
	}
	if len(n) == 0 {
		return 0, ErrNotFound
	}
	return n[0], nil
}

// --- deployments ---

// Deploy makes versionID (0: the newest) the app's desired version, records a Deployment and
// raises the job, all in one transaction.
func (s *Store) Deploy(ctx context.Context, app *App, versionID uint) (*Deployment, error) {
	var d Deployment
	err := s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		if cur.TakenDown() {
			return &TakenDownError{Reason: cur.ModerationReason}
		}
		q := tx.Select("id", "number", "review_state", "review_reason").Where("app_id = ?", cur.ID)
		if versionID != 0 {
			q = q.Where("id = ?", versionID)
		}
		v, err := first[Version](q.Order("number DESC"), fmt.Sprintf("read version %d", versionID))
		if err != nil {
			return err
		}
		// Moderation is enforced here, where every deploy passes (portal, API, rollback).
		if v.ReviewState == ReviewPending || v.ReviewState == ReviewRejected {
			return &ReviewError{Number: v.Number, State: v.ReviewState, Reason: v.ReviewReason}
		}
		if err := tx.Model(&App{}).Where("id = ?", cur.ID).Update("desired_version_id", v.ID).Error; err != nil {
			return fmt.Errorf("store: unable to deploy version %d: %w", v.ID, err)
		}
		if err := endCPUStop(tx, cur); err != nil {
			return err
		}
		// The generation this deployment waits for is the one enqueueApp is about to write.
		d = Deployment{AppID: cur.ID, VersionID: v.ID, Generation: cur.Generation + 1, Status: DeployPending}
		if err := tx.Create(&d).Error; err != nil {
			return fmt.Errorf("store: unable to record deployment: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Deployments returns an app's newest deployments.
func (s *Store) Deployments(ctx context.Context, appID uint, limit int) ([]Deployment, error) {
	if limit <= 0 {
		limit = 50
	}
	var ds []Deployment
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").Limit(limit).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list deployments of app %d: %w", appID, err)
	}
	return ds, nil
}

// DeploymentByID returns one deployment; another app's is ErrNotFound.
func (s *Store) DeploymentByID(ctx context.Context, appID, id uint) (*Deployment, error) {
	return first[Deployment](s.db.WithContext(ctx).Where("app_id = ? AND id = ?", appID, id), fmt.Sprintf("read deployment %d", id))
}

// --- vars ---

func varAAD(appID uint, name string) []byte {
	return fmt.Appendf(nil, "402claw var %d %s", appID, name)
}

// Vars returns an app's vars by name, still encrypted.
func (s *Store) Vars(ctx context.Context, appID uint) ([]Var, error) {
	var vs []Var
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("name").Find(&vs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list vars of app %d: %w", appID, err)
	}
	return vs, nil
}

// DecryptVars opens vars for upload.
func DecryptVars(key []byte, vs []Var) ([]DecryptedVar, error) {
	out := make([]DecryptedVar, len(vs))
	for i, v := range vs {
		plain, err := OpenSecret(key, v.Ciphertext, varAAD(v.AppID, v.Name))
		if err != nil {
			return nil, fmt.Errorf("store: unable to decrypt var %s of app %d: %w", v.Name, v.AppID, err)
		}
		out[i] = DecryptedVar{Name: v.Name, Value: string(plain), Secret: v.Secret}
	}
	return out, nil
}

// maxVarBytes is Cloudflare's limit on one environment variable.
const maxVarBytes = 5 << 10

// SetVar creates or replaces a var and redeploys.
func (s *Store) SetVar(ctx context.Context, app *App, name, value string, secret bool, key []byte) error {
	if err := ValidateVarName(name); err != nil {
		return err
	}
	if len(value) > maxVarBytes {
		return fieldErr("value", "Use at most 5 KiB.")
	}
	sealed, err := SealSecret(key, []byte(value), varAAD(app.ID, name))
	if err != nil {
		return fmt.Errorf("store: unable to encrypt var %s: %w", name, err)
	}
	return s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		v := Var{AppID: cur.ID, Name: name, Ciphertext: sealed, Secret: secret, UpdatedAt: time.Now().UTC()}
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "app_id"}, {Name: "name"}},
			DoUpdates: clause.AssignmentColumns([]string{"ciphertext", "secret", "updated_at"}),
		}).Create(&v).Error
		if err != nil {
			return fmt.Errorf("store: unable to set var %s: %w", name, err)
		}
		return nil
	})
}

// DeleteVar removes a var and redeploys; a missing var is ErrNotFound.
func (s *Store) DeleteVar(ctx context.Context, app *App, name string) error {
	return s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		res := tx.Where("app_id = ? AND name = ?", cur.ID, name).Delete(&Var{})
		if res.Error != nil {
			return fmt.Errorf("store: unable to delete var %s: %w", name, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// --- what the edge gets ---

// EdgeState is everything the builders need to produce an app's script and config document.
type EdgeState struct {
	App     App
	Tenant  Tenant
	Plan    Plan
	Version *Version // the desired version with its bundle; nil before the first deploy
	Vars    []Var
	Routes  []Route
	Egress  []EgressRule
	Keys    []APIKey // live keys only
}

// AppEdgeState reads an app's current state. The app row is read first: everything read after
// it is at least as new as its generation, so pushing it and marking that generation done never
// claims more than was pushed.
func (s *Store) AppEdgeState(ctx context.Context, appID uint) (*EdgeState, error) {
	db := s.db.WithContext(ctx)
	var st EdgeState
	app, err := first[App](db, fmt.Sprintf("read app %d", appID), appID)
	if err != nil {
		return nil, err
	}
	st.App = *app
	if err := db.First(&st.Tenant, st.App.TenantID).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read tenant %d: %w", st.App.TenantID, err)
	}
	if err := db.Where("key = ?", st.Tenant.PlanKey).First(&st.Plan).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read plan %s: %w", st.Tenant.PlanKey, err)
	}
	if st.App.DesiredVersionID != nil {
		var v Version
		if err := db.First(&v, *st.App.DesiredVersionID).Error; err != nil {
			return nil, fmt.Errorf("store: unable to read version %d: %w", *st.App.DesiredVersionID, err)
		}
		st.Version = &v
	}
	if err := db.Where("app_id = ?", appID).Order("name").Find(&st.Vars).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read vars of app %d: %w", appID, err)
	}
	if err := db.Where("app_id = ?", appID).Order("position, id").Find(&st.Routes).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read routes of app %d: %w", appID, err)
	}
	if err := db.Where("app_id = ?", appID).Order("position, id").Find(&st.Egress).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read egress of app %d: %w", appID, err)
	}
	if err := db.Where("app_id = ? AND revoked_at IS NULL", appID).Order("id").Find(&st.Keys).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read keys of app %d: %w", appID, err)
	}
	return &st, nil
}

// EdgeStates reads every app that is not being deleted, for the reconciler, in a few queries.
// Versions come without bundles and vars are left out: the reconciler compares digests.
func (s *Store) EdgeStates(ctx context.Context) ([]EdgeState, error) {
	db := s.db.WithContext(ctx)
	var apps []App
	if err := db.Where("sync_state <> ?", SyncDeleting).Order("id").Find(&apps).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list apps: %w", err)
	}
	var tenants []Tenant
	if err := db.Find(&tenants).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list tenants: %w", err)
	}
	var plans []Plan
	if err := db.Find(&plans).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list plans: %w", err)
	}
	var versions []Version
	if err := db.Select("versions.id, versions.app_id, versions.number, versions.sha256, versions.size").
		Joins("JOIN apps ON apps.desired_version_id = versions.id").Find(&versions).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list versions: %w", err)
	}
	var routes []Route
	if err := db.Order("app_id, position, id").Find(&routes).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list routes: %w", err)
	}
	var egress []EgressRule
	if err := db.Order("app_id, position, id").Find(&egress).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list egress rules: %w", err)
	}
	var keys []APIKey
	if err := db.Where("revoked_at IS NULL").Order("app_id, id").Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list consumer keys: %w", err)
	}
	tenantByID := map[uint]Tenant{}
	for _, t := range tenants {
		tenantByID[t.ID] = t
	}
	planByKey := map[string]Plan{}
	for _, p := range plans {
		planByKey[p.Key] = p
	}
	versionByID := map[uint]*Version{}
	for i := range versions {
		versionByID[versions[i].ID] = &versions[i]
	}
	routesOf, egressOf, keysOf := map[uint][]Route{}, map[uint][]EgressRule{}, map[uint][]APIKey{}
	for _, r := range routes {
		routesOf[r.AppID] = append(routesOf[r.AppID], r)
	}
	for _, e := range egress {
		egressOf[e.AppID] = append(egressOf[e.AppID], e)
	}
	for _, k := range keys {
		keysOf[k.AppID] = append(keysOf[k.AppID], k)
	}
	out := make([]EdgeState, len(apps))
	for i, a := range apps {
		t := tenantByID[a.TenantID]
		st := EdgeState{App: a, Tenant: t, Plan: planByKey[t.PlanKey], Routes: routesOf[a.ID], Egress: egressOf[a.ID], Keys: keysOf[a.ID]}
		if a.DesiredVersionID != nil {
			st.Version = versionByID[*a.DesiredVersionID]
		}
		out[i] = st
	}
	return out, nil
}

// SyncJobs returns jobs that are pending or failed, for the admin page.
func (s *Store) SyncJobs(ctx context.Context, failingOnly bool, limit int) ([]SyncJob, error) {
	q := s.db.WithContext(ctx).Where("desired_gen > done_gen")
	if failingOnly {
		q = q.Where("last_error <> ''")
	}
	var js []SyncJob
	if err := q.Order("updated_at DESC").Limit(limit).Find(&js).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list sync jobs: %w", err)
	}
	return js, nil
}
