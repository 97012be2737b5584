package web

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// maxHourlyRange bounds an hourly usage query (744 buckets); longer ranges are asked by the day,
// up to models.MaxUsageRange.
const maxHourlyRange = 31 * 24 * time.Hour

type usageBucketOut struct {
	Start           time.Time `json:"start"`
	Requests        int64     `json:"requests"`
	Paid            int64     `json:"paid"`
	RevenueAtomic   string    `json:"revenue_atomic"`
	Errors          int64     `json:"errors"`
	LimitHits       int64     `json:"limit_hits"`
	Challenges      int64     `json:"challenges"`
	PaymentFailures int64     `json:"payment_failures"`
	Subrequests     int64     `json:"subrequests"`
	CPUMs           float64   `json:"cpu_ms"`
	P50Ms           float64   `json:"p50_ms"`
	P95Ms           float64   `json:"p95_ms"`
	P99Ms           float64   `json:"p99_ms"`
}

func bucketOut(b *models.UsageBucket) usageBucketOut {
	return usageBucketOut{Start: b.Start.UTC(), Requests: b.Requests, Paid: b.Paid, RevenueAtomic: b.RevenueAtomic, Errors: b.Errors,
		LimitHits: b.LimitHits, Challenges: b.Challenges, PaymentFailures: b.PaymentFailures, Subrequests: b.Subrequests, CPUMs: b.CPUMs,
		P50Ms: b.P50(), P95Ms: b.P95(), P99Ms: b.P99()}
}

type usageRevenueOut struct {
	Network   string `json:"network"`
	Simulated bool   `json:"simulated"`
	Payments  int64  `json:"payments"`
	Atomic    string `json:"revenue_atomic"`
}

type usageCountOut struct {
	Code  string `json:"code"`
	Count int64  `json:"count"`
}

type usageOut struct {
	App             string            `json:"app"`
	From            time.Time         `json:"from"`
	To              time.Time         `json:"to"`
	Granularity     string            `json:"granularity"`
	Route           string            `json:"route"`
	Buckets         []usageBucketOut  `json:"buckets"`
	Total           usageBucketOut    `json:"total"`
	Routes          []string          `json:"routes"`
	Revenue         []usageRevenueOut `json:"revenue"`
	Errors          []usageCountOut   `json:"errors"`
	PaymentFailures []usageCountOut   `json:"payment_failures"`
}

func countsOut(in []models.CodeCount) []usageCountOut {
	out := make([]usageCountOut, len(in))
	for i, c := range in {
		out[i] = usageCountOut{c.Code, c.Count}
	}
	return out
}

func badQuery(field, msg string) error {
	return &apiError{Status: fiber.StatusBadRequest, Code: "invalid_query", Message: msg, Field: field}
}

// parseUsageTime reads from or to: an RFC 3339 time or a UTC date (2026-01-02).
func parseUsageTime(field, v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Time{}, badQuery(field, field+" must be an RFC 3339 time (2026-01-02T15:00:00Z) or a date (2026-01-02).")
}

// usageAPIQuery turns the query string into a usage query: granularity hour (default; range
// at most 31 days, default the last 24 hours) or day (at most 400 days, default the last 30);
// each problem is a 400 naming the parameter.
func (s *Server) usageAPIQuery(c *fiber.Ctx, a *models.App, now time.Time) (models.UsageQuery, error) {
	q := models.UsageQuery{AppIDs: []uint{a.ID}}
	span, step, limit := 24*time.Hour, time.Hour, maxHourlyRange
	switch g := c.Query("granularity"); g {
	case "", "hour":
		q.Granularity = models.Hourly
	case "day":
		q.Granularity, span, step, limit = models.Daily, 30*24*time.Hour, 24*time.Hour, models.MaxUsageRange
	default:
		return q, badQuery("granularity", "granularity must be hour or day.")
	}
	q.To = now.UTC().Truncate(step).Add(step)
	fromSet := false
	if v := c.Query("to"); v != "" {
		t, err := parseUsageTime("to", v)
		if err != nil {
			return q, err
		}
		q.To = t
	}
	if v := c.Query("from"); v != "" {
		t, err := parseUsageTime("from", v)
		if err != nil {
			return q, err
		}
		q.From, fromSet = t, true
	}
	if !fromSet {
		q.From = q.To.Add(-span)
	}
	if !q.To.After(q.From) {
		return q, badQuery("from", "from must be before to.")
	}
	if q.To.Sub(q.From) > limit {
		if q.Granularity == models.Hourly {
			return q, badQuery("from", "An hourly range is at most 31 days; ask for longer ranges with granularity=day (up to 400 days).")
		}
		return q, badQuery("from", "A range is at most 400 days.")
	}
	route := c.Query("route")
	if route != "" {
		if len(route) > maxRouteParam {
			return q, badQuery("route", "The route is too long.")
		}
		ok, err := s.store.UsageRouteKnown(c.UserContext(), a.ID, route)
		if err != nil {
			return q, err
		}
		if !ok {
			return q, badQuery("route", "The app has no route "+strconv.Quote(route)+" and no usage for one; name it as the dispatcher does, like \"GET /path\".")
		}
		q.Route = route
	}
	return q, nil
}

