package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web/reqctx"
	"github.com/gofiber/fiber/v2"
)

// Bounds of one telemetry post. The dispatcher batches events (a few hundred bytes each) and
// posts a batch at a time; its batches stay well inside these.
const (
	maxIngestBytes  = 1 << 20
	maxIngestEvents = 1000
)

// ingestEvent is one event as workers/dispatcher/telemetry.js builds it, plus the payment
// fields of the paywall. Unknown fields are ignored: the dispatcher may add fields before the
// portal learns them, and losing a whole batch over one would lose payments.
type ingestEvent struct {
	TS               *float64 `json:"ts"` // ms since the epoch (Date.now())
	App              string   `json:"app"`
	WorkerName       string   `json:"worker_name"`
	Route            string   `json:"route"`
	Method           string   `json:"method"`
	Host             string   `json:"host"`
	StatusCode       int      `json:"status_code"`
	ErrorCode        string   `json:"error_code"`
	PaymentRequired  bool     `json:"payment_required"`
	PaymentSuccess   bool     `json:"payment_success"`
	SettlementResult string   `json:"settlement_result"`
	VerifyResult     string   `json:"verify_result"`
	Payer            string   `json:"payer"`
	Nonce            string   `json:"nonce"`
	Amount           string   `json:"amount"`
	Network          string   `json:"network"`
	Transaction      string   `json:"transaction"`
	Simulated        bool     `json:"simulated"`
	CPUMs            *float64 `json:"cpu_ms"`
	Subrequests      *float64 `json:"subrequests"`
	DurationMs       float64  `json:"duration_ms"`
	Served           *bool    `json:"served"`
}

// ingestSettlement is one record of the PaymentLock's settlement outbox
// (workers/dispatcher/outbox.js): a payment the facilitator settled.
type ingestSettlement struct {
	TS          *float64 `json:"ts"`
	App         string   `json:"app"`
	Route       string   `json:"route"`
	Payer       string   `json:"payer"`
	Nonce       string   `json:"nonce"`
	Amount      string   `json:"amount"`
	Network     string   `json:"network"`
	Transaction string   `json:"transaction"`
	Simulated   bool     `json:"simulated"`
	// Success is false for a pending or failed settlement (settlement_result says which);
	// absent (older dispatchers) means settled.
	Success          *bool  `json:"success"`
	SettlementResult string `json:"settlement_result"`
}

// cut bounds a string to its column size: the sender is trusted, but a bug there must not
// make the database refuse the batch.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// stamp reads a dispatcher timestamp. Events more than a day off the portal's clock are stamped
// on arrival, so a bad clock cannot write into rollups of hours long gone or far ahead.
func stamp(ms *float64, now time.Time) time.Time {
	if ms != nil {
		t := time.UnixMilli(int64(*ms)).UTC()
		if t.After(now.Add(-24*time.Hour)) && t.Before(now.Add(time.Hour)) {
			return t
		}
	}
	return now
}

func (e ingestEvent) model(now time.Time) models.TelemetryEvent {
	ts := stamp(e.TS, now)
	m := models.TelemetryEvent{
		AppSlug: cut(e.App, 64), WorkerName: cut(e.WorkerName, 64), Route: cut(e.Route, 520), Method: cut(e.Method, 16),
		Host: cut(e.Host, 255), StatusCode: e.StatusCode, ErrorCode: cut(e.ErrorCode, 64),
		PaymentRequired: e.PaymentRequired, PaymentSuccess: e.PaymentSuccess, Payer: cut(e.Payer, 64), Nonce: cut(e.Nonce, 80),
		Amount: cut(e.Amount, 80), Network: cut(e.Network, 64), Transaction: cut(e.Transaction, 100),
		VerifyResult: cut(e.VerifyResult, 100), SettlementResult: cut(e.SettlementResult, 100), Simulated: e.Simulated,
		DurationMs: int64(e.DurationMs), TS: ts, Served: e.Served,
	}
	if e.CPUMs != nil && *e.CPUMs >= 0 {
		v := *e.CPUMs
		m.CPUMs = &v
	}
	if e.Subrequests != nil && *e.Subrequests >= 0 {
		v := int(*e.Subrequests)
		m.Subrequests = &v
	}
	return m
}

// model returns the settlement, or false when it cannot be a ledger row: without a nonce it
// could never be matched with its telemetry event, so it would count twice.
func (st ingestSettlement) model(now time.Time) (models.Settlement, bool) {
	if st.App == "" || st.Nonce == "" || st.Network == "" {
		return models.Settlement{}, false
	}
	return models.Settlement{
		AppSlug: cut(st.App, 64), Route: cut(st.Route, 520), Payer: cut(st.Payer, 64), Nonce: cut(st.Nonce, 80),
		Amount: cut(st.Amount, 80), Network: cut(st.Network, 64), Transaction: cut(st.Transaction, 100),
		Simulated: st.Simulated, Unpaid: st.Success != nil && !*st.Success, Result: cut(st.SettlementResult, 100), At: stamp(st.TS, now),
	}, true
}

