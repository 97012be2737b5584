package workers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cloudflare/cloudflare-go/v4/option"
)

// On Cloudflare the dispatcher writes one Workers Analytics Engine data point per request (its
// ANALYTICS binding; workers/dispatcher/telemetry.js toDataPoint) instead of posting events to
// the portal; the portal reads them back on a schedule through the Analytics Engine SQL API:
//
//	POST /accounts/{account}/analytics_engine/sql   body: the SQL text   answer: JSON rows
//
// The dataset's columns, as the dispatcher fills them:
//
//	index1   app slug (the sampling key)
//	blob1–14 app, tenant id, worker name, route, method, error code, settlement result, egress
//	         host, verify result, payer, amount (atomic units), network, transaction, nonce
//	double1–8 status code, payment required (0/1), payment success (0/1), CPU ms, subrequests,
//	         duration ms, served by the tenant (0/1), simulated settlement (0/1)
//
// blob14 and double8 are empty and 0 in rows of dispatchers older than them.
//
// Analytics Engine samples under load: each row stands for _sample_interval requests, so counts
// are sums of _sample_interval, never row counts.

// AnalyticsEvent is one data point read back, in the telemetry event's field names (the JSON the
// portal's ingest reads) plus the weight Analytics Engine gave it.
type AnalyticsEvent struct {
	TS               time.Time `json:"-"`
	App              string    `json:"app"`
	TenantID         string    `json:"tenant_id"`
	WorkerName       string    `json:"worker_name"`
	Route            string    `json:"route"`
	Method           string    `json:"method"`
	ErrorCode        string    `json:"error_code"`
	SettlementResult string    `json:"settlement_result"`
	Host             string    `json:"host"`
	VerifyResult     string    `json:"verify_result"`
	Payer            string    `json:"payer"`
	Amount           string    `json:"amount"`
	Network          string    `json:"network"`
	Transaction      string    `json:"transaction"`
	Nonce            string    `json:"nonce"`
	Simulated        bool      `json:"simulated"`
	StatusCode       int       `json:"status_code"`
	PaymentRequired  bool      `json:"payment_required"`
	PaymentSuccess   bool      `json:"payment_success"`
	CPUMs            float64   `json:"cpu_ms"`
	Subrequests      float64   `json:"subrequests"`
	DurationMs       float64   `json:"duration_ms"`
	Served           bool      `json:"served"`
	// SampleInterval is how many requests this row stands for (1 when unsampled).
	SampleInterval int64 `json:"sample_interval"`
}

var datasetName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// AnalyticsQuery is the SQL that reads the data points of [from, to): a closed window, so that
// the next read starts exactly where this one ended whatever the second-granular timestamps.
func AnalyticsQuery(dataset string, from, to time.Time, limit int) (string, error) {
	if !datasetName.MatchString(dataset) {
		return "", fmt.Errorf("analytics: dataset name %q: use letters, digits and underscores", dataset)
	}
	return fmt.Sprintf(`SELECT timestamp, _sample_interval, index1, blob1, blob2, blob3, blob4, blob5, blob6, blob7, blob8, blob9, blob10, blob11, blob12, blob13, blob14, double1, double2, double3, double4, double5, double6, double7, double8 FROM %s WHERE timestamp >= toDateTime(%d) AND timestamp < toDateTime(%d) ORDER BY timestamp LIMIT %d FORMAT JSON`,
		dataset, from.Unix(), to.Unix(), limit), nil
}

// ErrWindowFull means a window held at least the query's limit of rows: read it in halves.
var ErrWindowFull = fmt.Errorf("analytics: the window holds more rows than one query returns")

// AnalyticsEvents reads the data points of [from, to). A window with limit rows or more is
// ErrWindowFull (the caller splits it), so no row is ever skipped at a page boundary.
func (c *Cloudflare) AnalyticsEvents(ctx context.Context, dataset string, from, to time.Time, limit int) ([]AnalyticsEvent, error) {
	sql, err := AnalyticsQuery(dataset, from, to, limit)
	if err != nil {
		return nil, err
	}
	body, err := c.raw(ctx, http.MethodPost, c.accountPath("analytics_engine/sql"), option.WithRequestBody("text/plain", []byte(sql)))
	if err != nil {
		return nil, fmt.Errorf("analytics: unable to query %s: %w", dataset, err)
	}
	events, rows, err := ParseAnalytics(body)
	if err != nil {
		return nil, err
	}
	if rows >= limit {
		return nil, ErrWindowFull
	}
	return events, nil
}

// ParseAnalytics reads an SQL API answer (FORMAT JSON). Numbers may come as JSON numbers or as
// strings (ClickHouse writes 64-bit integers as strings); both are accepted.
func ParseAnalytics(body []byte) ([]AnalyticsEvent, int, error) {
	var ans struct {
		Data []map[string]json.RawMessage `json:"data"`
		Rows *int                         `json:"rows"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, 0, fmt.Errorf("analytics: the answer is not JSON rows: %w", err)
	}
	if ans.Rows == nil {
		return nil, 0, fmt.Errorf("analytics: the answer has no row count: %.200s", body)
	}
	out := make([]AnalyticsEvent, 0, len(ans.Data))
	for i, row := range ans.Data {
		s := func(k string) string {
			var v string
			if json.Unmarshal(row[k], &v) != nil {
				return ""
			}
			return v
		}
		n := func(k string) float64 {
			raw := row[k]
			var f float64
			if json.Unmarshal(raw, &f) == nil {
				return f
			}
			var str string
			if json.Unmarshal(raw, &str) == nil {
				f, _ = strconv.ParseFloat(str, 64)
			}
			return f
		}
		ts, err := time.ParseInLocation("2006-01-02 15:04:05", s("timestamp"), time.UTC)
		if err != nil {
			return nil, 0, fmt.Errorf("analytics: row %d: timestamp %q", i, s("timestamp"))
		}
		e := AnalyticsEvent{
			TS: ts, App: s("blob1"), TenantID: s("blob2"), WorkerName: s("blob3"), Route: s("blob4"), Method: s("blob5"),
			ErrorCode: s("blob6"), SettlementResult: s("blob7"), Host: s("blob8"), VerifyResult: s("blob9"), Payer: s("blob10"),
			Amount: s("blob11"), Network: s("blob12"), Transaction: s("blob13"), Nonce: s("blob14"), Simulated: n("double8") == 1,
			StatusCode: int(n("double1")), PaymentRequired: n("double2") == 1, PaymentSuccess: n("double3") == 1,
			CPUMs: n("double4"), Subrequests: n("double5"), DurationMs: n("double6"), Served: n("double7") == 1,
			SampleInterval: int64(n("_sample_interval")),
		}
		if e.App == "" {
			e.App = s("index1")
		}
		if e.SampleInterval < 1 {
			e.SampleInterval = 1
		}
		e.Method = strings.ToUpper(e.Method)
		out = append(out, e)
	}
	return out, *ans.Rows, nil
}
