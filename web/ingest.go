package web

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/gofiber/fiber/v2"
)

// Bounds of one telemetry post. The dispatcher sends one event per request (a few hundred
// bytes); a batching forwarder stays well inside these.
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
}

// cut bounds a string to its column size: the sender is trusted, but a bug there must not
// make the database refuse the batch.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

func (e ingestEvent) model(now time.Time) models.TelemetryEvent {
	ts := now
	// Events more than a day off the portal's clock are stamped on arrival, so a bad clock
	// cannot write into rollups of hours long gone or far ahead.
	if e.TS != nil {
		t := time.UnixMilli(int64(*e.TS)).UTC()
		if t.After(now.Add(-24*time.Hour)) && t.Before(now.Add(time.Hour)) {
			ts = t
		}
	}
	m := models.TelemetryEvent{
		AppSlug: cut(e.App, 64), WorkerName: cut(e.WorkerName, 64), Route: cut(e.Route, 520), Method: cut(e.Method, 16),
		Host: cut(e.Host, 255), StatusCode: e.StatusCode, ErrorCode: cut(e.ErrorCode, 64),
		PaymentRequired: e.PaymentRequired, PaymentSuccess: e.PaymentSuccess, Payer: cut(e.Payer, 64), Nonce: cut(e.Nonce, 80),
		Amount: cut(e.Amount, 80), Network: cut(e.Network, 64), Transaction: cut(e.Transaction, 100),
		VerifyResult: cut(e.VerifyResult, 100), SettlementResult: cut(e.SettlementResult, 100), Simulated: e.Simulated,
		DurationMs: int64(e.DurationMs), TS: ts,
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

// ingestTelemetry is POST /internal/telemetry: the dispatcher's events, stored raw, with the
// payments ledger and hourly rollups derived in the same transaction. It sits outside sessions
// and CSRF; the shared bearer secret is its only credential. Errors are JSON for the sender.
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
		Events []ingestEvent `json:"events"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&in); err != nil {
		return fail(fiber.StatusBadRequest, "bad_request", `Send {"events":[…]} as JSON.`)
	}
	if len(in.Events) > maxIngestEvents {
		return fail(fiber.StatusRequestEntityTooLarge, "too_many_events", "Send at most 1000 events per request.")
	}
	now := time.Now().UTC()
	events := make([]models.TelemetryEvent, len(in.Events))
	for i, e := range in.Events {
		events[i] = e.model(now)
	}
	res, err := s.store.IngestTelemetry(c.UserContext(), events)
	if err != nil {
		s.log.Error("telemetry ingest failed", "request_id", c.Locals(localRequestID), "events", len(events), "err", err)
		return fail(fiber.StatusInternalServerError, "internal", "The events could not be stored; retry.")
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"stored": res.Events, "payments": res.Payments})
}