// wantsCSV reports whether the client asked for CSV (Accept: text/csv).
func wantsCSV(c *fiber.Ctx) bool {
	for _, part := range strings.Split(c.Get(fiber.HeaderAccept), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(mt), "text/csv") {
			return true
		}
	}
	return false
}

// apiUsage is GET /api/v1/apps/{slug}/usage?from=&to=&granularity=hour|day&route=: one bucket
// per hour or UTC day of the range (empty ones included), their total and the breakdowns by
// network, error code and payment failure reason; CSV with Accept: text/csv.
func (s *Server) apiUsage(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	q, err := s.usageAPIQuery(c, a, time.Now())
	if err != nil {
		return err
	}
	rep, err := s.store.Usage(c.UserContext(), q)
	if errors.Is(err, models.ErrUsageRange) {
		return badQuery("from", err.Error())
	}
	if err != nil {
		return err
	}
	if wantsCSV(c) {
		usageCSV(csvHeaders(c, "usage-"+a.Slug+".csv"), rep)
		return nil
	}
	out := usageOut{App: a.Slug, From: rep.Query.From, To: rep.Query.To, Granularity: string(rep.Query.Granularity), Route: rep.Query.Route,
		Buckets: make([]usageBucketOut, len(rep.Buckets)), Total: bucketOut(&rep.Total), Routes: rep.Routes,
		Revenue: make([]usageRevenueOut, len(rep.Revenue)), Errors: countsOut(rep.Errors), PaymentFailures: countsOut(rep.Failures)}
	out.Total.Start = rep.Query.From
	if out.Routes == nil {
		out.Routes = []string{}
	}
	for i := range rep.Buckets {
		out.Buckets[i] = bucketOut(&rep.Buckets[i])
	}
	for i, r := range rep.Revenue {
		out.Revenue[i] = usageRevenueOut{r.Network, r.Simulated, r.Payments, r.Atomic}
	}
	return c.JSON(out)
}

type paymentOut struct {
	ID           uint      `json:"id"`
	At           time.Time `json:"at"`
	Route        string    `json:"route"`
	Payer        string    `json:"payer"`
	AmountAtomic string    `json:"amount_atomic"`
	Amount       string    `json:"amount"`
	Network      string    `json:"network"`
	Result       string    `json:"result"`
	Success      bool      `json:"success"`
	Simulated    bool      `json:"simulated"`
	Transaction  string    `json:"transaction"`
	ExplorerURL  string    `json:"explorer_url"`
}

type paymentsOut struct {
	Payments   []paymentOut `json:"payments"`
	NextCursor *string      `json:"next_cursor"`
}

// paymentAmount is a ledger amount in the network's units ("0.25 USDC"), or the atomic amount
// on a network the portal does not know.
func paymentAmount(p models.Payment) string {
	if n, ok := x402.NetworkByCAIP2(p.Network); ok {
		return x402.FormatAmount(p.Amount, n.Decimals) + " USDC"
	}
	return p.Amount
}

// apiPayments is GET /api/v1/apps/{slug}/payments?cursor=&limit=: the payments ledger, newest
// first, by id cursor (next_cursor is null on the last page). With Accept: text/csv, the whole
// ledger from the cursor on, as /apps/{slug}/payments.csv writes it.
func (s *Server) apiPayments(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	var before uint
	if v := c.Query("cursor"); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return badQuery("cursor", "cursor must be the next_cursor of an earlier page.")
		}
		before = uint(n)
	}
	limit := 100
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badQuery("limit", "limit must be a number from 1 to 1000.")
		}
		limit = n
	}
	if wantsCSV(c) {
		return s.paymentsCSV(c, a, before)
	}
	rows, next, err := s.store.PaymentsBefore(c.UserContext(), a.ID, before, limit)
	if err != nil {
		return err
	}
	out := paymentsOut{Payments: make([]paymentOut, len(rows))}
	for i, p := range rows {
		out.Payments[i] = paymentOut{ID: p.ID, At: p.At.UTC(), Route: p.Route, Payer: p.Payer, AmountAtomic: p.Amount, Amount: paymentAmount(p),
			Network: p.Network, Result: views.PaymentResultText(p), Success: p.Success, Simulated: p.Simulated, Transaction: p.Transaction, ExplorerURL: explorerTx(p)}
	}
	if next != 0 {
		n := strconv.FormatUint(uint64(next), 10)
		out.NextCursor = &n
	}
	return c.JSON(out)
}
