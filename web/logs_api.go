package web

import (
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/gofiber/fiber/v2"
)

// ingestLog is one log record of the edge ({"logs":[…]} on /internal/telemetry): the lines one
// request of a tenant's worker wrote, as the local wrapper (workers/runtime/js) or the Tail
// Worker (workers/tail) send them.
type ingestLog struct {
	TS        *float64 `json:"ts"`
	App       string   `json:"app"`
	RequestID string   `json:"request_id"`
	Method    string   `json:"method"`
	Path      string   `json:"path"`
	Route     string   `json:"route"`
	Status    int      `json:"status"`
	Dropped   int      `json:"dropped"`
	Lines     []struct {
		TS      *float64 `json:"ts"`
		Level   string   `json:"level"`
		Message string   `json:"message"`
		// Mapped: the edge already named the tenant's own files (Cloudflare remaps uncaught
		// exceptions with the uploaded source map); the portal does not map it again.
		Mapped bool `json:"mapped"`
	} `json:"lines"`
}

// maxIngestLogLines bounds the lines of one post (the edge sends at most 1000 per request and
// batches of about 512 KiB).
const maxIngestLogLines = 20000

func (l ingestLog) model(now time.Time) models.LogRecord {
	r := models.LogRecord{AppSlug: cut(l.App, 64), RequestID: cut(l.RequestID, 64), Method: cut(l.Method, 16), Path: l.Path,
		Route: l.Route, Status: l.Status, Dropped: l.Dropped, Lines: make([]models.LogLine, len(l.Lines))}
	for i, x := range l.Lines {
		r.Lines[i] = models.LogLine{TS: stamp(x.TS, now), Level: x.Level, Message: x.Message}
	}
	return r
}

// redactor is what a tenant's log line may never show: the platform's own secrets.
func (s *Server) redactor() models.Redactor {
	secrets := []string{s.opts.IngestToken, s.opts.MetricsToken, hex.EncodeToString(s.opts.SecretKey)}
	return models.NewRedactor(append(secrets, s.opts.PlatformSecrets...)...)
}

// storeLogs stores the log records of an ingest post.
func (s *Server) storeLogs(c *fiber.Ctx, logs []ingestLog, now time.Time) (models.LogIngestResult, error) {
	s.mapLogPositions(c.UserContext(), logs)
	recs := make([]models.LogRecord, len(logs))
	for i, l := range logs {
		recs[i] = l.model(now)
	}
	return s.store.IngestLogs(c.UserContext(), recs, s.redactor())
}

func countLogLines(logs []ingestLog) int {
	n := 0
	for _, l := range logs {
		n += len(l.Lines)
	}
	return n
}

// logJSON is a line as the API answers it.
type logJSON struct {
	ID        uint      `json:"id"`
	RequestID string    `json:"request_id"`
	TS        time.Time `json:"ts"`
	Level     string    `json:"level"`
	Message   string    `json:"message"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Route     string    `json:"route"`
	Status    int       `json:"status"`
	Dropped   int       `json:"dropped,omitempty"`
}

func logsToJSON(rows []models.AppLog) []logJSON {
	out := make([]logJSON, len(rows))
	for i, r := range rows {
		out[i] = logJSON{ID: r.ID, RequestID: r.RequestID, TS: r.TS, Level: r.Level, Message: r.Message, Method: r.Method,
			Path: r.Path, Route: r.Route, Status: r.Status, Dropped: r.Dropped}
	}
	return out
}

var (
	requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
	statusPattern    = regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]xx)$`)
)

// logFilterError is a bad filter, with the query parameter it concerns.
func logFilterError(field, msg string) *apiError {
	return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: msg, Field: field}
}

