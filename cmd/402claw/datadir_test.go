package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestRestrictDataDir: L6. A data dir left by an older version (0755, files
// 0644: the database and config.capnp with the ingest token) is made private.
func TestRestrictDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	os.MkdirAll(filepath.Join(dir, "workerd"), 0o755)
	os.Chmod(dir, 0o755)
	files := []string{"402claw.db", "workerd/config.capnp", "ingest.token"}
	for _, f := range files {
		os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644)
		os.Chmod(filepath.Join(dir, f), 0o644)
	}
	os.Symlink("/etc/hostname", filepath.Join(dir, "link"))
	if err := restrictDataDir(dir); err != nil {
		t.Fatal(err)
	}
	for _, p := range append(files, ".", "workerd") {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v after restrictDataDir", p, st.Mode().Perm())
		}
	}
	if st, _ := os.Stat("/etc/hostname"); st != nil && st.Mode().Perm()&0o044 == 0 {
		t.Error("a symbolic link's target was changed")
	}
}
