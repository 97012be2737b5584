// Package syncer writes database state through to the edge. Every change commits a SyncJob
// raise in its own transaction (models); the syncer runs those jobs — right away from the
// request path (RunJob) and in the background with backoff (Run) — and the reconciler compares
// the edge with the database and repairs drift (Reconcile).
//
// A job carries no payload: it reads the app's current state, pushes it and marks the
// generation it read as done. So a retried or duplicated run uploads the same thing, and a
// change made meanwhile simply leaves the job pending for one more run. Only the holder of a
// job's lease may write an app to the edge, which is what keeps an older generation from
// overwriting a newer one.
package syncer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers"
	"gorm.io/gorm"
)

// Options configure a Syncer.
type Options struct {
	Store     *models.Store
	CF        *workers.Cloudflare
	Namespace string // dispatch namespace of the user workers
	ConfigKV  string // id of the KV namespace the dispatcher reads
	Key       []byte // secret box key, for vars and the script fingerprint
	Logger    *slog.Logger
	// WorkerID names this process in lease columns; default host-pid-random. serve gives a
	// stable one (host and portal address), so that a restarted portal takes over at once the
	// jobs its previous life held (ReleaseOwnLeases) instead of waiting for the leases to end.
	WorkerID string
	Lease    time.Duration // how long a claimed job is ours; default 2 minutes
	Now      func() time.Time

	// Concurrency is how many jobs Run works on at once; default 4.
	Concurrency int
	// PollInterval is how often Run looks for due jobs when idle; default 1 s.
	PollInterval time.Duration
	// BackoffBase and BackoffMax bound the retry delay (defaults 1 s and 5 min).
	BackoffBase, BackoffMax time.Duration
	// ReconcileEvery makes Run reconcile periodically; 0 disables it.
	ReconcileEvery time.Duration
}

// Syncer runs sync jobs. It is safe for concurrent use.
type Syncer struct {
	o  Options
	db *gorm.DB
}

// New returns a Syncer with defaults filled in.
func New(o Options) *Syncer {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.WorkerID == "" {
		host, _ := os.Hostname()
		o.WorkerID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomID())
	}
	if o.Lease <= 0 {
		o.Lease = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 4
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = time.Second
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 5 * time.Minute
	}
	return &Syncer{o: o, db: o.Store.DB()}
}

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Syncer) now() time.Time { return s.o.Now().UTC() }

// errLeaseLost means another worker took the job over after our lease ran out; that worker
// redoes the job from the current state, so this run's result is dropped.
var errLeaseLost = errors.New("syncer: lease lost")

// permanentError is a failure retrying cannot fix (bad input rather than a bad moment).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// IsPermanent reports whether err is one retrying cannot fix: a 4xx from Cloudflare other than
// 404 (a namespace or script the job recreates), 408, 409 and 429, or a local build error.
func IsPermanent(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return true
	}
	var ae *workers.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusNotFound, http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
			return false
		}
		return ae.Status >= 400 && ae.Status < 500
	}
	return false
}

// Backoff is the delay before retry number attempt (1-based): exponential from base, capped,
// with "equal jitter" (half fixed, half random) so that replicas retrying together spread out.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + time.Duration(mrand.Int64N(int64(half)+1))
}

// --- claiming ---

