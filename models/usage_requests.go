package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// RequestFilter narrows an app's recent requests (raw telemetry events, kept for the telemetry
// retention). Empty fields match everything.
type RequestFilter struct {
	Route   string
	Status  string // "500" or a class, "5xx"
	Error   string // an error code, e.g. worker_exception
	Payment string // paid, unpaid (a 402 challenge), failed, free
	Payer   string // an address, any case
	Before  uint   // cursor: events older than this id
	Limit   int
}

// RequestPayments are the payment filters of the recent-requests log.
var RequestPayments = []string{"paid", "unpaid", "failed", "free"}

// MaxRequestPage bounds a page of the recent-requests log.
const MaxRequestPage = 200

// ErrRequestFilter is a filter value the log cannot use; its message names the field.
var ErrRequestFilter = errors.New("bad filter")

// Check validates the filter, naming the first bad field.
func (f RequestFilter) Check() error {
	if f.Status != "" {
		ok := len(f.Status) == 3 && f.Status[0] >= '1' && f.Status[0] <= '5'
		if ok && !strings.HasSuffix(f.Status, "xx") {
			_, err := strconv.Atoi(f.Status)
			ok = err == nil
		}
		if !ok {
			return fmt.Errorf("%w: status must be a code like 404 or a class like 5xx", ErrRequestFilter)
		}
	}
	if f.Payment != "" {
		found := false
		for _, p := range RequestPayments {
			found = found || p == f.Payment
		}
		if !found {
			return fmt.Errorf("%w: payment must be paid, unpaid, failed or free", ErrRequestFilter)
		}
	}
	if len(f.Route) > 520 || len(f.Error) > 64 || len(f.Payer) > 64 {
		return fmt.Errorf("%w: a filter is too long", ErrRequestFilter)
	}
	return nil
}

// RecentRequests returns a page of an app's requests, newest first, and the cursor of the next
// older page (0: none).
func (s *Store) RecentRequests(ctx context.Context, appID uint, f RequestFilter) ([]TelemetryEvent, uint, error) {
	if err := f.Check(); err != nil {
		return nil, 0, err
	}
	if f.Limit <= 0 || f.Limit > MaxRequestPage {
		f.Limit = 50
	}
	q := s.db.WithContext(ctx).Where("app_id = ?", appID)
	if f.Route != "" {
		q = q.Where("route = ?", f.Route)
	}
	if f.Status != "" {
		if strings.HasSuffix(f.Status, "xx") {
			c := int(f.Status[0]-'0') * 100
			q = q.Where("status_code >= ? AND status_code < ?", c, c+100)
		} else {
			n, _ := strconv.Atoi(f.Status)
			q = q.Where("status_code = ?", n)
		}
	}
	if f.Error != "" {
		q = q.Where("error_code = ?", f.Error)
	}
	switch f.Payment {
	case "paid":
		q = q.Where("payment_success = ?", true)
	case "unpaid":
		q = q.Where("payment_required = ? AND payment_success = ? AND status_code = 402", true, false)
	case "failed":
		q = q.Where("payment_required = ? AND payment_success = ? AND status_code <> 402", true, false)
	case "free":
		q = q.Where("payment_required = ?", false)
	}
	if f.Payer != "" {
		q = q.Where("LOWER(payer) = ?", strings.ToLower(f.Payer))
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	var rows []TelemetryEvent
	if err := q.Order("id DESC").Limit(f.Limit + 1).Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("store: unable to read requests: %w", err)
	}
	var next uint
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		next = rows[len(rows)-1].ID
	}
	return rows, next, nil
}

// PaymentResult names what happened to a request's payment, for logs and exports.
func (e *TelemetryEvent) PaymentResult() string {
	switch {
	case !e.PaymentRequired:
		return "free"
	case e.PaymentSuccess:
		return "paid"
	case e.StatusCode == 402 && e.VerifyResult == "":
		return "unpaid (402)"
	case e.SettlementResult != "":
		return "failed: " + e.SettlementResult
	case e.VerifyResult != "":
		return "refused: " + e.VerifyResult
	}
	return "failed"
}
