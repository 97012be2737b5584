package models

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// searchedColumns are the columns the admin tenant search looks into
// (tenant_search.go), by table. The indexes follow every write by themselves
// (a GIN index on PostgreSQL, triggers on SQLite), so no store method has to
// remember them.
var searchedColumns = []struct {
	table   string
	columns []string
}{
	{"tenants", []string{"slug", "name"}},
	{"users", []string{"email"}},
	{"apps", []string{"slug", "name"}},
	{"routes", []string{"pay_to"}},
}

// Version 65: substring search for the admin tenant list. PostgreSQL: pg_trgm
// GIN indexes on each searched column (ILIKE '%…%' uses them). SQLite: one
// FTS5 table with the trigram tokenizer per searched table, external content
// kept in step by triggers. Plus indexes for the list's sort orders.
func init() {
	register(Migration{Version: 65, Name: "tenant_search", Up: func(tx *gorm.DB) error {
		switch DialectOf(tx) {
		case Postgres:
			if err := trigramIndexes(tx); err != nil {
				return err
			}
		default:
			for _, s := range searchedColumns {
				if err := ftsTable(tx, s.table, s.columns); err != nil {
					return err
				}
			}
		}
		for _, stmt := range []string{
			`CREATE INDEX idx_tenants_lower_name ON tenants (LOWER(name), id)`,
			`CREATE INDEX idx_tenants_plan_key ON tenants (plan_key, id DESC)`,
			`CREATE INDEX idx_tenants_status ON tenants (status)`,
			`CREATE INDEX idx_subscriptions_status ON subscriptions (status)`,
		} {
			if err := tx.Exec(stmt).Error; err != nil {
				return err
			}
		}
		return nil
	}})
}

// trigramIndexes creates pg_trgm (unless a database owner already did, in
// any schema) and a GIN trigram index per searched column. The operator
// class is named with the extension's schema: the portal's search_path may
// not include it.
func trigramIndexes(tx *gorm.DB) error {
	var schema string
	find := `SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'`
	if err := tx.Raw(find).Scan(&schema).Error; err != nil {
		return err
	}
	if schema == "" {
		if err := tx.Exec(`CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public`).Error; err != nil {
			return fmt.Errorf("the tenant search needs the pg_trgm extension (run CREATE EXTENSION pg_trgm once as a role allowed to): %w", err)
		}
		if err := tx.Raw(find).Scan(&schema).Error; err != nil {
			return err
		}
	}
	ops := `"` + strings.ReplaceAll(schema, `"`, `""`) + `".gin_trgm_ops`
	for _, s := range searchedColumns {
		for _, c := range s.columns {
			stmt := fmt.Sprintf(`CREATE INDEX idx_%s_%s_trgm ON %s USING gin (%s %s)`, s.table, c, s.table, c, ops)
			if err := tx.Exec(stmt).Error; err != nil {
				return err
			}
		}
	}
	return nil
}

// ftsTable creates <table>_fts over columns with the trigram tokenizer, the
// triggers that keep it in step with the table, and fills it.
func ftsTable(tx *gorm.DB, table string, columns []string) error {
	fts := table + "_fts"
	cols := strings.Join(columns, ", ")
	vals := func(row string) string {
		var out []string
		for _, c := range columns {
			out = append(out, row+"."+c)
		}
		return strings.Join(out, ", ")
	}
	del := fmt.Sprintf(`INSERT INTO %s(%s, rowid, %s) VALUES ('delete', old.id, %s);`, fts, fts, cols, vals("old"))
	ins := fmt.Sprintf(`INSERT INTO %s(rowid, %s) VALUES (new.id, %s);`, fts, cols, vals("new"))
	for _, stmt := range []string{
		fmt.Sprintf(`CREATE VIRTUAL TABLE %s USING fts5(%s, content='%s', content_rowid='id', tokenize='trigram')`, fts, cols, table),
		fmt.Sprintf(`CREATE TRIGGER %s_ai AFTER INSERT ON %s BEGIN %s END`, fts, table, ins),
		fmt.Sprintf(`CREATE TRIGGER %s_ad AFTER DELETE ON %s BEGIN %s END`, fts, table, del),
		fmt.Sprintf(`CREATE TRIGGER %s_au AFTER UPDATE OF %s ON %s BEGIN %s %s END`, fts, cols, table, del, ins),
		fmt.Sprintf(`INSERT INTO %s(%s) VALUES ('rebuild')`, fts, fts),
	} {
		if err := tx.Exec(stmt).Error; err != nil {
			return fmt.Errorf("%s: %w", fts, err)
		}
	}
	return nil
}
