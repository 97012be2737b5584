package web

import (
	"errors"

	"github.com/402claw/402claw/workers/bundle"
	"github.com/gofiber/fiber/v2"
)

// checkProblem is one build problem as the editor marks it: slot is the file's place in the
// editor (-1 when the problem is about no file in particular).
type checkProblem struct {
	Slot    int    `json:"slot"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// appCheck is POST /apps/:slug/check: the editor sends its files as a save would, and gets the
// build's problems back as JSON, without anything being stored, so they show on their lines
// while the tenant types.
func (s *Server) appCheck(c *fiber.Ctx) error {
	if _, err := s.loadApp(c); err != nil {
		return err
	}
	up, err := readUpload(c)
	if err == nil {
		plan, perr := s.store.PlanByKey(c.UserContext(), currentUser(c).Tenant.PlanKey)
		if perr != nil {
			return perr
		}
		_, err = bundle.Build(up.Files, up.Main, bundle.Limits{MaxBundleBytes: min(plan.MaxScriptBytes, bundle.HardMaxBundleBytes)})
	}
	problems := []checkProblem{}
	var be *bundle.Error
	switch {
	case err == nil:
	case errors.As(err, &be):
		for i, msg := range up.Unnamed {
			problems = append(problems, checkProblem{Slot: i, Kind: "bad_name", Message: msg})
		}
		for _, pr := range be.Problems {
			if pr.Kind == "bad_name" && pr.File == "" && len(up.Unnamed) > 0 {
				continue // said on the nameless files themselves
			}
			slot := -1
			for i, f := range up.Editor {
				if f.Name == pr.File && pr.File != "" {
					slot = i
					break
				}
			}
			problems = append(problems, checkProblem{Slot: slot, File: pr.File, Line: pr.Line, Column: pr.Column, Kind: pr.Kind, Message: pr.Message})
		}
	default:
		return err
	}
	return c.JSON(fiber.Map{"ok": len(problems) == 0, "problems": problems})
}
