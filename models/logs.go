package models

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// AppLog is one line a tenant's worker wrote during a request (console.log/info/warn/error/
// debug), an uncaught exception with its stack, or the platform's note that lines of a request
// were dropped (level "system", Dropped > 0). Each row repeats its request's method, path,
// matched route and status, so that every filter is one indexed query.
type AppLog struct {
	ID        uint      `gorm:"primaryKey" json:"id"`
	AppID     uint      `gorm:"not null" json:"-"`
	RequestID string    `gorm:"size:64;not null;default:''" json:"request_id"`
	TS        time.Time `gorm:"column:ts;not null" json:"ts"`
	Level     string    `gorm:"size:8;not null;default:''" json:"level"`
	Message   string    `gorm:"type:text;not null" json:"message"`
	Bytes     int       `gorm:"not null;default:0" json:"-"`
	Method    string    `gorm:"size:16;not null;default:''" json:"method"`
	Path      string    `gorm:"size:520;not null;default:''" json:"path"`
	Route     string    `gorm:"size:520;not null;default:''" json:"route"`
	Status    int       `gorm:"not null;default:0" json:"status"`
	Dropped   int       `gorm:"not null;default:0" json:"dropped"`
}

// Log levels as stored. "log" arrives as "info".
const (
	LogDebug  = "debug"
	LogInfo   = "info"
	LogWarn   = "warn"
	LogError  = "error"
	LogSystem = "system"
)

// LogLevels lists the levels a filter may name.
var LogLevels = []string{LogDebug, LogInfo, LogWarn, LogError, LogSystem}

// Defaults of the plan's log bounds, used when a plan row has none.
const (
	DefaultLogLinesPerRequest = 200
	DefaultLogRetentionHours  = 72
	DefaultLogMaxBytes        = 10 << 20
	// MaxLogLineBytes bounds one stored message whatever the edge sent: the rest is cut with
	// a marker saying how much.
	MaxLogLineBytes = 16 << 10
)

// LogLine is one line of a LogRecord.
type LogLine struct {
	TS      time.Time
	Level   string
	Message string
}

// LogRecord is what the edge sends per request (and again for lines written after the
// response): the app by slug, the request's id, method, path, route and status, its lines and
// how many the edge already dropped.
type LogRecord struct {
	AppSlug   string
	RequestID string
	Method    string
	Path      string
	Route     string
	Status    int
	Lines     []LogLine
	Dropped   int
}

// LogIngestResult counts what IngestLogs did.
type LogIngestResult struct {
	Stored     int // lines stored
	Dropped    int // lines over the plan's per-request cap (or dropped at the edge)
	UnknownApp int // records of apps that do not exist (lines not stored)
}

type logBounds struct {
	lines     int
	retention time.Duration
	maxBytes  int64
}

func boundsOf(p Plan) logBounds {
	b := logBounds{lines: p.LogLinesPerRequest, retention: time.Duration(p.LogRetentionHours) * time.Hour, maxBytes: p.LogMaxBytes}
	if b.lines <= 0 {
		b.lines = DefaultLogLinesPerRequest
	}
	if b.retention <= 0 {
		b.retention = DefaultLogRetentionHours * time.Hour
	}
	if b.maxBytes <= 0 {
		b.maxBytes = DefaultLogMaxBytes
	}
	return b
}

// TruncateLogLine cuts a message to MaxLogLineBytes (on a UTF-8 boundary) and says how many
// bytes were cut; invalid UTF-8 is replaced.
func TruncateLogLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= MaxLogLineBytes {
		return s
	}
	cut := MaxLogLineBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + " … [truncated: " + strconv.Itoa(len(s)-cut) + " more bytes]"
}

func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Redactor replaces platform secrets in tenants' log lines. Secrets shorter than 8 bytes are
// ignored: replacing them would garble ordinary text and they are not secrets worth the name.
type Redactor struct{ r *strings.Replacer }

