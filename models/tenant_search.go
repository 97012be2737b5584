package models

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
)

// Sort orders of the admin tenant list.
const (
	TenantSortNewest = "newest"
	TenantSortOldest = "oldest"
	TenantSortName   = "name"
	TenantSortPlan   = "plan"
)

// TenantSorts lists the sort orders in the order the list offers them.
var TenantSorts = []string{TenantSortNewest, TenantSortOldest, TenantSortName, TenantSortPlan}

// TenantCountCap bounds the count of a searched or filtered list: past it the
// page says "more than", so a broad search costs what a page does.
const TenantCountCap = 10_000

// TenantSearchMax is the longest search text kept (runes).
const TenantSearchMax = 100

// TenantQuery is what the admin asks of the tenant list. Empty fields do not
// filter.
type TenantQuery struct {
	// Search is a case-insensitive substring of the tenant's slug or name, a
	// user's email, an app's slug or name, or a route's payout wallet (pay_to).
	Search  string
	Plan    string // plan key
	Status  string // tenant status (active, suspended)
	Flagged bool   // a version waits for review or an abuse report is open
	PastDue bool   // a subscription is past due
	Sort    string // one of TenantSorts; newest when empty
	After   string // cursor: the page that follows this one
	Before  string // cursor: the page that precedes this one
	Limit   int
}

// TenantRow is one line of the admin tenant list.
type TenantRow struct {
	ID         uint
	Slug       string
	Name       string
	PlanKey    string
	Status     string
	Users      int
	Apps       int
	OwnerEmail string // the tenant's first user
	PastDue    bool
	Flagged    bool
	CreatedAt  time.Time
	SortKey    string `gorm:"column:sort_key"` // the row's value in the sort order (cursor)
}

// TenantPage is one page of the admin tenant list.
type TenantPage struct {
	Rows       []TenantRow
	Next, Prev string // cursors of the neighbouring pages, "" when there is none
	Total      int64  // tenants matching, counted up to TenantCountCap when searched or filtered
	More       bool   // Total stopped at TenantCountCap
}

// tenantSort is one order: an optional key expression, then the id.
type tenantSort struct {
	key     string // SQL of the key ("" for the id alone)
	keyDesc bool
	idDesc  bool
}

var tenantSortSpecs = map[string]tenantSort{
	TenantSortNewest: {idDesc: true},
	TenantSortOldest: {},
	TenantSortName:   {key: "LOWER(tenants.name)"},
	TenantSortPlan:   {key: "tenants.plan_key", idDesc: true},
}

