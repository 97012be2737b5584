// Package static holds the portal's CSS, images and the vendored htmx
// (htmx.org 2.0.11 from npm, pinned; `make vendor` refreshes it).
package static

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed css js
var files embed.FS

// FS serves the embedded files.
func FS() http.FileSystem { return http.FS(files) }

// Files is the raw embedded tree.
func Files() fs.FS { return files }
