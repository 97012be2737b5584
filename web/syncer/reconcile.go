package syncer

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/workers"
	"gorm.io/gorm"
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
}

// Drift is the number of differences found.
func (r Report) Drift() int {
	return r.MissingScripts + r.WrongScripts + r.StrayScripts + r.KVFixed + r.KVStray
}

// Reconcile compares the edge with the database and repairs drift. It costs one paged script
// listing, one paged key listing (the documents' digests live in their KV metadata) and bulk
// writes, whatever the number of apps.
//
// The edge is listed before the database is read: an app created after the listing cannot be
// mistaken for missing, and an edge object listed before its app was deleted is stray anyway.
// Apps with a pending job are skipped — their job is about to write them.
func (s *Syncer) Reconcile(ctx context.Context) (Report, error) {
	var rep Report
	scripts, err := s.o.CF.ListOwnedScripts(ctx, s.o.Namespace)
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
	var pendingTargets []string
	if err := s.db.WithContext(ctx).Model(&models.SyncJob{}).Where("desired_gen > done_gen").Pluck("target", &pendingTargets).Error; err != nil {
		return rep, fmt.Errorf("syncer: unable to reconcile: %w", err)
	}
	pending := map[string]bool{}
	for _, t := range pendingTargets {
		pending[t] = true
	}
	scriptByName := make(map[string]workers.ScriptInfo, len(scripts))
	for _, sc := range scripts {
		scriptByName[sc.Name] = sc
	}
	digestByKey := make(map[string]string, len(keys))
	for _, k := range keys {
		digestByKey[k.Name] = k.SHA256
	}
	known := map[string]bool{} // script names and KV keys of every app read

	var scriptRepairs []uint
	docs := map[uint][]byte{}  // app id → the document the edge should hold
	docGen := map[uint]int64{} // app id → generation the document was built from
	slugOf := map[uint]string{}
	for i := range states {
		st := &states[i]
		known[st.App.ScriptName] = true
		known[workers.ConfigKey(st.App.Slug)] = true
		if pending[st.App.JobTarget()] || st.App.SyncedGeneration < st.App.Generation {
			rep.Pending++
			continue
		}
		rep.Checked++
		if st.Version != nil {
			sc, ok := scriptByName[st.App.ScriptName]
			wantSHA, wantFP := workers.ExpectedDigests(st.Version.SHA256, st.App.ScriptFingerprint)
			switch gotSHA, gotFP := workers.ScriptDigests(sc.Tags); {
			case !ok:
				rep.MissingScripts++
				scriptRepairs = append(scriptRepairs, st.App.ID)
				continue
			case gotSHA != wantSHA || gotFP != wantFP:
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

	if err := s.removeStrays(ctx, scripts, keys, known, &rep); err != nil {
		return rep, err
	}
	s.repairScripts(ctx, scriptRepairs, &rep)
	if err := s.repairDocs(ctx, docs, docGen, slugOf, &rep); err != nil {
		return rep, err
	}
	return rep, nil
}

// removeStrays deletes our scripts and config documents that no app owns. Each candidate is
// checked against the database once more right before the delete, to shrink the window in
// which an app created meanwhile could lose its fresh upload.
func (s *Syncer) removeStrays(ctx context.Context, scripts []workers.ScriptInfo, keys []workers.KVKey, known map[string]bool, rep *Report) error {
	var strayScripts, strayKeys []string
	for _, sc := range scripts {
		if !known[sc.Name] {
			strayScripts = append(strayScripts, sc.Name)
		}
	}
	for _, k := range keys {
		if !known[k.Name] {
			strayKeys = append(strayKeys, k.Name)
		}
	}
	if len(strayScripts)+len(strayKeys) == 0 {
		return nil
	}
	var names, slugs []string
	if err := s.db.WithContext(ctx).Model(&models.App{}).Pluck("script_name", &names).Error; err != nil {
		return fmt.Errorf("syncer: unable to re-check strays: %w", err)
	}
	if err := s.db.WithContext(ctx).Model(&models.App{}).Pluck("slug", &slugs).Error; err != nil {
		return fmt.Errorf("syncer: unable to re-check strays: %w", err)
	}
	owned := map[string]bool{}
	for _, n := range names {
		owned[n] = true
	}
	for _, sl := range slugs {
		owned[workers.ConfigKey(sl)] = true
	}
	for _, name := range strayScripts {
		if owned[name] {
			continue
		}
		err := s.o.CF.DeleteUserScript(ctx, s.o.Namespace, name)
		if err != nil && !errors.Is(err, workers.ErrNotFound) {
			rep.Errors++
			s.o.Logger.Warn("reconcile: deleting a stray script failed", "script", name, "err", shortErr(err))
			continue
		}
		rep.StrayScripts++
	}
	var del []string
	for _, k := range strayKeys {
		if !owned[k] {
			del = append(del, k)
		}
	}
	if len(del) > 0 {
		if err := s.o.CF.DeleteKVBulk(ctx, s.o.ConfigKV, del); err != nil {
			rep.Errors += len(del)
			s.o.Logger.Warn("reconcile: deleting stray config documents failed", "count", len(del), "err", shortErr(err))
		} else {
			rep.KVStray += len(del)
		}
	}
	return nil
}

// repairScripts forgets the fingerprint of each app whose script is missing or different, so
// its job uploads again, and raises and runs the jobs (a few at a time).
func (s *Syncer) repairScripts(ctx context.Context, ids []uint, rep *Report) {
	var mu sync.Mutex
	sem := make(chan struct{}, s.o.Concurrency)
	var wg sync.WaitGroup
	for _, id := range ids {
		err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(`UPDATE apps SET script_fingerprint = '' WHERE id = ?`, id).Error; err != nil {
				return err
			}
			_, err := models.EnqueueApp(tx, id)
			return err
		})
		if err != nil {
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
		s.db.WithContext(context.WithoutCancel(ctx)).Exec(`UPDATE sync_jobs SET locked_by = '', locked_until = NULL WHERE locked_by = ?`, owner)
	}
	defer release()
	now := s.now()
	until := now.Add(s.o.Lease)
	var pairs []workers.KVPair
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		targets := make([]string, len(part))
		for i, id := range part {
			targets[i] = models.AppJobTarget(id)
		}
		if err := s.db.WithContext(ctx).Exec(`UPDATE sync_jobs SET locked_by = ?, locked_until = ?
			WHERE target IN ? AND desired_gen = done_gen AND (locked_until IS NULL OR locked_until < ?)`, owner, until, targets, now).Error; err != nil {
			return fmt.Errorf("syncer: unable to lease apps for reconcile: %w", err)
		}
		var current []struct {
			ID         uint
			Generation int64
		}
		if err := s.db.WithContext(ctx).Raw(`SELECT apps.id, apps.generation FROM apps JOIN sync_jobs ON sync_jobs.app_id = apps.id
			WHERE sync_jobs.locked_by = ? AND apps.id IN ? AND apps.sync_state <> ?`, owner, part, models.SyncDeleting).Scan(&current).Error; err != nil {
			return fmt.Errorf("syncer: unable to re-read leased apps: %w", err)
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