// ingestAuthorized compares the bearer secret in constant time. Both sides are hashed first
// so that the comparison does not leak the secret's length either. It runs twice per post:
// before the body is read (bodyPolicyFor: without the token a post may send no body) and here.
func (s *Server) ingestAuthorized(c *fiber.Ctx) bool {
	return s.ingestTokenOK(c.Get(fiber.HeaderAuthorization))
}

func (s *Server) ingestTokenOK(authorization string) bool {
	want := s.opts.IngestToken
	if want == "" {
		return false
	}
	scheme, tok, ok := strings.Cut(authorization, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	a, b := sha256.Sum256([]byte(strings.TrimSpace(tok))), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// ingestTelemetry is POST /internal/telemetry: the dispatcher's request events
// ({"events":[…]}) and the PaymentLock's settlement records ({"settlements":[…]}), one or both
// per post. Events of requests the tenant's worker saw are stored raw; everything else is
// counted; settlements become ledger rows, deduplicated by (network, nonce). A 2xx tells the
// outbox that its records are safe: it deletes them. It sits outside sessions and CSRF; the
// shared bearer secret is its only credential. Errors are JSON for the sender.
func (s *Server) ingestTelemetry(c *fiber.Ctx) error {
	fail := func(status int, code, msg string) error {
		return c.Status(status).JSON(fiber.Map{"error": fiber.Map{"code": code, "message": msg}})
	}
	if s.opts.IngestToken == "" {
		return fail(fiber.StatusServiceUnavailable, "ingest_disabled", "Telemetry ingest is not configured on this portal (no ingest token).")
	}
	if !s.ingestAuthorized(c) {
		return fail(fiber.StatusUnauthorized, "unauthorized", "Send the ingest token: Authorization: Bearer <token>.")
	}
	body := c.Body()
	if len(body) > maxIngestBytes {
		return fail(fiber.StatusRequestEntityTooLarge, "too_large", "Send at most 1 MiB per request.")
	}
	var in struct {
		Events      []ingestEvent      `json:"events"`
		Settlements []ingestSettlement `json:"settlements"`
		Logs        []ingestLog        `json:"logs"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil {
		return fail(fiber.StatusBadRequest, "bad_request", `Send {"events":[…]} or {"settlements":[…]} as JSON.`)
	}
	if len(in.Events)+len(in.Settlements)+len(in.Logs) > maxIngestEvents {
		return fail(fiber.StatusRequestEntityTooLarge, "too_many_events", "Send at most 1000 events, settlements and log records per request.")
	}
	if countLogLines(in.Logs) > maxIngestLogLines {
		return fail(fiber.StatusRequestEntityTooLarge, "too_many_lines", "Send at most 20000 log lines per request.")
	}
	now := time.Now().UTC()
	batch := models.TelemetryBatch{Events: make([]models.TelemetryEvent, len(in.Events))}
	for i, e := range in.Events {
		batch.Events[i] = e.model(now)
		s.measureCPU(&batch.Events[i])
	}
	invalid := 0
	for _, st := range in.Settlements {
		m, ok := st.model(now)
		if !ok {
			// Acknowledged all the same: a record the portal can never store must not
			// stay in the outbox forever.
			invalid++
			continue
		}
		batch.Settlements = append(batch.Settlements, m)
	}
	if invalid > 0 {
		s.log.Warn("telemetry ingest: settlements without app, network or nonce dropped", "request_id", reqctx.RequestID(c), "count", invalid)
	}
	res, err := s.store.IngestTelemetry(c.UserContext(), batch)
	if err != nil {
		s.log.Error("telemetry ingest failed", "request_id", reqctx.RequestID(c), "events", len(batch.Events), "settlements", len(batch.Settlements), "err", err)
		return fail(fiber.StatusInternalServerError, "internal", "The events could not be stored; retry.")
	}
	logs, err := s.storeLogs(c, in.Logs, now)
	if err != nil {
		// The events are stored: a retry would count them twice. Log lines are best effort.
		s.log.Error("log ingest failed", "request_id", reqctx.RequestID(c), "records", len(in.Logs), "err", err)
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"stored": res.Events, "counted": res.Counted, "dropped": res.Dropped + invalid,
		"payments": res.Payments, "duplicates": res.Duplicates, "log_lines": logs.Stored, "log_lines_dropped": logs.Dropped})
}

// measureCPU puts the local runtime's measurement of a served request's JS time into its event:
// workerd enforces no CPU limit and the dispatcher cannot see the tenant's CPU time, but the
// runtime reads it from workerd's trace. On Cloudflare the event keeps what the edge sent.
func (s *Server) measureCPU(e *models.TelemetryEvent) {
	take := s.opts.EdgeInfo.RequestCPU
	if take == nil || e.CPUMs != nil || e.WorkerName == "" || e.Served == nil || !*e.Served {
		return
	}
	if d, ok := take(e.WorkerName); ok {
		ms := float64(d) / float64(time.Millisecond)
		e.CPUMs = &ms
	}
}
