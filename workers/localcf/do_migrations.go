package localcf

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
)

// --- Durable Object migrations ---

// migrations is metadata.migrations in either form Cloudflare takes: one step inline
// ({old_tag, new_tag, new_classes, …}) or several ({old_tag, new_tag, steps: […]}).
type migrations struct {
	OldTag string `json:"old_tag"`
	NewTag string `json:"new_tag"`
	migrationStep
	Steps []migrationStep `json:"steps"`
}

type migrationStep struct {
	NewClasses       []string `json:"new_classes"`
	NewSQLiteClasses []string `json:"new_sqlite_classes"`
	DeletedClasses   []string `json:"deleted_classes"`
	RenamedClasses   []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"renamed_classes"`
}

// apply runs the migrations on a script at tag current with classes, as Cloudflare does: only
// from the tag the script is at (10079 "Migration tag precondition failed" otherwise).
func (m *migrations) apply(current string, classes []string) (string, []string, error) {
	if m.OldTag != current {
		shown := current
		if shown == "" {
			shown = "(none)"
		}
		return "", nil, &requestError{http.StatusBadRequest, codeMigrationTag,
			fmt.Sprintf("Migration tag precondition failed; current tag is %s", shown)}
	}
	if m.NewTag == "" {
		return "", nil, badRequest("metadata.migrations needs a new_tag")
	}
	steps := m.Steps
	if len(steps) == 0 {
		steps = []migrationStep{m.migrationStep}
	} else if len(m.NewClasses)+len(m.NewSQLiteClasses)+len(m.DeletedClasses)+len(m.RenamedClasses) > 0 {
		return "", nil, badRequest("metadata.migrations has both steps and inline classes")
	}
	have := slices.Clone(classes)
	for _, st := range steps {
		for _, c := range slices.Concat(st.NewClasses, st.NewSQLiteClasses) {
			if slices.Contains(have, c) {
				return "", nil, badRequest("Cannot apply new-class migration to class %q that is already depended on by existing Durable Objects", c)
			}
			have = append(have, c)
		}
		for _, rn := range st.RenamedClasses {
			i := slices.Index(have, rn.From)
			if i < 0 || slices.Contains(have, rn.To) {
				return "", nil, badRequest("Cannot apply rename migration from %q to %q", rn.From, rn.To)
			}
			have[i] = rn.To
		}
		for _, c := range st.DeletedClasses {
			i := slices.Index(have, c)
			if i < 0 {
				return "", nil, badRequest("Cannot apply delete migration to class %q that does not exist", c)
			}
			have = slices.Delete(have, i, i+1)
		}
	}
	slices.Sort(have)
	return m.NewTag, have, nil
}

// checkDOBindings refuses a Durable Object binding to one of the script's own classes that no
// migration created: Cloudflare does not create a class from a binding.
func checkDOBindings(sc *script) error {
	for _, raw := range sc.Bindings {
		var b struct {
			Type       string `json:"type"`
			Name       string `json:"name"`
			ClassName  string `json:"class_name"`
			ScriptName string `json:"script_name"`
		}
		json.Unmarshal(raw, &b)
		if b.Type != "durable_object_namespace" || (b.ScriptName != "" && b.ScriptName != sc.Name) {
			continue
		}
		if !slices.Contains(sc.DOClasses, b.ClassName) {
			return &requestError{http.StatusBadRequest, codeDONotMigrated, fmt.Sprintf(
				"Cannot create binding for class %q because it is not currently configured to implement Durable Objects. Did you forget to apply a Durable Object migration?", b.ClassName)}
		}
	}
	return nil
}