// claimTarget takes the lease of one pending job with a compare-and-set UPDATE, which is
// atomic on both databases. It reports false when the job is not pending or someone holds it.
func (s *Syncer) claimTarget(ctx context.Context, target string) (*models.SyncJob, bool, error) {
	now := s.now()
	res := s.db.WithContext(ctx).Exec(`UPDATE sync_jobs SET locked_by = ?, locked_until = ?
		WHERE target = ? AND desired_gen > done_gen AND permanent = ? AND (locked_until IS NULL OR locked_until < ?)`,
		s.o.WorkerID, now.Add(s.o.Lease), target, false, now)
	if res.Error != nil {
		return nil, false, fmt.Errorf("syncer: unable to claim %s: %w", target, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, false, nil
	}
	var j models.SyncJob
	if err := s.db.WithContext(ctx).Where("target = ?", target).First(&j).Error; err != nil {
		return nil, false, fmt.Errorf("syncer: unable to read job %s: %w", target, err)
	}
	return &j, true, nil
}

// claimDue takes up to n due jobs. PostgreSQL skips rows another replica is claiming at the
// same moment (FOR UPDATE SKIP LOCKED); SQLite has one writer at a time, so a select followed by
// compare-and-set claims is enough there.
func (s *Syncer) claimDue(ctx context.Context, n int) ([]models.SyncJob, error) {
	now := s.now()
	db := s.db.WithContext(ctx)
	if models.DialectOf(s.db) == models.Postgres {
		var jobs []models.SyncJob
		err := db.Raw(`UPDATE sync_jobs SET locked_by = ?, locked_until = ? WHERE id IN (
			SELECT id FROM sync_jobs WHERE desired_gen > done_gen AND permanent = false AND next_at <= ?
			AND (locked_until IS NULL OR locked_until < ?) ORDER BY next_at LIMIT ? FOR UPDATE SKIP LOCKED)
			RETURNING *`, s.o.WorkerID, now.Add(s.o.Lease), now, now, n).Scan(&jobs).Error
		if err != nil {
			return nil, fmt.Errorf("syncer: unable to claim due jobs: %w", err)
		}
		return jobs, nil
	}
	var targets []string
	if err := db.Model(&models.SyncJob{}).Where("desired_gen > done_gen AND permanent = ? AND next_at <= ? AND (locked_until IS NULL OR locked_until < ?)", false, now, now).
		Order("next_at").Limit(n).Pluck("target", &targets).Error; err != nil {
		return nil, fmt.Errorf("syncer: unable to list due jobs: %w", err)
	}
	var jobs []models.SyncJob
	for _, t := range targets {
		j, ok, err := s.claimTarget(ctx, t)
		if err != nil {
			return jobs, err
		}
		if ok {
			jobs = append(jobs, *j)
		}
	}
	return jobs, nil
}

// RunJob tries one job now: the request path calls it right after its commit so the tenant
// sees success or Cloudflare's own error at once. It returns nil without doing anything when
// the job is done or another worker holds it (that worker, or a later run, picks the change up).
// A change committed while the job ran is pushed by a further run before returning.
func (s *Syncer) RunJob(ctx context.Context, target string) error {
	for range 3 {
		j, ok, err := s.claimTarget(ctx, target)
		if err != nil || !ok {
			return err
		}
		if err := s.execute(ctx, j); err != nil {
			return err
		}
	}
	return nil
}

// ReleaseOwnLeases frees the jobs leased under this syncer's WorkerID: with a stable id, those
// are the jobs a previous life of this process held when it died (one process per id: serve
// calls Run only once it holds the portal's address). It returns how many were freed.
func (s *Syncer) ReleaseOwnLeases(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Exec(`UPDATE sync_jobs SET locked_by = '', locked_until = NULL WHERE locked_by = ?`, s.o.WorkerID)
	if res.Error != nil {
		return 0, fmt.Errorf("syncer: unable to release the leases of %s: %w", s.o.WorkerID, res.Error)
	}
	return res.RowsAffected, nil
}

// Run claims and runs due jobs until ctx ends, and reconciles every ReconcileEvery. It first
// takes back the jobs leased under its own WorkerID (see ReleaseOwnLeases).
func (s *Syncer) Run(ctx context.Context) {
	if n, err := s.ReleaseOwnLeases(ctx); err != nil {
		s.o.Logger.Warn("releasing the previous run's leases failed", "err", err)
	} else if n > 0 {
		s.o.Logger.Info("took over sync jobs leased before a restart", "jobs", n, "worker", s.o.WorkerID)
	}
	var nextReconcile time.Time
	if s.o.ReconcileEvery > 0 {
		nextReconcile = s.now().Add(s.o.ReconcileEvery)
	}
	for ctx.Err() == nil {
		if !nextReconcile.IsZero() && !s.now().Before(nextReconcile) {
			if rep, err := s.Reconcile(ctx); err != nil {
				s.o.Logger.Warn("reconcile failed", "err", err)
			} else if rep.Blocked {
				s.o.Logger.Warn("reconcile held back by the safety valve (see /admin/sync)", "reason", rep.BlockedReason)
			} else if rep.Drift() > 0 {
				s.o.Logger.Info("reconcile repaired drift", "report", rep)
			}
			nextReconcile = s.now().Add(s.o.ReconcileEvery)
		}
		jobs, err := s.claimDue(ctx, s.o.Concurrency)
		if err != nil && ctx.Err() == nil {
			s.o.Logger.Warn("claiming sync jobs failed", "err", err)
		}
		if len(jobs) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(s.o.PollInterval):
			}
			continue
		}
		var wg sync.WaitGroup
		for i := range jobs {
			wg.Add(1)
			go func(j *models.SyncJob) {
				defer wg.Done()
				if err := s.execute(ctx, j); err != nil && ctx.Err() == nil {
					s.o.Logger.Debug("sync job failed", "target", j.Target, "attempt", j.Attempts+1, "err", err)
				}
			}(&jobs[i])
		}
		wg.Wait()
	}
}

// --- executing ---

