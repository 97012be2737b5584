package views

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
)

// Chart geometry, in the SVG's own units (it scales to its box).
const (
	chartW, chartH         = 640, 220
	chartLeft, chartRight  = 60, 12
	chartTop, chartBottom  = 14, 40
	chartPlotW, chartPlotH = chartW - chartLeft - chartRight, chartH - chartTop - chartBottom
	chartBarFill           = 0.7 // share of a bucket's band its bar takes
	chartMaxXLabels        = 8
	usageRevenueDecimals   = models.RevenueDecimals
	chartPatternDots       = "dots"
	chartPatternHatch      = "hatch"
	chartPatternCrossHatch = "cross"
	chartPatternSolid      = ""
	chartSeriesRequests    = "requests"
	chartSeriesPaid        = "paid"
	chartSeriesRevenue     = "revenue"
	chartSeriesErrors      = "errors"
	chartSeriesLimitHits   = "limit-hits"
)

// Chart is one series of a usage report drawn as bars over its buckets.
type Chart struct {
	ID      string // unique on the page: "chart-requests"
	Series  string // requests, paid, revenue, errors, limit-hits (CSS class and pattern)
	Title   string // "Requests"
	Unit    string // what one value counts: "requests", "USDC"
	Pattern string // fill pattern, so that series differ without colour
	Bars    []ChartBar
	YTicks  []ChartTick
	XTicks  []ChartTick
	Total   string // the series' total, formatted
	Empty   bool   // no value above zero in the range
	Range   string // "between … and …", for the empty state
}

// ChartBar is one bucket's bar: its box and its tooltip.
type ChartBar struct {
	X, Y, W, H float64
	Label      string // the bucket, "2026-12-05 14:00 UTC"
	Value      string // formatted value with its unit
}

// ChartTick is a labelled position on an axis.
type ChartTick struct {
	Pos   float64 // y for the y axis, x for the x axis
	Label string
}

func (b ChartBar) Tooltip() string { return b.Label + ": " + b.Value }

func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// niceCeil is the smallest 1, 2 or 5 × 10^k at or above v (at least 1 for counts).
func niceCeil(v float64, integer bool) float64 {
	if v <= 0 {
		return 1
	}
	if integer && v < 1 {
		v = 1
	}
	exp := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*exp >= v*(1-1e-12) {
			c := m * exp
			if integer && c < 2 && v > 1 {
				c = 2
			}
			return c
		}
	}
	return 10 * exp
}

// fmtValue formats a chart value: counts as integers, USDC with up to 6 decimals.
func fmtValue(v float64, unit string) string {
	if unit == "USDC" {
		s := strconv.FormatFloat(v, 'f', usageRevenueDecimals, 64)
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		return s + " USDC"
	}
	return fmt.Sprintf("%d %s", int64(math.Round(v)), unit)
}

