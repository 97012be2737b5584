package web

import (
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// csvCell defuses spreadsheet formula injection: a cell a tenant's callers can influence
// (routes, payers, error codes) that starts with = + - @, a tab or a carriage return is
// prefixed with ' so that spreadsheets show it as text.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func writeCSV(w *csv.Writer, cells ...string) {
	for i := range cells {
		cells[i] = csvCell(cells[i])
	}
	_ = w.Write(cells)
}

// explorerTx links a transaction on a real network's block explorer ("" for test money, other
// networks and simulated settlements).
func explorerTx(p models.Payment) string {
	if p.Simulated {
		return ""
	}
	return x402.TxURL(p.Network, p.Transaction)
}

func csvHeaders(c *fiber.Ctx, name string) *csv.Writer {
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return csv.NewWriter(c.Response().BodyWriter())
}

// usageCSV writes a usage report's buckets, one line per bucket.
func usageCSV(w *csv.Writer, rep models.UsageReport) {
	writeCSV(w, "bucket_start_utc", "granularity", "route", "requests", "paid", "revenue_usdc", "errors", "limit_hits", "subrequests", "cpu_ms", "p50_ms", "p95_ms", "p99_ms")
	g := string(rep.Query.Granularity)
	for _, b := range rep.Buckets {
		writeCSV(w, b.Start.UTC().Format("2006-01-02T15:04:05Z"), g, rep.Query.Route, fmt.Sprint(b.Requests), fmt.Sprint(b.Paid),
			x402.FormatAmount(b.RevenueAtomic, 6), fmt.Sprint(b.Errors), fmt.Sprint(b.LimitHits), fmt.Sprint(b.Subrequests),
			strconv.FormatFloat(b.CPUMs, 'f', 1, 64), fmt.Sprintf("%.0f", b.P50()), fmt.Sprintf("%.0f", b.P95()), fmt.Sprintf("%.0f", b.P99()))
	}
	w.Flush()
}

// usageCSVShow is /usage.csv: what /usage shows, as CSV.
func (s *Server) usageCSVShow(c *fiber.Ctx) error {
	t, err := tenantOf(c)
	if err != nil {
		return err
	}
	apps, err := s.store.Apps(c.UserContext(), t.ID)
	if err != nil {
		return err
	}
	slug := c.Query("app")
	sel, err := usageSelection(c, apps, slug)
	if err != nil {
		return err
	}
	u, err := s.usageView(c, "/usage", sel, false)
	if err != nil {
		return err
	}
	name := "usage-" + u.Range + ".csv"
	if slug != "" {
		name = "usage-" + slug + "-" + u.Range + ".csv"
	}
	usageCSV(csvHeaders(c, name), u.Report)
	return nil
}

// appUsageCSV is /apps/{slug}/usage.csv.
func (s *Server) appUsageCSV(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	u, err := s.usageView(c, "/apps/"+a.Slug+"/usage", []models.App{*a}, false)
	if err != nil {
		return err
	}
	usageCSV(csvHeaders(c, "usage-"+a.Slug+"-"+u.Range+".csv"), u.Report)
	return nil
}

// paymentsCSV writes an app's whole ledger, newest first, page by page.
// before (0: from the newest) starts it below a payments cursor.
func (s *Server) paymentsCSV(c *fiber.Ctx, a *models.App, before uint) error {
	w := csvHeaders(c, "payments-"+a.Slug+".csv")
	writeCSV(w, "at_utc", "route", "payer", "amount_atomic", "amount", "network", "result", "simulated", "transaction", "explorer_url")
	for {
		rows, next, err := s.store.PaymentsBefore(c.UserContext(), a.ID, before, 1000)
		if err != nil {
			return err
		}
		for _, p := range rows {
			writeCSV(w, p.At.UTC().Format("2006-01-02T15:04:05Z"), p.Route, p.Payer, p.Amount, paymentAmount(p), p.Network,
				views.PaymentResultText(p), strconv.FormatBool(p.Simulated), p.Transaction, explorerTx(p))
		}
		w.Flush()
		if next == 0 {
			return w.Error()
		}
		before = next
	}
}

func (s *Server) appPaymentsCSV(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	return s.paymentsCSV(c, a, 0)
}
