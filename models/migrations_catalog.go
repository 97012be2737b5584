package models

import (
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// catalogUpdateWhen is, per table, when an UPDATE can change what the public catalog lists
// (Store.Catalog): any change of a route; of the app fields it shows or filters on (a deploy of
// an app that is already deployed changes none of them); of a tenant's status.
func catalogUpdateWhen(table, distinct string) string {
	var conds []string
	switch table {
	case "apps":
		for _, c := range []string{"tenant_id", "slug", "name", "status", "description", "tags", "icon_url", "listed"} {
			conds = append(conds, fmt.Sprintf("OLD.%s %s NEW.%s", c, distinct, c))
		}
		conds = append(conds, "(OLD.deployed_version_id IS NULL) <> (NEW.deployed_version_id IS NULL)",
			"(OLD.sync_state = 'deleting') <> (NEW.sync_state = 'deleting')")
	case "tenants":
		conds = append(conds, "OLD.status "+distinct+" NEW.status")
	default:
		return ""
	}
	return strings.Join(conds, " OR ")
}

// Version 82: catalog_versions holds one counter that database triggers raise on every change
// that can change the public catalog, so a process keeps the catalog in memory and knows it is
// current by reading one row (models/consumers_catalog.go). Triggers, not application code:
// every writer is covered, raw SQL and other replicas included.
func init() {
	register(Migration{Version: 82, Name: "catalog_version", Up: func(tx *gorm.DB) error {
		stmts := []string{
			`CREATE TABLE catalog_versions (id INTEGER PRIMARY KEY, version BIGINT NOT NULL)`,
			`INSERT INTO catalog_versions (id, version) VALUES (1, 1)`,
		}
		pg := tx.Dialector.Name() == "postgres"
		if pg {
			// The conditions are in the functions' bodies, read when they run: the listing
			// columns of apps come with a later migration (85).
			for _, table := range []string{"routes", "apps", "tenants"} {
				cond := "TRUE"
				if w := catalogUpdateWhen(table, "IS DISTINCT FROM"); w != "" {
					cond = "TG_OP <> 'UPDATE' OR " + w
				}
				stmts = append(stmts, fmt.Sprintf(`CREATE FUNCTION claw_catalog_bump_%s() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF %s THEN
    UPDATE catalog_versions SET version = version + 1 WHERE id = 1;
  END IF;
  RETURN NULL;
END $$`, table, cond))
			}
		}
		for _, table := range []string{"routes", "apps", "tenants"} {
			for _, op := range []string{"INSERT", "UPDATE", "DELETE"} {
				name := fmt.Sprintf("claw_catalog_%s_%s", table, strings.ToLower(op))
				if pg {
					stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER %s AFTER %s ON %s FOR EACH ROW EXECUTE FUNCTION claw_catalog_bump_%s()`,
						name, op, table, table))
					continue
				}
				when := ""
				if w := catalogUpdateWhen(table, "IS NOT"); op == "UPDATE" && w != "" {
					when = " WHEN " + w
				}
				stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER %s AFTER %s ON %s%s BEGIN UPDATE catalog_versions SET version = version + 1 WHERE id = 1; END`,
					name, op, table, when))
			}
		}
		for _, s := range stmts {
			if err := tx.Exec(s).Error; err != nil {
				return fmt.Errorf("%w: %s", err, s)
			}
		}
		return nil
	}})
}
