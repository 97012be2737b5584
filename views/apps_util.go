package views

import (
	"strconv"
	"strings"

	"github.com/402claw/402claw/workers/bundle"
)

// editorLines marks, per line of the editor's code, whether a problem points at it.
func editorLines(code string, problems []bundle.Problem, file string) []bool {
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

func anyChange(files []bundle.FileDiff) bool {
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
