package main

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestImportRules checks the direction of imports ARCHITECTURE.md describes, over the
// non-test files of every package of the module: models imports none of web, workers and
// views; views imports none of web, workers and models/x402 (handlers give it view models);
// workers does not import web or views; and no package
// outside models, except cmd's wiring and modeltest, imports gorm.
func TestImportRules(t *testing.T) {
	const mod = "github.com/402claw/402claw/"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []struct {
		pkg, imports string
	}{
		{"models", "web"}, {"models", "workers"}, {"models", "views"},
		{"views", "web"}, {"views", "workers"}, {"views", "models/x402"},
		{"workers", "web"}, {"workers", "views"},
	}
	under := func(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }
	gormAllowed := []string{"models", "cmd"}
	checked := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if name := d.Name(); p != root && (name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".")) {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(p, 0)
		if err != nil {
			return nil // no Go files here
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		checked++
		for _, imp := range pkg.Imports {
			if strings.HasPrefix(imp, "gorm.io/") && !under(rel, gormAllowed[0]) && !under(rel, gormAllowed[1]) {
				t.Errorf("%s imports %s: only models talks to the database", rel, imp)
			}
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			target := strings.TrimPrefix(imp, mod)
			for _, f := range forbidden {
				if under(rel, f.pkg) && under(target, f.imports) {
					t.Errorf("%s imports %s: %s must not import %s", rel, target, f.pkg, f.imports)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("only %d packages found under %s", checked, root)
	}
}