// NewRedactor returns a Redactor for the given secrets.
func NewRedactor(secrets ...string) Redactor {
	var pairs []string
	for _, s := range secrets {
		if len(strings.TrimSpace(s)) >= 8 {
			pairs = append(pairs, s, "[redacted]")
		}
	}
	if len(pairs) == 0 {
		return Redactor{}
	}
	return Redactor{strings.NewReplacer(pairs...)}
}

// Apply returns s without the secrets.
func (r Redactor) Apply(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

func normLevel(l string) string {
	switch l {
	case "log", "info", "":
		return LogInfo
	case LogDebug, LogWarn, LogError, LogSystem:
		return l
	}
	return LogInfo
}

// IngestLogs stores log records under their apps, within each app's plan: at most the plan's
// lines per request (the rest become one "system" line saying how many were dropped), each
// line cut to MaxLogLineBytes, platform secrets redacted; afterwards the apps' lines past the
// retention or over the byte budget are deleted, oldest first. Records of unknown apps are
// counted and dropped.
func (s *Store) IngestLogs(ctx context.Context, recs []LogRecord, red Redactor) (LogIngestResult, error) {
	var res LogIngestResult
	if len(recs) == 0 {
		return res, nil
	}
	slugs := map[string]bool{}
	for _, r := range recs {
		slugs[r.AppSlug] = true
	}
	names := make([]string, 0, len(slugs))
	for n := range slugs {
		names = append(names, n)
	}
	apps, err := s.appLogBounds(ctx, "apps.slug IN ?", names)
	if err != nil {
		return res, err
	}
	bounds := map[uint]logBounds{}
	idOf := map[string]uint{}
	for _, a := range apps {
		bounds[a.ID] = a.bounds
		idOf[a.Slug] = a.ID
	}
	now := time.Now().UTC()
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res = LogIngestResult{}
		var rows []AppLog
		touched := map[uint]bool{}
		for _, r := range recs {
			appID, ok := idOf[r.AppSlug]
			if !ok {
				res.UnknownApp++
				continue
			}
			b := bounds[appID]
			touched[appID] = true
			rid := clip(r.RequestID, 64)
			// Lines already stored for this request (a record of lines written after the
			// response follows the first one) count against the cap.
			var have int64
			if rid != "" {
				if err := tx.Model(&AppLog{}).Where("app_id = ? AND request_id = ? AND level <> ?", appID, rid, LogSystem).Count(&have).Error; err != nil {
					return fmt.Errorf("store: unable to count log lines: %w", err)
				}
			}
			room := max(b.lines-int(have), 0)
			keep := r.Lines
			dropped := max(r.Dropped, 0)
			if len(keep) > room {
				dropped += len(keep) - room
				keep = keep[:room]
			}
			base := AppLog{AppID: appID, RequestID: rid, Method: clip(r.Method, 16), Path: clip(red.Apply(r.Path), 520),
				Route: clip(r.Route, 520), Status: r.Status}
			for _, l := range keep {
				row := base
				row.TS = stampLog(l.TS, now)
				row.Level = normLevel(l.Level)
				row.Message = TruncateLogLine(red.Apply(l.Message))
				row.Bytes = len(row.Message)
				rows = append(rows, row)
			}
			res.Stored += len(keep)
			if dropped > 0 {
				res.Dropped += dropped
				row := base
				row.TS = now
				if len(keep) > 0 {
					row.TS = rows[len(rows)-1].TS
				}
				row.Level = LogSystem
				row.Dropped = dropped
				row.Message = fmt.Sprintf("%d more log lines of this request were dropped (the plan keeps the first %d per request).", dropped, b.lines)
				row.Bytes = len(row.Message)
				rows = append(rows, row)
			}
		}
		if len(rows) > 0 {
			if err := tx.CreateInBatches(rows, 200).Error; err != nil {
				return fmt.Errorf("store: unable to store log lines: %w", err)
			}
		}
		for id := range touched {
			if err := trimAppLogs(tx, id, bounds[id], now); err != nil {
				return err
			}
		}
		return nil
	})
	return res, err
}

type appBounds struct {
	ID     uint
	Slug   string
	bounds logBounds
}