// fmtTick is an axis label: no unit, as short as it can be.
func fmtTick(v float64, unit string) string {
	if unit == "USDC" {
		s := strconv.FormatFloat(v, 'f', usageRevenueDecimals, 64)
		return strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return strconv.FormatInt(int64(math.Round(v)), 10)
}

// BucketLabel names a bucket for tooltips and the data table.
func BucketLabel(t time.Time, g models.Granularity) string {
	if g == models.Daily {
		return t.UTC().Format("2006-01-02")
	}
	return t.UTC().Format("2006-01-02 15:04") + " UTC"
}

func axisLabel(t time.Time, g models.Granularity) string {
	if g == models.Daily {
		return t.UTC().Format("Jan 2")
	}
	return t.UTC().Format("15:04")
}

// RevenueUSDC is an atomic USDC amount as a float, for drawing only (tables show the exact
// decimal).
func RevenueUSDC(atomic string) float64 {
	v, err := strconv.ParseFloat(models.FormatRevenue(atomic), 64)
	if err != nil {
		return 0
	}
	return v
}

// USDC formats an atomic amount exactly: "0.01 USDC".
func USDC(atomic string) string {
	if atomic == "" {
		atomic = "0"
	}
	return models.FormatRevenue(atomic) + " USDC"
}

// NewChart lays one series of a report out as bars.
func NewChart(id, series, title, unit, pattern string, rep *models.UsageReport, value func(*models.UsageBucket) float64) Chart {
	c := Chart{ID: id, Series: series, Title: title, Unit: unit, Pattern: pattern}
	g := rep.Query.Granularity
	n := len(rep.Buckets)
	c.Range = "between " + BucketLabel(rep.Query.From, g) + " and " + BucketLabel(rep.Query.To, g)
	var maxV, total float64
	vals := make([]float64, n)
	for i := range rep.Buckets {
		vals[i] = value(&rep.Buckets[i])
		if vals[i] > maxV {
			maxV = vals[i]
		}
		total += vals[i]
	}
	if unit == "USDC" {
		c.Total = USDC(rep.Total.RevenueAtomic)
	} else {
		c.Total = fmtValue(total, unit)
	}
	c.Empty = maxV <= 0
	if c.Empty || n == 0 {
		return c
	}
	top := niceCeil(maxV, unit != "USDC")
	for _, f := range []float64{0, 0.5, 1} {
		c.YTicks = append(c.YTicks, ChartTick{Pos: chartTop + chartPlotH*(1-f), Label: fmtTick(top*f, unit)})
	}
	band := float64(chartPlotW) / float64(n)
	every := (n + chartMaxXLabels - 1) / chartMaxXLabels
	for i, b := range rep.Buckets {
		h := vals[i] / top * chartPlotH
		bar := ChartBar{X: chartLeft + band*float64(i) + band*(1-chartBarFill)/2, W: band * chartBarFill, H: h, Y: chartTop + chartPlotH - h,
			Label: BucketLabel(b.Start, g), Value: fmtValue(vals[i], unit)}
		if unit == "USDC" {
			bar.Value = USDC(b.RevenueAtomic)
		}
		c.Bars = append(c.Bars, bar)
		if i%every == 0 {
			c.XTicks = append(c.XTicks, ChartTick{Pos: chartLeft + band*(float64(i)+0.5), Label: axisLabel(b.Start, g)})
		}
	}
	return c
}

// UsageCharts are the five charts of a usage page.
func UsageCharts(rep *models.UsageReport) []Chart {
	return []Chart{
		NewChart("chart-requests", chartSeriesRequests, "Requests", "requests", chartPatternSolid, rep, func(b *models.UsageBucket) float64 { return float64(b.Requests) }),
		NewChart("chart-paid", chartSeriesPaid, "Paid calls", "paid calls", chartPatternDots, rep, func(b *models.UsageBucket) float64 { return float64(b.Paid) }),
		NewChart("chart-revenue", chartSeriesRevenue, "Revenue", "USDC", chartPatternSolid, rep, func(b *models.UsageBucket) float64 { return RevenueUSDC(b.RevenueAtomic) }),
		NewChart("chart-errors", chartSeriesErrors, "Errors", "errors", chartPatternHatch, rep, func(b *models.UsageBucket) float64 { return float64(b.Errors) }),
		NewChart("chart-limit-hits", chartSeriesLimitHits, "Limit hits", "limit hits", chartPatternCrossHatch, rep, func(b *models.UsageBucket) float64 { return float64(b.LimitHits) }),
	}
}

func (c Chart) fill() string {
	if c.Pattern == "" {
		return "currentColor"
	}
	return "url(#" + c.ID + "-" + c.Pattern + ")"
}

func (c Chart) viewBox() string { return fmt.Sprintf("0 0 %d %d", chartW, chartH) }

func bucketWord(g models.Granularity) string {
	if g == models.Daily {
		return "day"
	}
	return "hour"
}

func lower(s string) string { return strings.ToLower(s) }

// PaymentResultText is a ledger row's outcome in words, as the Payments tab shows it.
func PaymentResultText(p models.Payment) string { return paymentResult(p) }