// SearchTenants returns one page of the admin tenant list. It pages by
// cursor (the sort key and the id of the row at the page's edge), so every
// page costs what the first one does; the search uses the trigram indexes of
// migration 65 when it is at least three characters long.
func (s *Store) SearchTenants(ctx context.Context, q TenantQuery) (TenantPage, error) {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	spec, ok := tenantSortSpecs[q.Sort]
	if !ok {
		spec = tenantSortSpecs[TenantSortNewest]
	}
	db := s.db.WithContext(ctx)
	filtered := func() *gorm.DB {
		tx := db.Table("tenants")
		if m := strings.TrimSpace(q.Search); m != "" {
			sql, args := s.tenantMatch(m)
			tx = tx.Where(sql, args...)
		}
		if q.Plan != "" {
			tx = tx.Where("tenants.plan_key = ?", q.Plan)
		}
		if q.Status != "" {
			tx = tx.Where("tenants.status = ?", q.Status)
		}
		if q.Flagged {
			tx = tx.Where("tenants.id IN (" + flaggedTenantIDs + ")")
		}
		if q.PastDue {
			tx = tx.Where("tenants.id IN ("+pastDueTenantIDs+")", SubPastDue)
		}
		return tx
	}

	backward := q.Before != "" && q.After == ""
	cursor := q.After
	if backward {
		cursor = q.Before
	}
	tx := filtered()
	if key, id, ok := parseTenantCursor(cursor); ok {
		sql, args := spec.after(key, id, backward)
		tx = tx.Where(sql, args...)
	} else {
		backward, cursor = false, ""
	}
	keySel := "''"
	if spec.key != "" {
		keySel = spec.key
	}
	var page []struct {
		ID      uint
		SortKey string
	}
	err := tx.Select("tenants.id, " + keySel + " AS sort_key").Order(spec.order(backward)).Limit(q.Limit + 1).Scan(&page).Error
	if err != nil {
		return TenantPage{}, fmt.Errorf("store: unable to list tenants: %w", err)
	}
	more := len(page) > q.Limit
	if more {
		page = page[:q.Limit]
	}
	if backward {
		slices.Reverse(page)
	}
	var out TenantPage
	if len(page) > 0 {
		ids := make([]uint, len(page))
		for i, p := range page {
			ids[i] = p.ID
		}
		rows, err := s.tenantRows(ctx, ids)
		if err != nil {
			return TenantPage{}, err
		}
		for i := range rows {
			rows[i].SortKey = page[i].SortKey
		}
		out.Rows = rows
		first, last := rows[0], rows[len(rows)-1]
		hasPrev, hasNext := cursor != "", more
		if backward {
			hasPrev, hasNext = more, true
		}
		if hasPrev {
			out.Prev = tenantCursor(first.SortKey, first.ID)
		}
		if hasNext {
			out.Next = tenantCursor(last.SortKey, last.ID)
		}
	}

	if strings.TrimSpace(q.Search) == "" && q.Plan == "" && q.Status == "" && !q.Flagged && !q.PastDue {
		err = db.Table("tenants").Count(&out.Total).Error
	} else {
		err = db.Table("(?) AS matched", filtered().Select("tenants.id").Limit(TenantCountCap+1)).Count(&out.Total).Error
		if out.Total > TenantCountCap {
			out.Total, out.More = TenantCountCap, true
		}
	}
	if err != nil {
		return TenantPage{}, fmt.Errorf("store: unable to count tenants: %w", err)
	}
	return out, nil
}

// flaggedTenantIDs selects the tenants with something waiting for an admin.
const flaggedTenantIDs = `SELECT apps.tenant_id FROM versions JOIN apps ON apps.id = versions.app_id WHERE versions.review_state = 'pending'
	UNION SELECT abuse_reports.tenant_id FROM abuse_reports WHERE abuse_reports.state = 'open' AND abuse_reports.tenant_id IS NOT NULL`

// pastDueTenantIDs selects the tenants with a past-due subscription (one argument: the status).
const pastDueTenantIDs = `SELECT subscriptions.tenant_id FROM subscriptions WHERE subscriptions.status = ?`

// tenantMatch is the search condition on tenants.id: a union of the tenants
// whose searched columns contain text.
func (s *Store) tenantMatch(text string) (string, []any) {
	if DialectOf(s.db) == Postgres {
		p := "%" + escapeLike(text) + "%"
		return `tenants.id IN (SELECT t.id FROM tenants t WHERE t.slug ILIKE @p OR t.name ILIKE @p
			UNION SELECT u.tenant_id FROM users u WHERE u.email ILIKE @p AND u.tenant_id IS NOT NULL
			UNION SELECT a.tenant_id FROM apps a WHERE a.slug ILIKE @p OR a.name ILIKE @p
			UNION SELECT a.tenant_id FROM routes r JOIN apps a ON a.id = r.app_id WHERE r.pay_to ILIKE @p)`, []any{map[string]any{"p": p}}
	}
	if utf8.RuneCountInString(text) >= 3 {
		// A phrase of the trigram tokenizer matches where the text occurs, in any case.
		m := `"` + strings.ReplaceAll(text, `"`, `""`) + `"`
		return `tenants.id IN (SELECT rowid FROM tenants_fts WHERE tenants_fts MATCH @m
			UNION SELECT u.tenant_id FROM users u WHERE u.id IN (SELECT rowid FROM users_fts WHERE users_fts MATCH @m) AND u.tenant_id IS NOT NULL
			UNION SELECT a.tenant_id FROM apps a WHERE a.id IN (SELECT rowid FROM apps_fts WHERE apps_fts MATCH @m)
			UNION SELECT a.tenant_id FROM routes r JOIN apps a ON a.id = r.app_id WHERE r.id IN (SELECT rowid FROM routes_fts WHERE routes_fts MATCH @m))`, []any{map[string]any{"m": m}}
	}
	// Fewer than three characters make no trigram: scan (SQLite's LIKE ignores ASCII case).
	p := "%" + escapeLike(text) + "%"
	return `tenants.id IN (SELECT t.id FROM tenants t WHERE t.slug LIKE @p ESCAPE '\' OR t.name LIKE @p ESCAPE '\'
		UNION SELECT u.tenant_id FROM users u WHERE u.email LIKE @p ESCAPE '\' AND u.tenant_id IS NOT NULL
		UNION SELECT a.tenant_id FROM apps a WHERE a.slug LIKE @p ESCAPE '\' OR a.name LIKE @p ESCAPE '\'
		UNION SELECT a.tenant_id FROM routes r JOIN apps a ON a.id = r.app_id WHERE r.pay_to LIKE @p ESCAPE '\')`, []any{map[string]any{"p": p}}
}

