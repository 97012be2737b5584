package bundle

import (
	"fmt"
	"strings"
)

// MaxNameLen bounds a file name, subdirectories included. Names end up in
// multipart part names and in the version's stored sources, so they stay short.
const MaxNameLen = 128

// allowedExts are the only sources Build accepts. JSON, WASM and text modules
// are left out on purpose: the output is a single ES module and those would
// need their own module types in the Cloudflare upload.
var allowedExts = []string{".js", ".mjs", ".ts"}

// checkName reports why name cannot be an uploaded file name, or "" when it can.
//
// Subdirectories ("lib/x.js") are allowed because multi-file projects use them,
// but only in a clean form: segments of letters, digits, '.', '_' and '-',
// separated by single '/', none empty and none starting with '.'. That rules
// out "..", ".", absolute paths, backslashes and NUL without having to
// normalize anything — a name is either already clean or refused, so the name
// the user sees in an error is exactly the name they uploaded.
func checkName(name string) string {
	if name == "" {
		return "file name is empty"
	}
	if len(name) > MaxNameLen {
		return fmt.Sprintf("file name is %d characters long; at most %d are allowed", len(name), MaxNameLen)
	}
	if strings.HasPrefix(name, "/") {
		return "file name must not be an absolute path"
	}
	for _, seg := range strings.Split(name, "/") {
		switch {
		case seg == "":
			return "file name must not contain empty path segments (\"//\" or a trailing \"/\")"
		case seg == "." || seg == "..":
			return "file name must not contain \".\" or \"..\" segments"
		case seg[0] == '.':
			return "file and directory names must not start with \".\""
		}
		for _, r := range seg {
			if !nameRune(r) {
				return fmt.Sprintf("file name contains %q; use only letters, digits, '.', '_', '-' and '/' between directories", r)
			}
		}
	}
	for _, ext := range allowedExts {
		if strings.HasSuffix(name, ext) && len(name) > len(ext) && name[len(name)-len(ext)-1] != '/' {
			return ""
		}
	}
	return "only .js, .mjs and .ts files can be uploaded"
}

func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == '-'
}
