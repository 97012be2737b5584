package views

import (
	"strconv"
	"strings"
)

// editorLines marks, per line of the editor's code, whether a problem points at it.
func editorLines(code string, problems []Problem, file string) []bool {
	n := strings.Count(code, "\n") + 1
	if n > 20000 {
		n = 20000
	}
	bad := make([]bool, n)
	for _, p := range problems {
		if p.File == file && p.Line >= 1 && p.Line <= n {
			bad[p.Line-1] = true
		}
	}
	return bad
}

func anyChange(files []FileDiff) bool {
	for _, f := range files {
		if f.Status != "unchanged" {
			return true
		}
	}
	return false
}

func diffClass(k byte) string {
	switch k {
	case '+':
		return "add"
	case '-':
		return "del"
	}
	return "ctx"
}

func lineNo(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// editorRows sizes a file's textarea: its lines, within bounds.
func editorRows(code string) string {
	n := strings.Count(code, "\n") + 2
	return strconv.Itoa(min(max(n, 6), 30))
}

func editorLabel(f EditorFile) string {
	if f.Name == "" {
		return "Code of a new file"
	}
	return "Code of " + f.Name
}

// fileIndex is the editor slot of the file named name (-1 when none is).
func fileIndex(files []EditorFile, name string) int {
	for i, f := range files {
		if f.Name == name {
			return i
		}
	}
	return -1
}