// appLogBounds reads apps with their plan's log bounds (defaults where the plan has none).
func (s *Store) appLogBounds(ctx context.Context, where string, args ...any) ([]appBounds, error) {
	var rows []struct {
		ID                 uint
		Slug               string
		LogLinesPerRequest *int
		LogRetentionHours  *int
		LogMaxBytes        *int64
	}
	err := s.db.WithContext(ctx).Table("apps").
		Select("apps.id AS id, apps.slug AS slug, plans.log_lines_per_request, plans.log_retention_hours, plans.log_max_bytes").
		Joins("JOIN tenants ON tenants.id = apps.tenant_id").
		Joins("LEFT JOIN plans ON plans.key = tenants.plan_key").
		Where(where, args...).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to read apps' log bounds: %w", err)
	}
	out := make([]appBounds, len(rows))
	for i, r := range rows {
		var p Plan
		if r.LogLinesPerRequest != nil {
			p.LogLinesPerRequest = *r.LogLinesPerRequest
		}
		if r.LogRetentionHours != nil {
			p.LogRetentionHours = *r.LogRetentionHours
		}
		if r.LogMaxBytes != nil {
			p.LogMaxBytes = *r.LogMaxBytes
		}
		out[i] = appBounds{ID: r.ID, Slug: r.Slug, bounds: boundsOf(p)}
	}
	return out, nil
}

func stampLog(t time.Time, now time.Time) time.Time {
	if t.IsZero() || t.Before(now.Add(-24*time.Hour)) || t.After(now.Add(time.Hour)) {
		return now
	}
	return t.UTC()
}

// trimAppLogs deletes an app's lines past the retention and, newest kept first, those beyond
// the byte budget.
func trimAppLogs(tx *gorm.DB, appID uint, b logBounds, now time.Time) error {
	if err := tx.Exec("DELETE FROM app_logs WHERE app_id = ? AND ts < ?", appID, now.Add(-b.retention)).Error; err != nil {
		return fmt.Errorf("store: unable to delete old log lines: %w", err)
	}
	var total int64
	if err := tx.Raw("SELECT COALESCE(SUM(bytes), 0) FROM app_logs WHERE app_id = ?", appID).Scan(&total).Error; err != nil {
		return fmt.Errorf("store: unable to size logs: %w", err)
	}
	if total <= b.maxBytes {
		return nil
	}
	var cutoff *uint
	err := tx.Raw(`SELECT id FROM (SELECT id, SUM(bytes) OVER (ORDER BY id DESC) AS run FROM app_logs WHERE app_id = ?) t
		WHERE run > ? ORDER BY id DESC LIMIT 1`, appID, b.maxBytes).Scan(&cutoff).Error
	if err != nil {
		return fmt.Errorf("store: unable to find the log budget's cutoff: %w", err)
	}
	if cutoff != nil {
		if err := tx.Exec("DELETE FROM app_logs WHERE app_id = ? AND id <= ?", appID, *cutoff).Error; err != nil {
			return fmt.Errorf("store: unable to trim logs: %w", err)
		}
	}
	return nil
}

// SweepLogs applies every app's plan bounds (retention and bytes) to its stored lines; the
// portal runs it periodically, so that lines of apps that stopped logging expire too. It
// returns the number of apps swept.
func (s *Store) SweepLogs(ctx context.Context) (int, error) {
	apps, err := s.appLogBounds(ctx, "apps.id IN (SELECT DISTINCT app_id FROM app_logs)")
	if err != nil {
		return 0, err
	}
	now := time.Now().UTC()
	for _, a := range apps {
		if err := trimAppLogs(s.db.WithContext(ctx), a.ID, a.bounds, now); err != nil {
			return 0, err
		}
	}
	// Lines of deleted apps.
	if err := s.db.WithContext(ctx).Exec("DELETE FROM app_logs WHERE app_id NOT IN (SELECT id FROM apps)").Error; err != nil {
		return 0, fmt.Errorf("store: unable to delete logs of deleted apps: %w", err)
	}
	return len(apps), nil
}

