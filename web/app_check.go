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
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	up, err := readUpload(c)
	if err == nil {
		plan, perr := s.store.PlanByKey(c.UserContext(), currentUser(c).Tenant.PlanKey)
		if perr != nil {
			return perr
		}
		_, err = bundle.Build(up.Files, up.Main, planLimits(plan))
	}
	problems := []checkProblem{}
	var be *bundle.Error
	switch {
	case err == nil:
	case errors.As(err, &be):
		if be.Has(bundle.KindNoMain) {
			if vs, err := s.store.Versions(c.UserContext(), a.ID); err == nil && len(vs) > 0 {
				explainNoMain(be, up, vs[0].MainModule)
			}
		}
		for i, msg := range up.Unnamed {
			problems = append(problems, checkProblem{Slot: i, Kind: "bad_name", Message: msg})
		}
		for _, pr := range be.Problems {
			if pr.Kind == "bad_name" && pr.File == "" && len(up.Unnamed) > 0 {
				continue // said on the nameless files themselves
			}
			problems = append(problems, checkProblem{Slot: up.slotOf(pr), File: pr.File, Line: pr.Line, Column: pr.Column, Kind: pr.Kind, Message: pr.Message})
		}
	default:
		return err
	}
	return c.JSON(fiber.Map{"ok": len(problems) == 0, "problems": problems})
}
