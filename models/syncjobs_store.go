package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// The sync engine's statements: claiming jobs under a lease, recording their outcome, and the
// reads the reconciler compares with the edge. Every write that finishes a job checks that
// the caller still holds the job's lease (locked_by = owner), so an older run can never
// overwrite the result of a newer one.

// ErrLeaseLost means another worker took the job over after the caller's lease ran out; that
// worker redoes the job from the current state, so the caller's result is dropped.
var ErrLeaseLost = errors.New("sync: lease lost")

// Lease names who holds sync jobs and until when.
type Lease struct {
	Owner string
	Until time.Time
}

// ClaimSyncJob takes the lease of one pending job with a compare-and-set UPDATE, which is
// atomic on both databases. It reports false when the job is not pending or someone holds it.
func (s *Store) ClaimSyncJob(ctx context.Context, target string, l Lease, now time.Time) (*SyncJob, bool, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE sync_jobs SET locked_by = ?, locked_until = ?
		WHERE target = ? AND desired_gen > done_gen AND permanent = ? AND (locked_until IS NULL OR locked_until < ?)`,
		l.Owner, l.Until, target, false, now)
	if res.Error != nil {
		return nil, false, fmt.Errorf("store: unable to claim %s: %w", target, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, false, nil
	}
	var j SyncJob
	if err := s.db.WithContext(ctx).Where("target = ?", target).First(&j).Error; err != nil {
		return nil, false, fmt.Errorf("store: unable to read job %s: %w", target, err)
	}
	return &j, true, nil
}

// ClaimDueSyncJobs takes up to n due jobs. PostgreSQL skips rows another replica is claiming at
// the same moment (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time, so a select
// followed by compare-and-set claims is enough there.
func (s *Store) ClaimDueSyncJobs(ctx context.Context, l Lease, now time.Time, n int) ([]SyncJob, error) {
	db := s.db.WithContext(ctx)
	if DialectOf(s.db) == Postgres {
		var jobs []SyncJob
		err := db.Raw(`UPDATE sync_jobs SET locked_by = ?, locked_until = ? WHERE id IN (
			SELECT id FROM sync_jobs WHERE desired_gen > done_gen AND permanent = false AND next_at <= ?
			AND (locked_until IS NULL OR locked_until < ?) ORDER BY next_at LIMIT ? FOR UPDATE SKIP LOCKED)
			RETURNING *`, l.Owner, l.Until, now, now, n).Scan(&jobs).Error
		if err != nil {
			return nil, fmt.Errorf("store: unable to claim due jobs: %w", err)
		}
		return jobs, nil
	}
	var targets []string
	if err := db.Model(&SyncJob{}).Where("desired_gen > done_gen AND permanent = ? AND next_at <= ? AND (locked_until IS NULL OR locked_until < ?)", false, now, now).
		Order("next_at").Limit(n).Pluck("target", &targets).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list due jobs: %w", err)
	}
	var jobs []SyncJob
	for _, t := range targets {
		j, ok, err := s.ClaimSyncJob(ctx, t, l, now)
		if err != nil {
			return jobs, err
		}
		if ok {
			jobs = append(jobs, *j)
		}
	}
	return jobs, nil
}

// ReleaseSyncLeases frees every job leased by owner and reports how many there were.
func (s *Store) ReleaseSyncLeases(ctx context.Context, owner string) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE sync_jobs SET locked_by = '', locked_until = NULL WHERE locked_by = ?`, owner)
	if res.Error != nil {
		return 0, fmt.Errorf("store: unable to release the leases of %s: %w", owner, res.Error)
	}
	return res.RowsAffected, nil
}

// DropSyncJob deletes a job the caller holds whose app is gone already.
func (s *Store) DropSyncJob(ctx context.Context, jobID uint, owner string) error {
	return s.db.WithContext(ctx).Where("id = ? AND locked_by = ?", jobID, owner).Delete(&SyncJob{}).Error
}

// SetAppKVNamespace records the KV namespace created for an app, unless one is recorded already.
func (s *Store) SetAppKVNamespace(ctx context.Context, appID uint, namespaceID string) error {
	if err := s.db.WithContext(ctx).Exec(`UPDATE apps SET kv_namespace_id = ? WHERE id = ? AND kv_namespace_id = ''`, namespaceID, appID).Error; err != nil {
		return fmt.Errorf("store: unable to save kv namespace of app %d: %w", appID, err)
	}
	return nil
}