// LogFilter selects an app's lines. Empty fields do not filter. Status is an exact code
// ("404") or a class ("4xx"). Text matches the message case-insensitively. Before is the
// cursor of older pages (lines with a smaller id), After that of the live tail (newer lines,
// returned oldest first so a tail appends them in order).
type LogFilter struct {
	RequestID string
	Level     string
	Status    string
	Route     string
	Text      string
	Before    uint
	After     uint
	Limit     int
}

// MaxLogPage bounds a page of lines.
const MaxLogPage = 200

// AppLogs returns a page of the app's lines, newest first (with After: oldest first), and the
// cursor of the next older page (0: none).
func (s *Store) AppLogs(ctx context.Context, appID uint, f LogFilter) ([]AppLog, uint, error) {
	if f.Limit <= 0 || f.Limit > MaxLogPage {
		f.Limit = 50
	}
	q := s.db.WithContext(ctx).Where("app_id = ?", appID)
	if f.RequestID != "" {
		q = q.Where("request_id = ?", f.RequestID)
	}
	if f.Level != "" {
		q = q.Where("level = ?", f.Level)
	}
	if f.Status != "" {
		if len(f.Status) == 3 && strings.HasSuffix(f.Status, "xx") {
			c := int(f.Status[0]-'0') * 100
			q = q.Where("status >= ? AND status < ?", c, c+100)
		} else if n, err := strconv.Atoi(f.Status); err == nil {
			q = q.Where("status = ?", n)
		}
	}
	if f.Route != "" {
		q = q.Where("route = ?", f.Route)
	}
	if f.Text != "" {
		esc := strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(strings.ToLower(f.Text))
		q = q.Where(`LOWER(message) LIKE ? ESCAPE '\'`, "%"+esc+"%")
	}
	var rows []AppLog
	if f.After > 0 {
		if err := q.Where("id > ?", f.After).Order("id ASC").Limit(f.Limit).Find(&rows).Error; err != nil {
			return nil, 0, fmt.Errorf("store: unable to read logs: %w", err)
		}
		return rows, 0, nil
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	if err := q.Order("id DESC").Limit(f.Limit + 1).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("store: unable to read logs: %w", err)
	}
	var next uint
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		next = rows[len(rows)-1].ID
	}
	return rows, next, nil
}

// LogRoutes lists the distinct routes of an app's stored lines, for the Logs tab's filter.
func (s *Store) LogRoutes(ctx context.Context, appID uint) ([]string, error) {
	var out []string
	err := s.db.WithContext(ctx).Model(&AppLog{}).Where("app_id = ? AND route <> ''", appID).Distinct("route").Order("route").Limit(100).Pluck("route", &out).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to list log routes: %w", err)
	}
	return out, nil
}

// LiveVersionIDs names, per app slug, the version the edge runs (the deployed one, else the
// one being deployed): the version whose source map explains the positions in its log lines.
// Apps without a version are left out.
func (s *Store) LiveVersionIDs(ctx context.Context, slugs []string) (map[string]uint, error) {
	var rows []struct {
		Slug              string
		DeployedVersionID *uint
		DesiredVersionID  *uint
	}
	if len(slugs) == 0 {
		return map[string]uint{}, nil
	}
	if err := s.db.WithContext(ctx).Model(&App{}).Select("slug, deployed_version_id, desired_version_id").Where("slug IN ?", slugs).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read live versions: %w", err)
	}
	out := make(map[string]uint, len(rows))
	for _, r := range rows {
		switch {
		case r.DeployedVersionID != nil:
			out[r.Slug] = *r.DeployedVersionID
		case r.DesiredVersionID != nil:
			out[r.Slug] = *r.DesiredVersionID
		}
	}
	return out, nil
}

// VersionSourceMap returns the source map of a version's bundle (nil when it has none).
func (s *Store) VersionSourceMap(ctx context.Context, versionID uint) ([]byte, error) {
	var row struct{ SourceMap []byte }
	if err := s.db.WithContext(ctx).Model(&Version{}).Select("source_map").Where("id = ?", versionID).Limit(1).Scan(&row).Error; err != nil {
		return nil, fmt.Errorf("store: unable to read the source map of version %d: %w", versionID, err)
	}
	return row.SourceMap, nil
}
