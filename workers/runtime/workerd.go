package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrWorkerdMissing is returned by FindWorkerd when no workerd binary exists.
var ErrWorkerdMissing = errors.New("runtime: workerd not found: run `npm ci` in the repository root to install it (node_modules/.bin/workerd, pinned in package.json)")

// FindWorkerd looks for node_modules/.bin/workerd in the given directories,
// then in the working directory and its parents, then in $CLAW_WORKERD.
func FindWorkerd(repoRootHints ...string) (string, error) {
	if p := os.Getenv("CLAW_WORKERD"); p != "" {
		if isExecutable(p) {
			return p, nil
		}
		return "", fmt.Errorf("runtime: CLAW_WORKERD=%s is not an executable file", p)
	}
	dirs := append([]string{}, repoRootHints...)
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			dirs = append(dirs, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "node_modules", ".bin", "workerd")
		if isExecutable(p) {
			return filepath.Abs(p)
		}
	}
	return "", ErrWorkerdMissing
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
