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

// Favicon is the portal's icon (SVG), served at /favicon.svg and /favicon.ico;
// the edge dispatcher carries a copy for its own root.
//
//go:embed favicon.svg
var Favicon []byte

// FS serves the embedded files.
func FS() http.FileSystem { return http.FS(files) }

// Files is the raw embedded tree.
func Files() fs.FS { return files }
