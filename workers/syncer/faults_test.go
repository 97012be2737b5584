package syncer_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/workers"
	"github.com/402claw/402claw/workers/localcf"
	"gorm.io/gorm"
)

// secondHandle opens the same database again, as a second portal process would.
func secondHandle(t *testing.T, db modeltest.DB) *gorm.DB {
	t.Helper()
	d, dsn := models.Postgres, db.URL
	if db.Name == "sqlite" {
		d, dsn = models.SQLite, strings.TrimPrefix(db.URL, "sqlite:")
	}
	g, err := models.Open(d, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := g.DB(); err == nil {
			s.Close()
		}
	})
	return g
}

// TestConvergesUnderFaults makes 200 random changes across 20 apps while the emulator fails
// 30% of calls and two syncers on two database handles race for the jobs. Once the faults stop
// every app must hold exactly its latest state, deleted apps must be gone, and no config
// document may ever have gone back to an older config_version.
func TestConvergesUnderFaults(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		e := newEnv(t, db)
		ctx := context.Background()
		rng := rand.New(rand.NewPCG(402, 3))

		// Watch every config document write: read back under one lock, in real time order, the
		// config_version of each key must never decrease.
		var watchMu sync.Mutex
		lastSeen := map[string]int64{}
		var regressions []string
		cancelWatch := e.emu.OnChange(func(ev localcf.Event) {
			if ev.Kind != "kv" || ev.Namespace != e.kvID || !strings.HasPrefix(ev.Name, workers.ConfigKeyPrefix) {
				return
			}
			watchMu.Lock()
			defer watchMu.Unlock()
			res, err := runtimeGet(e.url + "/runtime/kv/" + e.kvID + "/" + ev.Name)
			if err != nil {
				return
			}
			defer res.Body.Close()
			if res.StatusCode != http.StatusOK {
				delete(lastSeen, ev.Name) // deleted: a later app of the same slug starts over
				return
			}
			var doc workers.ConfigDoc
			json.NewDecoder(res.Body).Decode(&doc)
			if doc.ConfigVersion < lastSeen[ev.Name] {
				regressions = append(regressions, fmt.Sprintf("%s went from %d back to %d", ev.Name, lastSeen[ev.Name], doc.ConfigVersion))
			}
			lastSeen[ev.Name] = doc.ConfigVersion
		})
		defer cancelWatch()

		e.emu.SetFaults(localcf.Faults{ErrorRate: 0.15, RateLimitRate: 0.075, DropRate: 0.075, Seed: 7})
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		s1, s2 := e.syncer(db.Gorm, "one"), e.syncer(secondHandle(t, db), "two")
		for _, s := range []interface{ Run(context.Context) }{s1, s2} {
			wg.Add(1)
			go func() { defer wg.Done(); s.Run(runCtx) }()
		}

		var apps []*models.App
		newApp := func(i int) {
			a, err := e.store.CreateApp(ctx, e.tenant, fmt.Sprintf("app-%02d", i), "A")
			if err != nil {
				t.Fatal(err)
			}
			apps = append(apps, a)
		}
		for i := range 20 {
			newApp(i)
		}
		deleted := map[string]*models.App{}
		next := 20
		for n := range 200 {
			a := apps[rng.IntN(len(apps))]
			var err error
			switch op := rng.IntN(20); {
			case op < 9:
				e.version(a, module(n))
				_, err = e.store.Deploy(ctx, a, 0)
			case op < 14:
				err = e.store.SetVar(ctx, a, fmt.Sprintf("V%d", rng.IntN(3)), fmt.Sprint(n), rng.IntN(2) == 0, e.key)
			case op < 16:
				err = e.store.SetAppKV(ctx, a, rng.IntN(2) == 0)
			case op < 17 && len(deleted) < 4:
				err = e.store.DeleteApp(ctx, a)
				deleted[a.Slug] = a
				apps = slicesDelete(apps, a)
				newApp(next)
				next++
			default:
				if a.DesiredVersionID != nil {
					_, err = e.store.Deploy(ctx, a, *a.DesiredVersionID) // redeploy
				} else {
					err = e.store.SetVar(ctx, a, "X", "y", false, e.key)
				}
			}
			if err != nil {
				t.Fatalf("change %d on %s: %v", n, a.Slug, err)
			}
			// Like a request handler: try at once, whatever the outcome.
			if n%3 == 0 {
				s := s1
				if n%2 == 1 {
					s = s2
				}
				s.RunJob(ctx, a.JobTarget())
			}
		}
		stats := e.emu.FaultStats()
		e.emu.SetFaults(localcf.Faults{})

		deadline := time.Now().Add(60 * time.Second)
		for {
			var pending int64
			db.Gorm.Model(&models.SyncJob{}).Where("desired_gen > done_gen").Count(&pending)
			if pending == 0 {
				break
			}
			if time.Now().After(deadline) {
				var jobs []models.SyncJob
				db.Gorm.Where("desired_gen > done_gen").Find(&jobs)
				t.Fatalf("%d jobs still pending after faults stopped: %+v", pending, jobs)
			}
			time.Sleep(50 * time.Millisecond)
		}
		stop()
		wg.Wait()
		t.Logf("faults injected: %+v", stats)
		if stats.Errors+stats.RateLimited+stats.Dropped < stats.Requests/5 {
			t.Errorf("too few faults to mean anything: %+v", stats)
		}

		for _, a := range apps {
			e.checkEdge(a)
			var pendingDeploys int64
			db.Gorm.Model(&models.Deployment{}).Where("app_id = ? AND status <> ?", a.ID, models.DeploySucceeded).Count(&pendingDeploys)
			if pendingDeploys != 0 {
				t.Errorf("app %s has %d deployments not succeeded", a.Slug, pendingDeploys)
			}
		}
		for slug, a := range deleted {
			e.checkGone(slug, a.KVNamespaceID)
		}
		owned, err := e.cf.ListOwnedScripts(ctx, namespace)
		if err != nil {
			t.Fatal(err)
		}
		withScript := 0
		for _, a := range apps {
			if a.DesiredVersionID != nil {
				withScript++
			}
		}
		if len(owned.Scripts) != withScript {
			t.Errorf("%d scripts at the edge, %d apps with a version", len(owned.Scripts), withScript)
		}
		watchMu.Lock()
		defer watchMu.Unlock()
		if len(regressions) > 0 {
			t.Errorf("older config documents won: %q", regressions)
		}
		if len(lastSeen) == 0 {
			t.Error("the watch saw no config document writes")
		}
	})
}

func slicesDelete(apps []*models.App, a *models.App) []*models.App {
	out := apps[:0]
	for _, x := range apps {
		if x != a {
			out = append(out, x)
		}
	}
	return out
}
