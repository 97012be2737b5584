package syncer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers"
)

// Report counts what a reconcile found and repaired.
type Report struct {
	Checked        int // apps compared with the edge
	Pending        int // apps skipped because their job is pending (the job writes them)
	MissingScripts int
	WrongScripts   int
	StrayScripts   int
	KVFixed        int // config documents missing or different, rewritten
	KVStray        int // config documents of no app, deleted
	Errors         int // repairs that failed (their jobs keep retrying)

	Listed    int    // our scripts the listing returned
	Reads     int    // per-script reads: tags the listing left out, scripts it did not list
	Ignored   int    // listed items that cannot be ours: no name, another name, not our tag
	ListShape string // what the listing's answers looked like (workers.ScriptListing.Shape)

	// Blocked says the safety valve held this run back: it deleted nothing (and, when the
	// listing showed none of ours, uploaded nothing), and BlockedReason says why.
	Blocked            bool
	BlockedReason      string
	WouldDeleteScripts int
	WouldDeleteDocs    int
	DeleteLimit        int
	Forced             bool
}

// Drift is the number of differences found.
func (r Report) Drift() int {
	return r.MissingScripts + r.WrongScripts + r.StrayScripts + r.KVFixed + r.KVStray
}

// ReconcileOptions override the safety valve for one run (402claw reconcile
// --allow-mass-delete / --allow-mass-upload).
type ReconcileOptions struct {
	AllowMassDelete bool
	AllowMassUpload bool
}

// The safety valve: a run may delete at most max(massDeleteFloor, massDeletePercent% of what
// was listed) scripts (and as many config documents of the keys listed); a listing that shows
// none of ours while more than massDeleteFloor apps are deployed is not believed either.
const (
	massDeleteFloor   = 20
	massDeletePercent = 2
	// readConcurrency bounds the per-script reads a listing's gaps need.
	readConcurrency = 8
)

func deleteLimit(listed int) int { return max(massDeleteFloor, listed*massDeletePercent/100) }

// Reconcile compares the edge with the database and repairs drift, within the safety valve.
func (s *Syncer) Reconcile(ctx context.Context) (Report, error) {
	return s.ReconcileWith(ctx, ReconcileOptions{})
}

