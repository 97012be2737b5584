package web

import (
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// adminSync is /admin/sync: the sync jobs that failed or wait, and the last reconcile report.
func (s *Server) adminSync(c *fiber.Ctx) error {
	jobs, err := s.store.SyncJobs(c.UserContext(), true, 200)
	if err != nil {
		return err
	}
	last, err := s.store.LastReconcileReport(c.UserContext())
	if err != nil {
		return err
	}
	return render(c, views.AdminSyncPage(s.navPage(c, "Sync health", "admin-sync"), jobs, last))
}