// parseLogFilter reads the filters shared by the API and the Logs tab; every bad value is an
// error naming its parameter.
func parseLogFilter(get func(string) string) (models.LogFilter, *apiError) {
	var f models.LogFilter
	if v := get("request_id"); v != "" {
		if !requestIDPattern.MatchString(v) {
			return f, logFilterError("request_id", "request_id is the Claw-Request-Id header of a response: letters, digits and dashes, at most 64.")
		}
		f.RequestID = v
	}
	if v := get("level"); v != "" {
		ok := false
		for _, l := range models.LogLevels {
			ok = ok || v == l
		}
		if !ok {
			return f, logFilterError("level", "level is one of debug, info, warn, error, system.")
		}
		f.Level = v
	}
	if v := get("status"); v != "" {
		if !statusPattern.MatchString(v) {
			return f, logFilterError("status", "status is a code (404) or a class (4xx) between 100 and 599.")
		}
		f.Status = v
	}
	if v := get("route"); v != "" {
		if len(v) > 520 {
			return f, logFilterError("route", "route is at most 520 characters.")
		}
		f.Route = v
	}
	if v := get("q"); v != "" {
		if len(v) > 200 {
			return f, logFilterError("q", "The text filter is at most 200 characters.")
		}
		f.Text = v
	}
	num := func(name string, lo, hi uint64) (uint, *apiError) {
		v := get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n < lo || n > hi {
			return 0, logFilterError(name, name+" is a whole number from "+strconv.FormatUint(lo, 10)+" to "+strconv.FormatUint(hi, 10)+".")
		}
		return uint(n), nil
	}
	var e *apiError
	if f.Before, e = num("cursor", 1, 1<<53); e != nil {
		return f, e
	}
	if f.After, e = num("after", 1, 1<<53); e != nil {
		return f, e
	}
	if f.Before > 0 && f.After > 0 {
		return f, logFilterError("after", "Send cursor (older lines) or after (newer lines), not both.")
	}
	lim, e := num("limit", 1, models.MaxLogPage)
	if e != nil {
		return f, e
	}
	f.Limit = int(lim)
	return f, nil
}

// apiLogs is GET /api/v1/apps/{slug}/logs: the app's log lines, newest first, one page at a
// time (next_cursor: the cursor of the next older page, absent on the last); with after, the
// lines newer than that id, oldest first (a live tail). Filters: request_id, level, status, route,
// q (text).
func (s *Server) apiLogs(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	f, fe := parseLogFilter(func(k string) string { return strings.TrimSpace(c.Query(k)) })
	if fe != nil {
		return fe
	}
	rows, next, err := s.store.AppLogs(c.UserContext(), a.ID, f)
	if err != nil {
		return err
	}
	out := fiber.Map{"lines": logsToJSON(rows)}
	if next > 0 {
		out["next_cursor"] = strconv.FormatUint(uint64(next), 10)
	}
	return c.JSON(out)
}

func init() {
	schemas := openAPI["components"].(map[string]any)["schemas"].(map[string]any)
	schemas["LogLine"] = obj(map[string]any{"id": intT, "request_id": strT, "ts": map[string]any{"type": "string", "format": "date-time"},
		"level": enumT(models.LogLevels...), "message": strT, "method": strT, "path": strT, "route": strT, "status": intT,
		"dropped": map[string]any{"type": "integer", "description": "level system: how many lines of the request were dropped"}},
		"id", "request_id", "ts", "level", "message", "status")
	schemas["LogPage"] = obj(map[string]any{"lines": arrT(map[string]any{"$ref": "#/components/schemas/LogLine"}),
		"next_cursor": map[string]any{"type": "string", "description": "pass as cursor for the next older page; absent on the last page"}}, "lines")
	get := op("Log lines of the app's requests (console output, uncaught exceptions with their stacks), newest first. "+
		"Query: request_id (the Claw-Request-Id header of a response), level (debug, info, warn, error, system), status (404 or 4xx), "+
		"route (\"GET /users/:id\"), q (text, case-insensitive), limit (1-200, default 50), cursor (next_cursor of the previous page) "+
		"or after (an id: the newer lines, oldest first, for a live tail).", bearer, nil, errs(map[string]any{"200": ref("LogPage")}, 401, 404, 422))
	openAPI["paths"].(map[string]any)["/apps/{slug}/logs"] = map[string]any{"get": get}
}
