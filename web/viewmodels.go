package web

import (
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/workers/bundle"
)

// Handlers give views small structs of their own (views imports neither workers nor
// models/x402); the conversions from the engines' types live here.

// viewProblems converts the build's problems for the editor.
func viewProblems(ps []bundle.Problem) []views.Problem {
	if ps == nil {
		return nil
	}
	out := make([]views.Problem, len(ps))
	for i, p := range ps {
		out[i] = viewProblem(p)
	}
	return out
}

func viewProblem(p bundle.Problem) views.Problem {
	return views.Problem{File: p.File, Line: p.Line, Column: p.Column, Message: p.Message, Kind: p.Kind}
}

// viewDiff compares the sources of two versions for the diff view.
func viewDiff(oldFiles, newFiles map[string]string) []views.FileDiff {
	files := bundle.Diff(oldFiles, newFiles)
	out := make([]views.FileDiff, len(files))
	for i, f := range files {
		vf := views.FileDiff{Name: f.Name, Status: f.Status}
		for _, h := range f.Hunks {
			vh := views.DiffHunk{OldStart: h.OldStart, OldLines: h.OldLines, NewStart: h.NewStart, NewLines: h.NewLines}
			for _, l := range h.Lines {
				vh.Lines = append(vh.Lines, views.DiffLine{Kind: l.Kind, Text: l.Text, OldNo: l.OldNo, NewNo: l.NewNo})
			}
			vf.Hunks = append(vf.Hunks, vh)
		}
		out[i] = vf
	}
	return out
}