// execute runs a claimed job and records the outcome. Cloudflare calls get a deadline inside
// the lease, so a slow call cannot outlive our claim and land after a newer worker's write.
func (s *Syncer) execute(ctx context.Context, j *models.SyncJob) error {
	cctx, cancel := context.WithTimeout(ctx, s.o.Lease*3/4)
	defer cancel()
	var err error
	if j.AppID == nil {
		err = &permanentError{fmt.Errorf("syncer: job %s of kind %q names no app", j.Target, j.Kind)}
	} else {
		err = s.syncApp(cctx, j)
	}
	if err == nil || errors.Is(err, errLeaseLost) {
		return err
	}
	if ferr := s.fail(ctx, j, err); ferr != nil {
		s.o.Logger.Error("recording a sync failure failed", "target", j.Target, "err", ferr, "cause", err)
	}
	return err
}

func (s *Syncer) syncApp(ctx context.Context, j *models.SyncJob) error {
	st, err := s.o.Store.AppEdgeState(ctx, *j.AppID)
	if errors.Is(err, models.ErrNotFound) {
		// The app and its edge state are gone already; nothing left to do.
		return s.db.WithContext(ctx).Where("id = ? AND locked_by = ?", j.ID, s.o.WorkerID).Delete(&models.SyncJob{}).Error
	}
	if err != nil {
		return err
	}
	if st.App.SyncState == models.SyncDeleting {
		return s.removeApp(ctx, j, st)
	}
	gen := st.App.Generation
	if err := s.ensureKV(ctx, &st.App); err != nil {
		return err
	}
	fp := st.App.ScriptFingerprint
	if st.Version != nil {
		vars, err := models.DecryptVars(s.o.Key, st.Vars)
		if err != nil {
			return err
		}
		up := workers.BuildScript(st.App, *st.Version, vars, st.Plan)
		fp = workers.Fingerprint(up, s.o.Key)
		if fp != st.App.ScriptFingerprint {
			if _, err := s.o.CF.UploadUserScript(ctx, s.o.Namespace, st.App.ScriptName, workers.WithFingerprint(up, fp)); err != nil {
				return err
			}
		}
	}
	doc, err := workers.BuildConfig(*st, gen)
	if err != nil {
		return &permanentError{err}
	}
	if err := s.o.CF.PutKVBulk(ctx, s.o.ConfigKV, []workers.KVPair{workers.ConfigPair(s.o.Key, workers.ConfigKey(st.App.Slug), doc.Encode())}); err != nil {
		return err
	}
	return s.succeed(ctx, j, st, gen, fp)
}

// ensureKV creates the app's KV namespace the first time its store is switched on. The title
// is derived from the app id, so a create whose answer was lost is found again by title.
func (s *Syncer) ensureKV(ctx context.Context, a *models.App) error {
	if !a.KVEnabled || a.KVNamespaceID != "" {
		return nil
	}
	title := fmt.Sprintf("402claw-app-%d", a.ID)
	ns, err := s.o.CF.CreateKVNamespace(ctx, title)
	if err != nil {
		all, lerr := s.o.CF.KVNamespaces(ctx)
		if lerr != nil {
			return err
		}
		found := false
		for _, n := range all {
			if n.Title == title {
				ns, found = n, true
			}
		}
		if !found {
			return err
		}
	}
	if err := s.db.WithContext(ctx).Exec(`UPDATE apps SET kv_namespace_id = ? WHERE id = ? AND kv_namespace_id = ''`, ns.ID, a.ID).Error; err != nil {
		return fmt.Errorf("syncer: unable to save kv namespace of app %d: %w", a.ID, err)
	}
	a.KVNamespaceID = ns.ID
	return nil
}

func (s *Syncer) succeed(ctx context.Context, j *models.SyncJob, st *models.EdgeState, gen int64, fp string) error {
	now := s.now()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockApp(tx, st.App.ID); err != nil {
			return err
		}
		res := tx.Exec(`UPDATE sync_jobs SET done_gen = CASE WHEN done_gen < ? THEN ? ELSE done_gen END,
			attempts = 0, last_error = '', permanent = ?, locked_by = '', locked_until = NULL, updated_at = ?
			WHERE id = ? AND locked_by = ?`, gen, gen, false, now, j.ID, s.o.WorkerID)
		if res.Error != nil {
			return fmt.Errorf("syncer: unable to finish %s: %w", j.Target, res.Error)
		}
		if res.RowsAffected == 0 {
			return errLeaseLost
		}
		var deployed any
		if st.Version != nil {
			deployed = st.Version.ID
		}
		if err := tx.Exec(`UPDATE apps SET synced_generation = ?, deployed_version_id = ?, script_fingerprint = ?,
			sync_state = CASE WHEN sync_state = ? THEN sync_state WHEN generation <= ? THEN ? ELSE ? END, sync_error = '', updated_at = ?
			WHERE id = ? AND synced_generation <= ?`,
			gen, deployed, fp, models.SyncDeleting, gen, models.SyncInSync, models.SyncPending, now, st.App.ID, gen).Error; err != nil {
			return fmt.Errorf("syncer: unable to mark app %d synced: %w", st.App.ID, err)
		}
		return tx.Exec(`UPDATE deployments SET status = ?, error = '', finished_at = ? WHERE app_id = ? AND generation <= ? AND status = ?`,
			models.DeploySucceeded, now, st.App.ID, gen, models.DeployPending).Error
	})
}

