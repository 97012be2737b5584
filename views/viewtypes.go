package views

// The types below are views' own copies of what the portal shows from the build and the diff
// engines (workers/bundle): handlers convert (web/viewmodels.go), so views imports nothing that
// runs at or builds for the edge.

// Problem is one thing wrong with a save, as the editor shows it.
type Problem struct {
	File    string // as uploaded; "" when the problem is about the whole upload
	Line    int    // 1-based; 0 when unknown
	Column  int    // 1-based, in characters; 0 when unknown
	Message string // in words a tenant can act on
	Kind    string // the machine name (too_large, bad_name, syntax, …)
}

// FileDiff is one file of a diff between two versions.
type FileDiff struct {
	Name   string
	Status string // added, removed, modified or unchanged
	Hunks  []DiffHunk
}

// DiffHunk is one "@@ -OldStart,OldLines +NewStart,NewLines @@" block.
type DiffHunk struct {
	OldStart, OldLines int
	NewStart, NewLines int
	Lines              []DiffLine
}

// DiffLine is one line of a hunk.
type DiffLine struct {
	Kind  byte // '+' added, '-' removed, ' ' context
	Text  string
	OldNo int // 0 for an added line
	NewNo int // 0 for a removed line
}
