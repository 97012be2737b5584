package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// restrictDataDir makes the data dir and everything in it the operator's
// alone (directories 0700, files 0600): versions before 2026-12 created the
// database, config.capnp (with the ingest token) and the emulator's state
// world-readable. Symbolic links are left as they are.
func restrictDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("CLAW_DATA_DIR: unable to create %s: %w", dir, err)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o600)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			return nil
		case d.IsDir():
			mode = 0o700
		case !d.Type().IsRegular():
			return nil // the async-trace fifo is created 0600 already
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm()&^mode != 0 {
			if err := os.Chmod(p, info.Mode().Perm()&mode); err != nil {
				return fmt.Errorf("CLAW_DATA_DIR: unable to restrict %s: %w", p, err)
			}
		}
		return nil
	})
}
