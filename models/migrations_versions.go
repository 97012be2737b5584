package models

import (
	"encoding/json"
	"fmt"
	"sort"

	"gorm.io/gorm"
)

// Version 45: versions saved before 2026-12 recorded the bundler's output name (worker.js) as
// their main module instead of the tenant's entry file, so the Code tab opened empty and the
// next save from it lost the code. Each such version gets its entry back: the only file, or
// the most likely entry among several (EntryGuess).
func init() {
	register(Migration{Version: 45, Name: "versions_main_module", Up: func(tx *gorm.DB) error {
		type row struct {
			ID         uint
			MainModule string
			Sources    string
		}
		var rows []row
		if err := tx.Table("versions").Select("id, main_module, sources").Find(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			var sources map[string]string
			if err := json.Unmarshal([]byte(r.Sources), &sources); err != nil || len(sources) == 0 {
				continue
			}
			if _, ok := sources[r.MainModule]; ok {
				continue
			}
			names := make([]string, 0, len(sources))
			for n := range sources {
				names = append(names, n)
			}
			entry := EntryGuess(names)
			if err := tx.Table("versions").Where("id = ?", r.ID).Update("main_module", entry).Error; err != nil {
				return fmt.Errorf("version %d: %w", r.ID, err)
			}
		}
		return nil
	}})
}

// Version 62: a version keeps the source map of its bundle (workers/bundle), uploaded beside
// it and used to show stack positions in the tenant's own files. Versions saved before have
// none (NULL): their stacks keep the bundle's lines.
func init() {
	register(Migration{Version: 62, Name: "versions_source_map", Up: func(tx *gorm.DB) error {
		type version struct {
			SourceMap []byte
		}
		return tx.Table("versions").Migrator().AddColumn(&version{}, "SourceMap")
	}})
}

// EntryGuess picks the likely main module among file names: the conventional entry names
// first, then the first name in order.
func EntryGuess(names []string) string {
	if len(names) == 0 {
		return ""
	}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, want := range []string{"index.ts", "index.js", "index.mjs", "worker.ts", "worker.js", "src/index.ts", "src/index.js", "main.ts", "main.js"} {
		for _, n := range sorted {
			if n == want {
				return n
			}
		}
	}
	return sorted[0]
}