// lockApp takes the app's row lock first in every transaction that also writes its job, the
// order enqueueApp uses (app, then job), so PostgreSQL never sees the two wait on each other.
func lockApp(tx *gorm.DB, appID uint) error {
	if DialectOf(tx) != Postgres {
		return nil // SQLite transactions start with BEGIN IMMEDIATE: one writer at a time
	}
	var id uint
	if err := tx.Raw(`SELECT id FROM apps WHERE id = ? FOR UPDATE`, appID).Scan(&id).Error; err != nil {
		return fmt.Errorf("store: unable to lock app %d: %w", appID, err)
	}
	return nil
}

// SyncedApp is what a successful run pushed to the edge.
type SyncedApp struct {
	AppID       uint
	Generation  int64 // the generation the run read
	VersionID   *uint // the deployed version, nil when the app has none
	Fingerprint string
}

// FinishSyncJob records a successful run of the job owner holds: the job is done up to the
// generation pushed, the app synced (unless a newer change is waiting) and its pending
// deployments up to that generation succeeded. It returns ErrLeaseLost when owner no longer
// holds the job.
func (s *Store) FinishSyncJob(ctx context.Context, jobID uint, owner string, a SyncedApp, now time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockApp(tx, a.AppID); err != nil {
			return err
		}
		gen := a.Generation
		res := tx.Exec(`UPDATE sync_jobs SET done_gen = CASE WHEN done_gen < ? THEN ? ELSE done_gen END,
			attempts = 0, last_error = '', permanent = ?, locked_by = '', locked_until = NULL, updated_at = ?
			WHERE id = ? AND locked_by = ?`, gen, gen, false, now, jobID, owner)
		if res.Error != nil {
			return fmt.Errorf("store: unable to finish sync job %d: %w", jobID, res.Error)
		}
		if res.RowsAffected == 0 {
			return ErrLeaseLost
		}
		var deployed any
		if a.VersionID != nil {
			deployed = *a.VersionID
		}
		if err := tx.Exec(`UPDATE apps SET synced_generation = ?, deployed_version_id = ?, script_fingerprint = ?,
			sync_state = CASE WHEN sync_state = ? THEN sync_state WHEN generation <= ? THEN ? ELSE ? END, sync_error = '', updated_at = ?
			WHERE id = ? AND synced_generation <= ?`,
			gen, deployed, a.Fingerprint, SyncDeleting, gen, SyncInSync, SyncPending, now, a.AppID, gen).Error; err != nil {
			return fmt.Errorf("store: unable to mark app %d synced: %w", a.AppID, err)
		}
		return tx.Exec(`UPDATE deployments SET status = ?, error = '', finished_at = ? WHERE app_id = ? AND generation <= ? AND status = ?`,
			DeploySucceeded, now, a.AppID, gen, DeployPending).Error
	})
}

// SyncFailure is a failed run of a job.
type SyncFailure struct {
	Message   string
	Permanent bool      // retrying cannot fix it
	NextAt    time.Time // when to retry
}

// FailSyncJob records a failed run of the job owner holds: backoff, the error text on the job,
// the app and its pending deployments. A permanent failure stops retries only if no newer
// change arrived while the job ran (that change may well be the fix). If the record cannot be
// written, the job is at least released so that it does not stay leased until the lease ends.
func (s *Store) FailSyncJob(ctx context.Context, j *SyncJob, owner string, f SyncFailure, now time.Time) error {
	gen := j.DesiredGen
	permanentSQL := "permanent = false"
	if f.Permanent {
		permanentSQL = "permanent = (desired_gen <= " + strconv.FormatInt(gen, 10) + ")"
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if j.AppID != nil {
			if err := lockApp(tx, *j.AppID); err != nil {
				return err
			}
		}
		res := tx.Exec(`UPDATE sync_jobs SET attempts = attempts + 1, next_at = ?, last_error = ?, `+permanentSQL+`,
			locked_by = '', locked_until = NULL, updated_at = ? WHERE id = ? AND locked_by = ?`, f.NextAt, f.Message, now, j.ID, owner)
		if res.Error != nil || res.RowsAffected == 0 || j.AppID == nil {
			return res.Error
		}
		state := SyncPending
		if f.Permanent {
			state = SyncFailed
		}
		if err := tx.Exec(`UPDATE apps SET sync_state = CASE WHEN sync_state = ? THEN sync_state ELSE ? END, sync_error = ? WHERE id = ?`,
			SyncDeleting, state, f.Message, *j.AppID).Error; err != nil {
			return err
		}
		if f.Permanent {
			return tx.Exec(`UPDATE deployments SET status = ?, error = ?, finished_at = ? WHERE app_id = ? AND generation <= ? AND status = ?`,
				DeployFailed, f.Message, now, *j.AppID, gen, DeployPending).Error
		}
		return tx.Exec(`UPDATE deployments SET error = ? WHERE app_id = ? AND status = ?`, f.Message, *j.AppID, DeployPending).Error
	})
	if err != nil {
		s.db.WithContext(ctx).Exec(`UPDATE sync_jobs SET locked_by = '', locked_until = NULL, next_at = ? WHERE id = ? AND locked_by = ?`, f.NextAt, j.ID, owner)
	}
	return err
}

