package web

import (
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

// audit records an action; a failure is logged, never shown.
func (s *Server) audit(c *fiber.Ctx, actor *uint, action, target, detail string) {
	if err := s.store.Audit(c.UserContext(), actor, action, target, detail, s.clientIP(c)); err != nil {
		s.log.Error("audit write failed", "request_id", reqctx.RequestID(c), "action", action, "err", err)
	}
}
