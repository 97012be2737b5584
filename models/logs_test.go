package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

func TestIngestLogs(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		a, err := s.CreateApp(ctx, newTenant(t, s, "Logger"), "logger", "L")
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.CreateApp(ctx, newTenant(t, s, "Other"), "other", "O")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.Exec("UPDATE plans SET log_lines_per_request = 5").Error; err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		lines := func(n int, level string) []models.LogLine {
			out := make([]models.LogLine, n)
			for i := range out {
				out[i] = models.LogLine{TS: now, Level: level, Message: fmt.Sprintf("line %d", i)}
			}
			return out
		}
		red := models.NewRedactor("ingest-token-1234567890", "short")
		recs := []models.LogRecord{
			{AppSlug: "logger", RequestID: "r1", Method: "GET", Path: "/logger/a", Route: "GET /a", Status: 200, Lines: lines(3, "log")},
			{AppSlug: "logger", RequestID: "r2", Method: "POST", Path: "/logger/b", Route: "POST /b", Status: 500,
				Lines: []models.LogLine{{TS: now, Level: "error", Message: "token=ingest-token-1234567890 short"}, {Level: "bogus", Message: strings.Repeat("é", 20000)}}},
			// 8 lines, 2 dropped at the edge already: the plan keeps 5 → 5 stored, 5 dropped.
			{AppSlug: "logger", RequestID: "r3", Status: 200, Lines: lines(8, "warn"), Dropped: 2},
			{AppSlug: "other", RequestID: "r9", Status: 200, Lines: lines(1, "info")},
			{AppSlug: "nobody", RequestID: "rx", Lines: lines(1, "info")},
		}
		res, err := s.IngestLogs(ctx, recs, red)
		if err != nil {
			t.Fatal(err)
		}
		if res.Stored != 11 || res.Dropped != 5 || res.UnknownApp != 1 {
			t.Errorf("result = %+v", res)
		}
		// A late record of r3 (lines written after the response): the request is full.
		res, err = s.IngestLogs(ctx, []models.LogRecord{{AppSlug: "logger", RequestID: "r3", Lines: lines(2, "info")}}, red)
		if err != nil || res.Stored != 0 || res.Dropped != 2 {
			t.Errorf("late record: %+v, %v", res, err)
		}

		get := func(f models.LogFilter) []models.AppLog {
			t.Helper()
			rows, _, err := s.AppLogs(ctx, a.ID, f)
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}
		r2 := get(models.LogFilter{RequestID: "r2"})
		if len(r2) != 2 {
			t.Fatalf("r2 lines = %d", len(r2))
		}
		if m := r2[1].Message; m != "token=[redacted] short" || r2[1].Level != "error" {
			t.Errorf("redacted line = %q (%s)", m, r2[1].Level)
		}
		if m := r2[0].Message; r2[0].Level != "info" || !strings.HasSuffix(m, "[truncated: 23616 more bytes]") || len(m) > models.MaxLogLineBytes+50 {
			t.Errorf("long line: level %s, %d bytes, ends %q", r2[0].Level, len(m), m[len(m)-40:])
		}
		sys := get(models.LogFilter{RequestID: "r3", Level: "system"})
		if len(sys) != 2 || sys[1].Dropped != 5 || sys[0].Dropped != 2 || !strings.Contains(sys[1].Message, "first 5 per request") {
			t.Errorf("drop notes = %+v", sys)
		}
		if n := len(get(models.LogFilter{RequestID: "r9"})); n != 0 {
			t.Errorf("another app's request is visible: %d lines", n)
		}

		// Filters.
		for _, tt := range []struct {
			f    models.LogFilter
			want int
		}{
			{models.LogFilter{}, 50},
			{models.LogFilter{Level: "warn"}, 5},
			{models.LogFilter{Status: "5xx"}, 2},
			{models.LogFilter{Status: "200"}, 3 + 6}, // the late record has no status
			{models.LogFilter{Route: "GET /a"}, 3},
			{models.LogFilter{Text: "LINE 1"}, 2}, // "line 1" in r1 and r3
			{models.LogFilter{Text: "100%"}, 0},
			{models.LogFilter{Text: "line_"}, 0},
		} {
			rows := get(tt.f)
			want := min(tt.want, 12)
			if len(rows) != want {
				t.Errorf("filter %+v: %d lines, want %d", tt.f, len(rows), want)
			}
		}

		// Pagination: newest first, a cursor per page, every line once.
		seen := map[uint]bool{}
		var cursor uint
		pages := 0
		for {
			rows, next, err := s.AppLogs(ctx, a.ID, models.LogFilter{Limit: 4, Before: cursor})
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for i, r := range rows {
				if seen[r.ID] || (i > 0 && r.ID > rows[i-1].ID) {
					t.Fatalf("page %d: line %d repeated or out of order", pages, r.ID)
				}
				seen[r.ID] = true
			}
			if next == 0 {
				break
			}
			cursor = next
		}
		if len(seen) != 12 || pages != 3 {
			t.Errorf("paged %d lines in %d pages, want 12 in 3", len(seen), pages)
		}
		// The tail: lines after an id, oldest first.
		all := get(models.LogFilter{Limit: 200})
		tail := get(models.LogFilter{After: all[3].ID})
		if len(tail) != 3 || tail[0].ID != all[2].ID {
			t.Errorf("tail after %d = %d lines", all[3].ID, len(tail))
		}
		if rows, _, _ := s.AppLogs(ctx, b.ID, models.LogFilter{}); len(rows) != 1 {
			t.Errorf("other app: %d lines", len(rows))
		}
	})
}

func TestLogBounds(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		a, err := s.CreateApp(ctx, newTenant(t, s, "Big"), "big", "B")
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Gorm.Exec("UPDATE plans SET log_max_bytes = 1000, log_retention_hours = 1").Error; err != nil {
			t.Fatal(err)
		}
		msg := strings.Repeat("m", 100)
		for i := range 25 {
			rec := models.LogRecord{AppSlug: "big", RequestID: fmt.Sprint("r", i), Lines: []models.LogLine{{Level: "info", Message: msg}}}
			if _, err := s.IngestLogs(ctx, []models.LogRecord{rec}, models.Redactor{}); err != nil {
				t.Fatal(err)
			}
		}
		rows, _, _ := s.AppLogs(ctx, a.ID, models.LogFilter{Limit: 200})
		if len(rows) != 10 || rows[0].RequestID != "r24" || rows[9].RequestID != "r15" {
			t.Errorf("after the byte budget: %d lines, newest %s", len(rows), rows[0].RequestID)
		}
		// Retention: lines older than the plan's hours go at the next sweep.
		if err := db.Gorm.Exec("UPDATE app_logs SET ts = ? WHERE request_id IN ('r24', 'r23')", time.Now().Add(-2*time.Hour).UTC()).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := s.SweepLogs(ctx); err != nil {
			t.Fatal(err)
		}
		rows, _, _ = s.AppLogs(ctx, a.ID, models.LogFilter{Limit: 200})
		if len(rows) != 8 {
			t.Errorf("after the sweep: %d lines, want 8", len(rows))
		}
	})
}
