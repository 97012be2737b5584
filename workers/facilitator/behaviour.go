package facilitator

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Behaviour makes the dev facilitator answer like a real one on a real chain: with latency
// (Base takes about 2 s to settle) and with the failures a payer or a network produces. The
// zero value answers at once and never fails, which is what `make run` wants.
type Behaviour struct {
	VerifyDelay time.Duration
	SettleDelay time.Duration
	// Faults are injected per payment, each at its rate (0–1). Which payments get a fault is
	// decided by the payment's nonce, so a payment that is retried meets the same fault.
	Faults map[Fault]float64
	// HangFor is how long a FaultTimeout answer takes; default 30 s (longer than the
	// dispatcher waits).
	HangFor time.Duration
}

// Fault is one way a facilitator can fail.
type Fault string

const (
	// FaultInsufficientFunds: verify and settle refuse the payment, as a facilitator that checks
	// the payer's balance does.
	FaultInsufficientFunds Fault = "insufficient_funds"
	// FaultPending: the first settle of a payment answers settlement_pending (broadcast, not yet
	// confirmed) with its transaction; settling the same payment again succeeds with that
	// transaction, as the reference's pending-settlement recovery does.
	FaultPending Fault = "settlement_pending"
	// FaultTimeout: settle answers only after HangFor.
	FaultTimeout Fault = "timeout"
	// FaultServerError: verify and settle answer 503.
	FaultServerError Fault = "5xx"
)

// Reason codes of the faults, as real facilitators report them.
const (
	ReasonInsufficientFunds = "insufficient_funds"
	ReasonPending           = "settlement_pending"
)

var faultOrder = []Fault{FaultInsufficientFunds, FaultPending, FaultTimeout, FaultServerError}

// ParseFaults reads "settlement_pending:0.2,insufficient_funds:0.05,timeout:0.01,5xx:0.01".
func ParseFaults(s string) (map[Fault]float64, error) {
	out := map[Fault]float64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	known := map[Fault]bool{}
	for _, f := range faultOrder {
		known[f] = true
	}
	for _, part := range strings.Split(s, ",") {
		name, rate, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, fmt.Errorf("%q: write fault:rate, like settlement_pending:0.2", part)
		}
		f := Fault(strings.TrimSpace(name))
		if !known[f] {
			return nil, fmt.Errorf("unknown fault %q (known: insufficient_funds, settlement_pending, timeout, 5xx)", name)
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(rate), 64)
		if err != nil || r < 0 || r > 1 {
			return nil, fmt.Errorf("%q: the rate must be a number from 0 to 1", part)
		}
		out[f] = r
	}
	total := 0.0
	for _, r := range out {
		total += r
	}
	if total > 1 {
		return nil, fmt.Errorf("the fault rates add up to %.2f, more than 1", total)
	}
	return out, nil
}

// String is the form ParseFaults reads.
func (b Behaviour) String() string {
	var parts []string
	for _, f := range faultOrder {
		if r := b.Faults[f]; r > 0 {
			parts = append(parts, fmt.Sprintf("%s:%g", f, r))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// faultFor picks the payment's fault: the nonce hashes to a point in [0, 1), and the faults
// take consecutive slices of that interval by their rates.
func (b Behaviour) faultFor(key string) Fault {
	if len(b.Faults) == 0 {
		return ""
	}
	sum := sha256.Sum256([]byte("402claw-dev-facilitator-fault:" + key))
	x := float64(binary.BigEndian.Uint64(sum[:8])>>11) / float64(1<<53)
	edge := 0.0
	for _, f := range faultOrder {
		edge += b.Faults[f]
		if x < edge {
			return f
		}
	}
	return ""
}

// pendingSet remembers payments whose settle answered settlement_pending.
type pendingSet struct {
	mu   sync.Mutex
	seen map[string]string // nonce key → transaction
}

func (p *pendingSet) take(key string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tx, ok := p.seen[key]
	return tx, ok
}

func (p *pendingSet) put(key, tx string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[string]string{}
	}
	p.seen[key] = tx
}
