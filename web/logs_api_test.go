package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/402claw/402claw/web"
)

// postLogs sends log records to the ingest endpoint as the edge does.
func postLogs(t *testing.T, p *portal, token string, recs ...map[string]any) resp {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"logs": recs})
	return p.api(t, "POST", "/internal/telemetry", token, "application/json", string(body))
}

func logRec(app, rid string, status int, msgs ...string) map[string]any {
	lines := []map[string]any{}
	for _, m := range msgs {
		level, text, _ := strings.Cut(m, ":")
		lines = append(lines, map[string]any{"ts": time.Now().UnixMilli(), "level": level, "message": text})
	}
	return map[string]any{"ts": time.Now().UnixMilli(), "app": app, "request_id": rid, "method": "GET", "path": "/" + app + "/x",
		"route": "GET /x", "status": status, "lines": lines, "dropped": 0}
}

type logPage struct {
	Lines []struct {
		ID        uint   `json:"id"`
		RequestID string `json:"request_id"`
		Level     string `json:"level"`
		Message   string `json:"message"`
		Status    int    `json:"status"`
		Route     string `json:"route"`
		Dropped   int    `json:"dropped"`
	} `json:"lines"`
	NextCursor string `json:"next_cursor"`
}

func getLogs(t *testing.T, p *portal, token, slug, query string) (resp, logPage) {
	t.Helper()
	r := p.api(t, "GET", "/api/v1/apps/"+slug+"/logs"+query, token, "", "")
	var pg logPage
	if r.Status == 200 {
		if err := json.Unmarshal([]byte(r.Body), &pg); err != nil {
			t.Fatal(err)
		}
	}
	return r, pg
}

func TestLogsAPI(t *testing.T) {
	const ingest = "ingest-secret-for-logs"
	p := startPortal(t, withIngestToken(ingest), func(o *web.Options) { o.PlatformSecrets = []string{"config-key-0123456789abcdef"} })
	_, a := tenantApp(t, p, "la@example.com", "Logs A", "logs-a")
	_, b := tenantApp(t, p, "lb@example.com", "Logs B", "logs-b")
	ctx := context.Background()
	ua, _ := p.Store.UserByEmail(ctx, "la@example.com")
	ub, _ := p.Store.UserByEmail(ctx, "lb@example.com")
	_, tokA, _ := p.Store.CreateAPIToken(ctx, ua.ID, "a", 0)
	_, tokB, _ := p.Store.CreateAPIToken(ctx, ub.ID, "b", 0)

	if r := postLogs(t, p, "wrong", logRec("logs-a", "r0", 200, "info:x")); r.Status != http.StatusUnauthorized {
		t.Fatalf("ingest with a wrong token: %d", r.Status)
	}
	var recs []map[string]any
	for i := range 30 {
		recs = append(recs, logRec("logs-a", fmt.Sprintf("req%02d", i), 200+i%2*300, fmt.Sprintf("info:hello %d", i)))
	}
	recs = append(recs,
		logRec("logs-a", "secret", 500, "error:leaked "+ingest+" and config-key-0123456789abcdef; my own sk_tenant_123456 stays"),
		logRec("logs-b", "bonly", 200, "warn:B's private line"),
	)
	if r := postLogs(t, p, ingest, recs...); r.Status != http.StatusAccepted || !strings.Contains(r.Body, `"log_lines":32`) {
		t.Fatalf("ingest: %d %s", r.Status, r.Body)
	}

	// Pagination: 31 lines of A in pages of 10, newest first, each once.
	seen := map[uint]bool{}
	q := "?limit=10"
	pages := 0
	for {
		r, pg := getLogs(t, p, tokA, "logs-a", q)
		if r.Status != 200 {
			t.Fatalf("page %d: %d %s", pages, r.Status, r.Body)
		}
		pages++
		for _, l := range pg.Lines {
			if seen[l.ID] {
				t.Fatalf("line %d twice", l.ID)
			}
			seen[l.ID] = true
			if strings.Contains(l.Message, "B's") {
				t.Fatalf("A sees B's line")
			}
		}
		if pg.NextCursor == "" {
			break
		}
		q = "?limit=10&cursor=" + pg.NextCursor
	}
	if len(seen) != 31 || pages != 4 {
		t.Errorf("%d lines in %d pages, want 31 in 4", len(seen), pages)
	}

	// Filters and the platform's secrets.
	_, pg := getLogs(t, p, tokA, "logs-a", "?request_id=secret")
	if len(pg.Lines) != 1 || pg.Lines[0].Message != "leaked [redacted] and [redacted]; my own sk_tenant_123456 stays" || pg.Lines[0].Status != 500 {
		t.Errorf("secret line = %+v", pg.Lines)
	}
	for _, tt := range []struct {
		q    string
		want int
	}{
		{"?level=error", 1}, {"?status=5xx", 16}, {"?status=200", 15}, {"?route=GET+%2Fx", 31}, {"?q=HELLO+2", 11}, {"?q=%25", 0},
		{"?request_id=bonly", 0}, // B's request id: nothing, not an error
	} {
		r, pg := getLogs(t, p, tokA, "logs-a", tt.q+"&limit=200")
		if r.Status != 200 || len(pg.Lines) != tt.want {
			t.Errorf("%s: %d, %d lines, want %d", tt.q, r.Status, len(pg.Lines), tt.want)
		}
	}
	// Bad filters: 422 naming the parameter.
	for _, tt := range []struct{ q, field string }{
		{"?level=fatal", "level"}, {"?status=99", "status"}, {"?status=6xx", "status"}, {"?limit=0", "limit"}, {"?limit=201", "limit"},
		{"?cursor=-1", "cursor"}, {"?cursor=abc", "cursor"}, {"?after=1&cursor=2", "after"}, {"?request_id=a%27b", "request_id"},
		{"?q=" + strings.Repeat("x", 201), "q"},
	} {
		r, _ := getLogs(t, p, tokA, "logs-a", tt.q)
		if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, `"field":"`+tt.field+`"`) {
			t.Errorf("%s: %d %s", tt.q, r.Status, r.Body)
		}
	}
	// The tail: lines after an id, oldest first.
	_, newest := getLogs(t, p, tokA, "logs-a", "?limit=3")
	_, tail := getLogs(t, p, tokA, "logs-a", fmt.Sprintf("?after=%d", newest.Lines[2].ID))
	if len(tail.Lines) != 2 || tail.Lines[0].ID != newest.Lines[1].ID || tail.Lines[1].ID != newest.Lines[0].ID {
		t.Errorf("tail = %+v", tail.Lines)
	}

	// Isolation: B cannot read A's app, whatever it guesses; an unknown app is 404 too.
	for _, path := range []string{"logs-a", "logs-a?request_id=secret", fmt.Sprintf("logs-a?after=%d", 1)} {
		slug, query, _ := strings.Cut(path, "?")
		if query != "" {
			query = "?" + query
		}
		if r, _ := getLogs(t, p, tokB, slug, query); r.Status != http.StatusNotFound {
			t.Errorf("B reads %s: %d %s", path, r.Status, r.Body)
		}
	}
	if _, pg := getLogs(t, p, tokB, "logs-b", "?after=1"); len(pg.Lines) != 1 || pg.Lines[0].Message != "B's private line" {
		t.Errorf("B's own logs = %+v", pg.Lines)
	}
	_ = a
	_ = b
	if r, _ := getLogs(t, p, "", "logs-a", ""); r.Status != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", r.Status)
	}
}
