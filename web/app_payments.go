package web

import (
	"strconv"

	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// paymentsPerPage is the ledger's page size.
const paymentsPerPage = 50

func (s *Server) appPayments(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	page, _ := strconv.Atoi(c.Query("page"))
	if page < 1 || page > 1_000_000 {
		page = 1
	}
	ledger, err := s.store.Payments(c.UserContext(), a.ID, page, paymentsPerPage)
	if err != nil {
		return err
	}
	rev, err := s.store.RevenueByRoute(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	return render(c, views.PaymentsPage(s.navPage(c, a.Name+" · Payments", "apps"), views.PaymentsTab{Header: s.appHeader(a), Ledger: ledger, Rows: viewPayments(ledger.List), Revenue: viewRevenue(rev)}))
}