// FinishAppRemoval removes the rows of an app the edge has forgotten, if owner still holds
// its job (ErrLeaseLost otherwise).
func (s *Store) FinishAppRemoval(ctx context.Context, jobID, appID uint, owner string, now time.Time) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockApp(tx, appID); err != nil {
			return err
		}
		res := tx.Exec(`UPDATE sync_jobs SET updated_at = ? WHERE id = ? AND locked_by = ?`, now, jobID, owner)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrLeaseLost
		}
		return purgeApp(tx, appID)
	})
}

// PendingSyncTargets lists the targets of jobs with a change not yet pushed.
func (s *Store) PendingSyncTargets(ctx context.Context) ([]string, error) {
	var targets []string
	if err := s.db.WithContext(ctx).Model(&SyncJob{}).Where("desired_gen > done_gen").Pluck("target", &targets).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list pending sync jobs: %w", err)
	}
	return targets, nil
}

// AppEdgeNames returns the script names and slugs of every app, deleting ones included: what
// the edge may legitimately hold.
func (s *Store) AppEdgeNames(ctx context.Context) (scripts, slugs []string, err error) {
	if err := s.db.WithContext(ctx).Model(&App{}).Pluck("script_name", &scripts).Error; err != nil {
		return nil, nil, fmt.Errorf("store: unable to list script names: %w", err)
	}
	if err := s.db.WithContext(ctx).Model(&App{}).Pluck("slug", &slugs).Error; err != nil {
		return nil, nil, fmt.Errorf("store: unable to list slugs: %w", err)
	}
	return scripts, slugs, nil
}

// ForgetScript clears the app's script fingerprint and raises its job, so the next run uploads
// the script again. It returns ErrAppBusy for an app being deleted.
func (s *Store) ForgetScript(ctx context.Context, appID uint) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE apps SET script_fingerprint = '' WHERE id = ?`, appID).Error; err != nil {
			return err
		}
		_, err := EnqueueApp(tx, appID)
		return err
	})
}

// AppGeneration is an app's current generation.
type AppGeneration struct {
	ID         uint
	Generation int64
}

// LeaseSyncedApps takes the job leases of those apps whose jobs are done and free, and returns
// the current generation of each app leased (apps being deleted left out). Release them with
// ReleaseSyncLeases(owner).
func (s *Store) LeaseSyncedApps(ctx context.Context, l Lease, now time.Time, appIDs []uint) ([]AppGeneration, error) {
	targets := make([]string, len(appIDs))
	for i, id := range appIDs {
		targets[i] = AppJobTarget(id)
	}
	if err := s.db.WithContext(ctx).Exec(`UPDATE sync_jobs SET locked_by = ?, locked_until = ?
		WHERE target IN ? AND desired_gen = done_gen AND (locked_until IS NULL OR locked_until < ?)`, l.Owner, l.Until, targets, now).Error; err != nil {
		return nil, fmt.Errorf("store: unable to lease apps: %w", err)
	}
	var current []AppGeneration
	if err := s.db.WithContext(ctx).Raw(`SELECT apps.id, apps.generation FROM apps JOIN sync_jobs ON sync_jobs.app_id = apps.id
		WHERE sync_jobs.locked_by = ? AND apps.id IN ? AND apps.sync_state <> ?`, l.Owner, appIDs, SyncDeleting).Scan(&current).Error; err != nil {
		return nil, fmt.Errorf("store: unable to re-read leased apps: %w", err)
	}
	return current, nil
}
