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
	"strings"
	"sync"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers"
)

// Store is what the syncer reads and records; *models.Store satisfies it. Every method that
// finishes a job checks the caller's lease and returns models.ErrLeaseLost without it.
type Store interface {
	AppEdgeState(ctx context.Context, appID uint) (*models.EdgeState, error)
	EdgeStates(ctx context.Context) ([]models.EdgeState, error)
	ClaimSyncJob(ctx context.Context, target string, l models.Lease, now time.Time) (*models.SyncJob, bool, error)
	ClaimDueSyncJobs(ctx context.Context, l models.Lease, now time.Time, n int) ([]models.SyncJob, error)
	ReleaseSyncLeases(ctx context.Context, owner string) (int64, error)
	DropSyncJob(ctx context.Context, jobID uint, owner string) error
	SetAppKVNamespace(ctx context.Context, appID uint, namespaceID string) error
	FinishSyncJob(ctx context.Context, jobID uint, owner string, a models.SyncedApp, now time.Time) error
	FailSyncJob(ctx context.Context, j *models.SyncJob, owner string, f models.SyncFailure, now time.Time) error
	FinishAppRemoval(ctx context.Context, jobID, appID uint, owner string, now time.Time) error
	PendingSyncTargets(ctx context.Context) ([]string, error)
	AppEdgeNames(ctx context.Context) (scripts, slugs []string, err error)
	ForgetScript(ctx context.Context, appID uint) error
	LeaseSyncedApps(ctx context.Context, l models.Lease, now time.Time, appIDs []uint) ([]models.AppGeneration, error)
	SaveReconcileReport(ctx context.Context, r *models.ReconcileReport) error
}

var _ Store = (*models.Store)(nil)

// Options configure a Syncer.
type Options struct {
	Store     Store
	CF        *workers.Cloudflare
	Namespace string // dispatch namespace of the user workers
	ConfigKV  string // id of the KV namespace the dispatcher reads
	Key       []byte // secret box key, for vars and the script fingerprint
	// TailWorker, when set, is named in every user worker's tail_consumers (on Cloudflare:
	// workers.TailWorker, which bootstrap uploads); the local edge captures logs itself.
	TailWorker string
	Logger     *slog.Logger
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
	o Options
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
	return &Syncer{o: o}
}

func randomID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Syncer) now() time.Time { return s.o.Now().UTC() }

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

// lease is a lease taken now.
func (s *Syncer) lease(now time.Time) models.Lease {
	return models.Lease{Owner: s.o.WorkerID, Until: now.Add(s.o.Lease)}
}

// claimTarget takes the lease of one pending job.
func (s *Syncer) claimTarget(ctx context.Context, target string) (*models.SyncJob, bool, error) {
	now := s.now()
	return s.o.Store.ClaimSyncJob(ctx, target, s.lease(now), now)
}

// claimDue takes up to n due jobs.
func (s *Syncer) claimDue(ctx context.Context, n int) ([]models.SyncJob, error) {
	now := s.now()
	return s.o.Store.ClaimDueSyncJobs(ctx, s.lease(now), now, n)
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
	return s.o.Store.ReleaseSyncLeases(ctx, s.o.WorkerID)
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
	if err == nil || errors.Is(err, models.ErrLeaseLost) {
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
		return s.o.Store.DropSyncJob(ctx, j.ID, s.o.WorkerID)
	}
	if err != nil {
		return err
	}
	if st.App.SyncState == models.SyncDeleting {
		return s.removeApp(ctx, j, st)
	}
	if st.App.TakenDown() {
		return s.takeDown(ctx, j, st)
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
		if s.o.TailWorker != "" {
			up.TailConsumers = []workers.TailConsumer{{Service: s.o.TailWorker}}
		}
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
	if err := s.o.Store.SetAppKVNamespace(ctx, a.ID, ns.ID); err != nil {
		return err
	}
	a.KVNamespaceID = ns.ID
	return nil
}

func (s *Syncer) succeed(ctx context.Context, j *models.SyncJob, st *models.EdgeState, gen int64, fp string) error {
	a := models.SyncedApp{AppID: st.App.ID, Generation: gen, Fingerprint: fp}
	if st.Version != nil {
		a.VersionID = &st.Version.ID
	}
	return s.o.Store.FinishSyncJob(ctx, j.ID, s.o.WorkerID, a, s.now())
}

// fail records a failed run: backoff, Cloudflare's error text on the job, the app and its
// pending deployments. A permanent failure stops retries only if no newer change is waiting.
func (s *Syncer) fail(ctx context.Context, j *models.SyncJob, cause error) error {
	msg := cause.Error()
	if len(msg) > 2000 {
		msg = msg[:2000]
	}
	now := s.now()
	f := models.SyncFailure{Message: msg, Permanent: IsPermanent(cause), NextAt: now.Add(Backoff(j.Attempts+1, s.o.BackoffBase, s.o.BackoffMax))}
	return s.o.Store.FailSyncJob(context.WithoutCancel(ctx), j, s.o.WorkerID, f, now)
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
	return s.o.Store.FinishAppRemoval(ctx, j.ID, st.App.ID, s.o.WorkerID, s.now())
}

// takeDown removes an app an admin took down from the edge, keeping its rows: the script is
// deleted by its tags (ours and the app's), then the config document, so the dispatcher
// answers 404. The job then records no deployed version and no fingerprint, so a restore
// uploads the script again.
func (s *Syncer) takeDown(ctx context.Context, j *models.SyncJob, st *models.EdgeState) error {
	if _, err := s.o.CF.DeleteUserScriptsByTag(ctx, s.o.Namespace, models.OwnerTag+":yes", models.AppTag(st.App.Slug)+":yes"); err != nil && !errors.Is(err, workers.ErrNotFound) {
		return err
	}
	if err := s.o.CF.DeleteKV(ctx, s.o.ConfigKV, workers.ConfigKey(st.App.Slug)); err != nil && !errors.Is(err, workers.ErrNotFound) {
		return err
	}
	return s.o.Store.FinishSyncJob(ctx, j.ID, s.o.WorkerID, models.SyncedApp{AppID: st.App.ID, Generation: st.App.Generation}, s.now())
}

// shortErr trims an error for logs and reports.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