// fail records a failed run: backoff, Cloudflare's error text on the job, the app and its
// pending deployments. A permanent failure stops retries only if no newer change is waiting.
func (s *Syncer) fail(ctx context.Context, j *models.SyncJob, cause error) error {
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	permanent := IsPermanent(cause)
	now := s.now()
	next := now.Add(Backoff(j.Attempts+1, s.o.BackoffBase, s.o.BackoffMax))
	gen := j.DesiredGen
	// A permanent failure only sticks if no newer change arrived while the job ran: that
	// change may well be the fix.
	permanentSQL := "permanent = false"
	if permanent {
		permanentSQL = "permanent = (desired_gen <= " + strconv.FormatInt(gen, 10) + ")"
	}
	err := s.db.WithContext(context.WithoutCancel(ctx)).Transaction(func(tx *gorm.DB) error {
		if j.AppID != nil {
			if err := lockApp(tx, *j.AppID); err != nil {
				return err
			}
		}
		res := tx.Exec(`UPDATE sync_jobs SET attempts = attempts + 1, next_at = ?, last_error = ?, `+permanentSQL+`,
			locked_by = '', locked_until = NULL, updated_at = ? WHERE id = ? AND locked_by = ?`, next, msg, now, j.ID, s.o.WorkerID)
		if res.Error != nil || res.RowsAffected == 0 || j.AppID == nil {
			return res.Error
		}
		state := models.SyncPending
		if permanent {
			state = models.SyncFailed
		}
		if err := tx.Exec(`UPDATE apps SET sync_state = CASE WHEN sync_state = ? THEN sync_state ELSE ? END, sync_error = ? WHERE id = ?`,
			models.SyncDeleting, state, msg, *j.AppID).Error; err != nil {
			return err
		}
		if permanent {
			return tx.Exec(`UPDATE deployments SET status = ?, error = ?, finished_at = ? WHERE app_id = ? AND generation <= ? AND status = ?`,
				models.DeployFailed, msg, now, *j.AppID, gen, models.DeployPending).Error
		}
		return tx.Exec(`UPDATE deployments SET error = ? WHERE app_id = ? AND status = ?`, msg, *j.AppID, models.DeployPending).Error
	})
	if err != nil {
		// Without the record the job must at least not stay leased until the lease runs out.
		s.db.WithContext(context.WithoutCancel(ctx)).Exec(`UPDATE sync_jobs SET locked_by = '', locked_until = NULL, next_at = ? WHERE id = ? AND locked_by = ?`, next, j.ID, s.o.WorkerID)
	}
	return err
}

// lockApp takes the app's row lock first in every transaction that also writes its job, the
// order the store uses (app, then job), so PostgreSQL never sees the two wait on each other.
func lockApp(tx *gorm.DB, appID uint) error {
	if models.DialectOf(tx) != models.Postgres {
		return nil // SQLite transactions start with BEGIN IMMEDIATE: one writer at a time
	}
	var id uint
	if err := tx.Raw(`SELECT id FROM apps WHERE id = ? FOR UPDATE`, appID).Scan(&id).Error; err != nil {
		return fmt.Errorf("syncer: unable to lock app %d: %w", appID, err)
	}
	return nil
}

// removeApp deletes the script, the config document and the KV namespace, then the rows. Each
// delete treats "already gone" as done, so a retry after a partial run finishes the rest.
func (s *Syncer) removeApp(ctx context.Context, j *models.SyncJob, st *models.EdgeState) error {
	if err := s.o.CF.DeleteUserScript(ctx, s.o.Namespace, st.App.ScriptName); err != nil && !errors.Is(err, workers.ErrNotFound) {
		return err
	}
	if err := s.o.CF.DeleteKV(ctx, s.o.ConfigKV, workers.ConfigKey(st.App.Slug)); err != nil && !errors.Is(err, workers.ErrNotFound) {
		return err
	}
	if st.App.KVNamespaceID != "" {
		if err := s.o.CF.DeleteKVNamespace(ctx, st.App.KVNamespaceID); err != nil && !errors.Is(err, workers.ErrNotFound) {
			return err
		}
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := lockApp(tx, st.App.ID); err != nil {
			return err
		}
		res := tx.Exec(`UPDATE sync_jobs SET updated_at = ? WHERE id = ? AND locked_by = ?`, s.now(), j.ID, s.o.WorkerID)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return errLeaseLost
		}
		return models.PurgeApp(tx, st.App.ID)
	})
}

// shortErr trims an error for logs and reports.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