// ReconcileWith compares the edge with the database and repairs drift. It costs one listing of
// our scripts (paged by cursor, or shard by shard when an unpaged answer may be cut), one paged
// key listing (the documents' digests live in their KV metadata) and bulk writes; a listing
// that leaves tags out costs a read per script on top.
//
// The edge is listed before the database is read: an app created after the listing cannot be
// mistaken for missing, and an edge object listed before its app was deleted is stray anyway.
// Apps with a pending job are skipped — their job is about to write them. The listing's shape
// is not trusted blindly: an item without a name or with a name that is not app-<slug> is never
// acted on, a script the listing does not show is read before it is re-uploaded, and a stray is
// deleted only when its tags say it is ours. Every run's report is stored for /admin/sync.
func (s *Syncer) ReconcileWith(ctx context.Context, o ReconcileOptions) (rep Report, err error) {
	started := s.now()
	rep.Forced = o.AllowMassDelete || o.AllowMassUpload
	defer func() { s.saveReport(ctx, started, rep, err) }()

	listing, err := s.o.CF.ListOwnedScripts(ctx, s.o.Namespace)
	rep.ListShape = listing.Shape()
	if err != nil {
		return rep, fmt.Errorf("syncer: unable to reconcile: %w", err)
	}
	keys, err := s.o.CF.KVKeysWithDigest(ctx, s.o.ConfigKV, workers.ConfigKeyPrefix)
	if err != nil {
		return rep, fmt.Errorf("syncer: unable to reconcile: %w", err)
	}
	states, err := s.o.Store.EdgeStates(ctx)
	if err != nil {
		return rep, fmt.Errorf("syncer: unable to reconcile: %w", err)
	}
	pendingTargets, err := s.o.Store.PendingSyncTargets(ctx)
	if err != nil {
		return rep, fmt.Errorf("syncer: unable to reconcile: %w", err)
	}
	pending := map[string]bool{}
	for _, t := range pendingTargets {
		pending[t] = true
	}
	rep.Ignored = listing.Skipped
	scriptByName := make(map[string]workers.ScriptInfo, len(listing.Scripts))
	for _, sc := range listing.Scripts {
		if !workers.IsAppScriptName(sc.Name) {
			rep.Ignored++
			continue
		}
		scriptByName[sc.Name] = sc
	}
	rep.Listed = len(scriptByName)
	digestByKey := make(map[string]string, len(keys))
	for _, k := range keys {
		digestByKey[k.Name] = k.SHA256
	}
	known := map[string]bool{} // script names and KV keys of every app read
	deployed := 0
	for i := range states {
		known[states[i].App.ScriptName] = true
		known[workers.ConfigKey(states[i].App.Slug)] = true
		if states[i].Version != nil {
			deployed++
		}
	}

	// A listing that shows none of ours while many apps are deployed is more likely misread
	// than true: re-uploading every app on its word is not done without the operator.
	holdScripts := rep.Listed == 0 && deployed > massDeleteFloor && !o.AllowMassUpload
	if holdScripts {
		rep.Blocked = true
		rep.BlockedReason = fmt.Sprintf("The listing of namespace %q shows none of our scripts (%s) while %d apps are deployed. "+
			"Nothing was re-uploaded or deleted. Check the namespace in the Cloudflare dashboard; if the scripts are really gone, "+
			"run `402claw reconcile --allow-mass-upload` to upload them all again.", s.o.Namespace, rep.ListShape, deployed)
	} else if err := s.readGaps(ctx, states, scriptByName, known, pending, listing.Sharded, &rep); err != nil {
		return rep, err
	}

	var scriptRepairs []uint
	docs := map[uint][]byte{}  // app id → the document the edge should hold
	docGen := map[uint]int64{} // app id → generation the document was built from
	slugOf := map[uint]string{}
	for i := range states {
		st := &states[i]
		if pending[st.App.JobTarget()] || st.App.SyncedGeneration < st.App.Generation {
			rep.Pending++
			continue
		}
		rep.Checked++
		if st.App.TakenDown() {
			continue // nothing of it belongs at the edge; its job deleted what was there
		}
		if st.Version != nil && !holdScripts {
			sc, ok := scriptByName[st.App.ScriptName]
			wantSHA, wantFP := workers.ExpectedDigests(st.Version.SHA256, st.App.ScriptFingerprint)
			gotSHA, gotFP := workers.ScriptDigests(sc.Tags)
			switch {
			case !ok:
				rep.MissingScripts++
				scriptRepairs = append(scriptRepairs, st.App.ID)
				continue
			case !sc.TagsKnown:
				// The read failed (counted in Errors): nothing known, nothing done.
			case gotSHA != wantSHA || gotFP != wantFP,
				// A sharded listing finds only scripts with their shard tag: one deployed
				// before shard tags existed is re-uploaded with it.
				listing.Sharded && !slices.Contains(sc.Tags, workers.ShardTag(st.App.ScriptName)):
				rep.WrongScripts++
				scriptRepairs = append(scriptRepairs, st.App.ID)
				continue
			}
		}
		doc, err := workers.BuildConfig(*st, st.App.Generation)
		if err != nil {
			rep.Errors++
			continue
		}
		body := doc.Encode()
		if digestByKey[workers.ConfigKey(st.App.Slug)] != workers.DocDigest(s.o.Key, body) {
			docs[st.App.ID], docGen[st.App.ID], slugOf[st.App.ID] = body, st.App.Generation, st.App.Slug
		}
	}

	if err := s.removeStrays(ctx, scriptByName, keys, known, o, &rep); err != nil {
		return rep, err
	}
	s.repairScripts(ctx, scriptRepairs, &rep)
	if err := s.repairDocs(ctx, docs, docGen, slugOf, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// readGaps fills in, by one read per script (bounded concurrency), what the listing did not
// say: the tags of scripts it listed without them, and whether the deployed apps it did not
// list are really missing. A script the read does not find is dropped from scriptByName (so it
// counts as missing); one whose read fails keeps TagsKnown false and is left alone.
func (s *Syncer) readGaps(ctx context.Context, states []models.EdgeState, scriptByName map[string]workers.ScriptInfo, known, pending map[string]bool, sharded bool, rep *Report) error {
	var names []string
	for i := range states {
		st := &states[i]
		if st.Version == nil || st.App.TakenDown() || pending[st.App.JobTarget()] || st.App.SyncedGeneration < st.App.Generation {
			continue
		}
		if sc, ok := scriptByName[st.App.ScriptName]; !ok || !sc.TagsKnown {
			names = append(names, st.App.ScriptName)
		}
	}
	for name, sc := range scriptByName {
		if !known[name] && !sc.TagsKnown {
			names = append(names, name) // a stray candidate: its tags must say it is ours
		}
	}
	if len(names) == 0 {
		return nil
	}
	type result struct {
		name  string
		tags  []string
		found bool
		err   error
	}
	results := make([]result, len(names))
	sem := make(chan struct{}, readConcurrency)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			tags, err := s.o.CF.UserScriptTags(ctx, s.o.Namespace, name)
			switch {
			case errors.Is(err, workers.ErrNotFound):
				results[i] = result{name: name}
			case err != nil:
				results[i] = result{name: name, found: true, err: err}
			default:
				results[i] = result{name: name, tags: tags, found: true}
			}
		}()
	}
	wg.Wait()
	rep.Reads += len(names)
	for _, r := range results {
		switch {
		case !r.found:
			delete(scriptByName, r.name)
		case r.err != nil:
			rep.Errors++
			s.o.Logger.Warn("reconcile: reading a script's tags failed", "script", r.name, "err", shortErr(r.err))
			scriptByName[r.name] = workers.ScriptInfo{Name: r.name}
		default:
			scriptByName[r.name] = workers.ScriptInfo{Name: r.name, Tags: r.tags, TagsKnown: true}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("syncer: unable to reconcile: %w", err)
	}
	return nil
}

// removeStrays deletes our scripts and config documents that no app owns. Each candidate is
// checked against the database once more right before the delete, to shrink the window in
// which an app created meanwhile could lose its fresh upload. A script counts as ours only when
// its tags carry the owner tag. More deletions than the safety valve allows delete nothing.
func (s *Syncer) removeStrays(ctx context.Context, scriptByName map[string]workers.ScriptInfo, keys []workers.KVKey, known map[string]bool, o ReconcileOptions, rep *Report) error {
	var strayScripts, strayKeys []string
	for name, sc := range scriptByName {
		if known[name] {
			continue
		}
		if !sc.TagsKnown || !slices.Contains(sc.Tags, workers.OwnerTag) {
			rep.Ignored++
			continue
		}
		strayScripts = append(strayScripts, name)
	}
	slices.Sort(strayScripts)
	for _, k := range keys {
		if !known[k.Name] {
			strayKeys = append(strayKeys, k.Name)
		}
	}
	if len(strayScripts)+len(strayKeys) == 0 {
		return nil
	}
	names, slugs, err := s.o.Store.AppEdgeNames(ctx)
	if err != nil {
		return fmt.Errorf("syncer: unable to re-check strays: %w", err)
	}
	owned := map[string]bool{}
	for _, n := range names {
		owned[n] = true
	}
	for _, sl := range slugs {
		owned[workers.ConfigKey(sl)] = true
	}
	strayScripts = slices.DeleteFunc(strayScripts, func(n string) bool { return owned[n] })
	strayKeys = slices.DeleteFunc(strayKeys, func(k string) bool { return owned[k] })

	rep.DeleteLimit = deleteLimit(rep.Listed)
	if kvLimit := deleteLimit(len(keys)); !o.AllowMassDelete && (len(strayScripts) > rep.DeleteLimit || len(strayKeys) > kvLimit) {
		rep.Blocked = true
		rep.WouldDeleteScripts, rep.WouldDeleteDocs = len(strayScripts), len(strayKeys)
		reason := fmt.Sprintf("This run would have deleted %d of the %d scripts listed and %d of the %d config documents; one run may delete at most %d scripts and %d documents (%d%%, at least %d). "+
			"Nothing was deleted. Check that the database is the current one and that the listing is right (%s); if these deletions are right, run `402claw reconcile --allow-mass-delete`.",
			len(strayScripts), rep.Listed, len(strayKeys), len(keys), rep.DeleteLimit, kvLimit, massDeletePercent, massDeleteFloor, rep.ListShape)
		if rep.BlockedReason != "" {
			reason = rep.BlockedReason + " " + reason
		}
		rep.BlockedReason = reason
		return nil
	}
	for _, name := range strayScripts {
		err := s.o.CF.DeleteUserScript(ctx, s.o.Namespace, name)
		if err != nil && !errors.Is(err, workers.ErrNotFound) {
			rep.Errors++
			s.o.Logger.Warn("reconcile: deleting a stray script failed", "script", name, "err", shortErr(err))
			continue
		}
		rep.StrayScripts++
	}
	if len(strayKeys) > 0 {
		if err := s.o.CF.DeleteKVBulk(ctx, s.o.ConfigKV, strayKeys); err != nil {
			rep.Errors += len(strayKeys)
			s.o.Logger.Warn("reconcile: deleting stray config documents failed", "count", len(strayKeys), "err", shortErr(err))
		} else {
			rep.KVStray += len(strayKeys)
		}
	}
	return nil
}

// saveReport stores the run's report for /admin/sync; a failure to store it is logged only.
func (s *Syncer) saveReport(ctx context.Context, started time.Time, rep Report, runErr error) {
	r := &models.ReconcileReport{
		StartedAt: started, DurationMs: s.now().Sub(started).Milliseconds(),
		Checked: rep.Checked, Pending: rep.Pending, MissingScripts: rep.MissingScripts, WrongScripts: rep.WrongScripts,
		StrayScripts: rep.StrayScripts, KVFixed: rep.KVFixed, KVStray: rep.KVStray, Errors: rep.Errors,
		Listed: rep.Listed, Reads: rep.Reads, Ignored: rep.Ignored, ListShape: truncate(rep.ListShape, 300),
		Blocked: rep.Blocked, BlockedReason: truncate(rep.BlockedReason, 1000),
		WouldDeleteScripts: rep.WouldDeleteScripts, WouldDeleteDocs: rep.WouldDeleteDocs, DeleteLimit: rep.DeleteLimit, Forced: rep.Forced,
	}
	if runErr != nil {
		r.Error = truncate(runErr.Error(), 2000)
	}
	if err := s.o.Store.SaveReconcileReport(context.WithoutCancel(ctx), r); err != nil {
		s.o.Logger.Warn("saving the reconcile report failed", "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// repairScripts forgets the fingerprint of each app whose script is missing or different, so
// its job uploads again, and raises and runs the jobs (a few at a time).
func (s *Syncer) repairScripts(ctx context.Context, ids []uint, rep *Report) {
	var mu sync.Mutex
	sem := make(chan struct{}, s.o.Concurrency)
	var wg sync.WaitGroup
	for _, id := range ids {
		if err := s.o.Store.ForgetScript(ctx, id); err != nil {
			rep.Errors++
			if !errors.Is(err, models.ErrAppBusy) {
				s.o.Logger.Warn("reconcile: enqueueing a script repair failed", "app", id, "err", shortErr(err))
			}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(target string) {
			defer func() { <-sem; wg.Done() }()
			if err := s.RunJob(ctx, target); err != nil {
				mu.Lock()
				rep.Errors++
				mu.Unlock()
			}
		}(models.AppJobTarget(id))
	}
	wg.Wait()
}

// repairDocs rewrites config documents with bulk writes. It holds the apps' job leases while
// doing so, and writes only documents whose generation is still current under the lease: a
// change made meanwhile has its own job, which runs after the lease is released and writes the
// newer document, so the bulk write can never put an older one over it.
func (s *Syncer) repairDocs(ctx context.Context, docs map[uint][]byte, docGen map[uint]int64, slugOf map[uint]string, rep *Report) error {
	if len(docs) == 0 {
		return nil
	}
	owner := s.o.WorkerID + "/reconcile-" + randomID()
	ids := make([]uint, 0, len(docs))
	for id := range docs {
		ids = append(ids, id)
	}
	const chunk = 1000
	release := func() {
		s.o.Store.ReleaseSyncLeases(context.WithoutCancel(ctx), owner)
	}
	defer release()
	now := s.now()
	until := now.Add(s.o.Lease)
	var pairs []workers.KVPair
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		current, err := s.o.Store.LeaseSyncedApps(ctx, models.Lease{Owner: owner, Until: until}, now, part)
		if err != nil {
			return fmt.Errorf("syncer: unable to lease apps for reconcile: %w", err)
		}
		for _, c := range current {
			if c.Generation == docGen[c.ID] {
				pairs = append(pairs, workers.ConfigPair(s.o.Key, workers.ConfigKey(slugOf[c.ID]), docs[c.ID]))
			}
		}
	}
	if len(pairs) == 0 {
		return nil
	}
	// Cloudflare calls must finish inside the lease, as for jobs.
	wctx, cancel := context.WithTimeout(ctx, s.o.Lease*3/4)
	defer cancel()
	if err := s.o.CF.PutKVBulk(wctx, s.o.ConfigKV, pairs); err != nil {
		rep.Errors += len(pairs)
		return fmt.Errorf("syncer: unable to rewrite %d config documents: %w", len(pairs), err)
	}
	rep.KVFixed += len(pairs)
	return nil
}
