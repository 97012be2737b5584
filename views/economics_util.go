package views

import (
	"strconv"
	"strings"

	"github.com/402claw/402claw/models"
)

// fmtMicros writes micro-dollars as dollars and cents, rounded half away from zero, with
// thousands separators: $1,234.57, -$8.57.
func fmtMicros(m int64) string {
	neg := m < 0
	if neg {
		m = -m
	}
	cents := (m + 5_000) / 10_000
	s := "$" + fmtCount(cents/100) + "." + strconv.FormatInt(100+cents%100, 10)[1:]
	if neg && cents > 0 {
		return "-" + s
	}
	return s
}

// dollarsField writes micro-dollars exactly, as the settings form takes them back: 5, 0.3, 0.02.
func dollarsField(m int64) string {
	s := strconv.FormatInt(m/1_000_000, 10)
	if f := m % 1_000_000; f != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(1_000_000+f, 10)[1:], "0")
	}
	return s
}

// percentField writes basis points as a percent: 250 → 2.5.
func percentField(bps int64) string {
	s := strconv.FormatInt(bps/100, 10)
	if f := bps % 100; f != 0 {
		s += "." + strings.TrimRight(strconv.FormatInt(100+f, 10)[1:], "0")
	}
	return s
}

// EconomicsForm is the settings form's values: the saved settings, or what was typed.
func EconomicsForm(e models.EconomicsSettings) Form {
	return Form{Values: map[string]string{
		"monthly_minimum": dollarsField(e.MonthlyMinimumMicros), "included_requests": strconv.FormatInt(e.IncludedRequests, 10),
		"per_million_requests": dollarsField(e.PerMillionRequests), "included_cpu_ms": strconv.FormatInt(e.IncludedCPUMs, 10),
		"per_million_cpu_ms": dollarsField(e.PerMillionCPUMs), "platform_fee": percentField(e.PlatformFeeBps),
	}, Errors: map[string]string{}}
}