// after is the condition for the rows past (key, id) in this order, or
// before them when backward.
func (o tenantSort) after(key string, id uint, backward bool) (string, []any) {
	op := func(desc bool) string {
		if desc != backward {
			return "<"
		}
		return ">"
	}
	if o.key == "" {
		return "tenants.id " + op(o.idDesc) + " ?", []any{id}
	}
	return fmt.Sprintf("(%s %s ? OR (%s = ? AND tenants.id %s ?))", o.key, op(o.keyDesc), o.key, op(o.idDesc)), []any{key, key, id}
}

func (o tenantSort) order(backward bool) string {
	dir := func(desc bool) string {
		if desc != backward {
			return " DESC"
		}
		return " ASC"
	}
	if o.key == "" {
		return "tenants.id" + dir(o.idDesc)
	}
	return o.key + dir(o.keyDesc) + ", tenants.id" + dir(o.idDesc)
}

// tenantRows reads the list's columns of the tenants ids, in that order.
func (s *Store) tenantRows(ctx context.Context, ids []uint) ([]TenantRow, error) {
	var rows []TenantRow
	err := s.db.WithContext(ctx).Table("tenants").Select(`tenants.id, tenants.slug, tenants.name, tenants.plan_key, tenants.status, tenants.created_at,
		(SELECT COUNT(*) FROM users WHERE users.tenant_id = tenants.id) AS users,
		(SELECT COUNT(*) FROM apps WHERE apps.tenant_id = tenants.id) AS apps,
		(SELECT users.email FROM users WHERE users.tenant_id = tenants.id ORDER BY users.id LIMIT 1) AS owner_email,
		EXISTS (`+pastDueTenantIDs+` AND subscriptions.tenant_id = tenants.id) AS past_due,
		tenants.id IN (`+flaggedTenantIDs+`) AS flagged`, SubPastDue).
		Where("tenants.id IN ?", ids).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: unable to read tenant rows: %w", err)
	}
	pos := make(map[uint]int, len(ids))
	for i, id := range ids {
		pos[id] = i
	}
	slices.SortFunc(rows, func(a, b TenantRow) int { return pos[a.ID] - pos[b.ID] })
	return rows, nil
}

// tenantCursor encodes a row's place in the list for the page links.
func tenantCursor(key string, id uint) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(uint64(id), 10) + ":" + key))
}

func parseTenantCursor(c string) (string, uint, bool) {
	if c == "" {
		return "", 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, false
	}
	idText, key, ok := strings.Cut(string(b), ":")
	id, err := strconv.ParseUint(idText, 10, 32)
	if !ok || err != nil || !utf8.ValidString(key) {
		return "", 0, false
	}
	return key, uint(id), true
}
