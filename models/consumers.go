package models

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/402claw/402claw/models/x402"
)

// AppListing is what consumers and agents see of an app besides its routes: the docs page, the
// llms.txt, the bazaar metadata of its 402 challenges and, when Listed, the public catalog.
type AppListing struct {
	Description string `gorm:"size:1000;not null;default:''"`
	// Tags are comma-joined (a tag never holds a comma); TagList splits them.
	Tags    string `gorm:"size:200;not null;default:''"`
	IconURL string `gorm:"size:2048;not null;default:''"`
	Listed  bool   `gorm:"not null;default:false"`
}

// TagList returns the app's tags in order.
func (l AppListing) TagList() []string {
	if l.Tags == "" {
		return nil
	}
	return strings.Split(l.Tags, ",")
}

// RouteDiscovery is what the bazaar extension of a route's 402 advertises: an example input
// (query parameters for GET, HEAD and DELETE; the body otherwise) with its JSON Schema, and an
// example output. Each is JSON text, "" when unset.
type RouteDiscovery struct {
	BodyType      string `gorm:"size:16;not null;default:''"`
	InputExample  string `gorm:"type:text;not null;default:''"`
	InputSchema   string `gorm:"type:text;not null;default:''"`
	OutputExample string `gorm:"type:text;not null;default:''"`
}

// Empty reports whether nothing is set.
func (d RouteDiscovery) Empty() bool {
	return d.InputExample == "" && d.InputSchema == "" && d.OutputExample == ""
}

// RouteLimits are the per-caller limits the edge enforces on a route before running the tenant's
// code (and before verifying a payment). Zero means no limit. The caller is the payer on x402
// routes, the API key on api_key routes and the client IP on public routes.
type RouteLimits struct {
	RatePerSecond int `gorm:"not null;default:0"`
	RatePerMinute int `gorm:"not null;default:0"`
	Burst         int `gorm:"not null;default:0"`
	// DailyQuota and MonthlyQuota count requests per API key (api_key routes).
	DailyQuota   int `gorm:"not null;default:0"`
	MonthlyQuota int `gorm:"not null;default:0"`
	// DailySpendCap is the most one payer may spend on the route per UTC day, in atomic units of
	// the route's asset (x402 routes), "" for none.
	DailySpendCap string `gorm:"size:80;not null;default:''"`
	// ChallengesPerMinute bounds the unpaid 402 challenges one client IP gets per minute.
	ChallengesPerMinute int `gorm:"not null;default:0"`
}

// Any reports whether some limit is set.
func (l RouteLimits) Any() bool { return l != RouteLimits{} }

// MaxDiscoveryBytes bounds each example and schema: they travel in every 402 challenge.
const MaxDiscoveryBytes = 16 << 10

// Service metadata rules of the bazaar spec (specs/extensions/bazaar.md, "Validation Rules").
const (
	MaxServiceNameLen = 32
	MaxTags           = 5
	MaxTagLen         = 32
	MaxIconURLLen     = 2048
)

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ValidServiceName applies the spec's serviceName rule: non-empty printable ASCII of at most 32
// characters. An app name that fails it is simply not sent (the spec's soft drop).
func ValidServiceName(s string) bool {
	return s != "" && len(s) <= MaxServiceNameLen && printableASCII(s)
}

// ValidateTags parses a comma- or newline-separated tag list as a tenant typed it. Unlike the
// spec's soft drop (for metadata arriving from strangers), a tenant gets an error naming the
// bad tag, and nothing is stored. Duplicates (case-insensitive) are dropped, first one wins.
func ValidateTags(in string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, t := range strings.FieldsFunc(in, func(r rune) bool { return r == ',' || r == '\n' }) {
		t = strings.TrimSpace(strings.TrimSuffix(t, "\r"))
		if t == "" {
			continue
		}
		if !printableASCII(t) {
			return nil, fieldErr("tags", fmt.Sprintf("Tag %q holds a control or non-ASCII character: tags are printable ASCII.", clipText(t)))
		}
		if len(t) > MaxTagLen {
			return nil, fieldErr("tags", fmt.Sprintf("Tag %q is longer than %d characters.", clipText(t), MaxTagLen))
		}
		k := strings.ToLower(t)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, t)
	}
	if len(out) > MaxTags {
		return nil, fieldErr("tags", fmt.Sprintf("Use at most %d tags (you gave %d).", MaxTags, len(out)))
	}
	return out, nil
}

var loopbackNames = map[string]bool{"localhost": true, "localhost.localdomain": true, "ip6-localhost": true, "ip6-loopback": true}

// IconURLProblem says why s breaks the spec's iconUrl rule, "" when it passes: an absolute http or
// https URL of at most 2048 characters, no userinfo, and a host (percent-decoded first) that is
// not an IP literal, an all-digit or hex number, or a loopback name.
func IconURLProblem(s string) string {
	if len(s) > MaxIconURLLen {
		return fmt.Sprintf("Use at most %d characters.", MaxIconURLLen)
	}
	if !printableASCII(s) {
		return "The URL holds a control or non-ASCII character (write international host names in punycode)."
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return "Write an absolute URL, like https://example.com/icon.png."
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "Use an https:// (or http://) URL."
	}
	if u.User != nil {
		return "The URL must not carry a user name or password."
	}
	host, err := url.PathUnescape(u.Hostname())
	if err != nil || host == "" {
		return "The URL has no valid host."
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return "Use a host name, not an IP address."
	}
	if loopbackNames[host] || strings.HasSuffix(host, ".localhost") {
		return "A localhost icon is not reachable by anyone else."
	}
	if strings.Trim(host, "0123456789.") == "" {
		return "Use a host name, not a number."
	}
	if strings.HasPrefix(host, "0x") {
		if _, err := strconv.ParseUint(host[2:], 16, 64); err == nil {
			return "Use a host name, not a number."
		}
	}
	return ""
}

// ListingInput is an app's listing as the tenant typed it on the Settings tab or sent to the API.
type ListingInput struct {
	Description string
	Tags        string
	IconURL     string
	Listed      bool
}

// ValidateListing checks a listing and returns it normalized; the error is a *FieldError.
func ValidateListing(in ListingInput) (AppListing, error) {
	desc := strings.TrimSpace(in.Description)
	if len([]rune(desc)) > 1000 || strings.ContainsFunc(desc, func(r rune) bool { return isControl(r) && r != '\n' && r != '\r' && r != '\t' }) {
		return AppListing{}, fieldErr("description", "Use at most 1000 characters of plain text.")
	}
	tags, err := ValidateTags(in.Tags)
	if err != nil {
		return AppListing{}, err
	}
	icon := strings.TrimSpace(in.IconURL)
	if icon != "" {
		if p := IconURLProblem(icon); p != "" {
			return AppListing{}, fieldErr("icon_url", p)
		}
	}
	return AppListing{Description: desc, Tags: strings.Join(tags, ","), IconURL: icon, Listed: in.Listed}, nil
}

// Body types of the bazaar spec for POST, PUT and PATCH.
var bodyTypes = map[string]bool{"json": true, "form-data": true, "text": true}

// BodyMethod reports whether a route's method sends its input in the body ("" means any method,
// which the bazaar describes as GET).
func BodyMethod(method string) bool {
	return method == "POST" || method == "PUT" || method == "PATCH"
}

// DiscoveryInput is a route's discovery data as the tenant typed it.
type DiscoveryInput struct {
	BodyType      string
	InputExample  string
	InputSchema   string
	OutputExample string
}

// ValidateDiscovery checks the discovery data of a route with that method and returns it
// normalized (compact JSON). Examples and the schema are at most 16 KiB each; the input example
// of a GET-like route is an object of query parameters; the schema is JSON Schema 2020-12 with
// local references only, and the input example must satisfy it. Errors name the field and the
// position (line and column for JSON syntax, a JSON pointer for the schema).
func ValidateDiscovery(method string, in DiscoveryInput) (RouteDiscovery, error) {
	var d RouteDiscovery
	body := BodyMethod(method)
	bt := strings.TrimSpace(in.BodyType)
	switch {
	case !body && bt != "":
		return d, fieldErr("body_type", "Only POST, PUT and PATCH routes take a body type.")
	case body && bt == "":
		bt = "json"
	case body && !bodyTypes[bt]:
		return d, fieldErr("body_type", "Choose json, form-data or text.")
	}
	ex, err := compactJSON("input_example", in.InputExample)
	if err != nil {
		return d, err
	}
	if ex != nil && (!body || bt != "text") {
		if _, ok := ex.(map[string]any); !ok {
			if !body {
				return d, fieldErr("input_example", "Write the query parameters as a JSON object, like {\"city\": \"Paris\"}.")
			}
			return d, fieldErr("input_example", "Write the example body as a JSON object (or choose the text body type).")
		}
	}
	if ex != nil && !body {
		for k, v := range ex.(map[string]any) {
			if _, ok := v.(string); !ok {
				return d, fieldErr("input_example", fmt.Sprintf("Query parameter %q must be a string: a URL carries text.", clipText(k)))
			}
		}
	}
	sch, err := compactJSON("input_schema", in.InputSchema)
	if err != nil {
		return d, err
	}
	if sch != nil {
		if err := CheckJSONSchema(sch); err != nil {
			return d, fieldErr("input_schema", err.Error())
		}
		if ex != nil {
			if err := ValidateAgainst(sch, ex); err != nil {
				return d, fieldErr("input_example", "The example does not satisfy the schema: "+err.Error())
			}
		}
	}
	out, err := compactJSON("output_example", in.OutputExample)
	if err != nil {
		return d, err
	}
	if body && (ex != nil || sch != nil) {
		d.BodyType = bt
	}
	d.InputExample, d.InputSchema, d.OutputExample = marshalOrEmpty(ex), marshalOrEmpty(sch), marshalOrEmpty(out)
	return d, nil
}

func marshalOrEmpty(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// compactJSON parses a field's JSON text (nil for blank), refusing oversize text and naming the
// line and column of a syntax error.
func compactJSON(field, s string) (any, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if len(s) > MaxDiscoveryBytes {
		return nil, fieldErr(field, fmt.Sprintf("Keep it under %d KiB (it is %d bytes): it travels in every 402 challenge.", MaxDiscoveryBytes>>10, len(s)))
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		off := int64(len(s))
		if se, ok := err.(*json.SyntaxError); ok && se.Offset > 0 {
			off = se.Offset - 1 // the offset counts the offending byte
		} else if te, ok := err.(*json.UnmarshalTypeError); ok {
			off = te.Offset
		}
		line, col := lineCol(s, off)
		return nil, fieldErr(field, fmt.Sprintf("Not valid JSON at line %d, column %d: %s.", line, col, strings.TrimPrefix(err.Error(), "json: ")))
	}
	if dec.More() {
		line, col := lineCol(s, dec.InputOffset())
		return nil, fieldErr(field, fmt.Sprintf("Not valid JSON at line %d, column %d: more than one value.", line, col))
	}
	return v, nil
}

func lineCol(s string, off int64) (int, int) {
	if off > int64(len(s)) {
		off = int64(len(s))
	}
	pre := s[:off]
	line := bytes.Count([]byte(pre), []byte("\n")) + 1
	col := int(off) - strings.LastIndexByte(pre, '\n')
	return line, col
}

// LimitCaps are the largest limits a plan lets a tenant set (0: no cap), and whether it
// withholds quotas or spend caps.
type LimitCaps struct {
	RatePerSecond int
	RatePerMinute int
	Burst         int
	DailyQuota    int
	MonthlyQuota  int
	NoQuotas      bool
	NoSpendCaps   bool
	Plan          string // the plan's name, for the messages ("" for the platform's bounds)
}

// LimitCaps are the limits p lets a tenant set: its own caps where they are below the
// platform's bounds (DefaultLimitCaps), the bounds elsewhere.
func (p Plan) LimitCaps() LimitCaps {
	c := DefaultLimitCaps
	lower := func(dst *int, v int) {
		if v > 0 && v < *dst {
			*dst = v
		}
	}
	lower(&c.RatePerSecond, p.MaxRatePerSecond)
	lower(&c.RatePerMinute, p.MaxRatePerMinute)
	lower(&c.DailyQuota, p.MaxDailyQuota)
	lower(&c.MonthlyQuota, p.MaxMonthlyQuota)
	c.NoQuotas, c.NoSpendCaps, c.Plan = p.QuotasOff, p.SpendCapsOff, p.Name
	return c
}

// CheckLimitCaps checks validated limits against a plan's caps; the error is a *FieldError
// naming the field over its cap.
func CheckLimitCaps(l RouteLimits, c LimitCaps) error {
	plan := "Your plan"
	if c.Plan != "" {
		plan = "The " + c.Plan + " plan"
	}
	for _, f := range []struct {
		field  string
		v, max int
	}{
		{"rate_per_second", l.RatePerSecond, c.RatePerSecond},
		{"rate_per_minute", l.RatePerMinute, c.RatePerMinute},
		{"burst", l.Burst, c.Burst},
		{"daily_quota", l.DailyQuota, c.DailyQuota},
		{"monthly_quota", l.MonthlyQuota, c.MonthlyQuota},
		{"challenges_per_minute", l.ChallengesPerMinute, c.RatePerMinute},
	} {
		if f.max > 0 && f.v > f.max {
			return fieldErr(f.field, fmt.Sprintf("%s allows at most %d.", plan, f.max))
		}
	}
	if c.NoQuotas && (l.DailyQuota > 0 || l.MonthlyQuota > 0) {
		field := "daily_quota"
		if l.DailyQuota == 0 {
			field = "monthly_quota"
		}
		return fieldErr(field, plan+" does not include quotas.")
	}
	if c.NoSpendCaps && l.DailySpendCap != "" {
		return fieldErr("daily_spend_cap", plan+" does not include spend caps.")
	}
	return nil
}

// DefaultLimitCaps bound what any plan may configure: the edge keeps one counter per caller, and
// larger numbers mean "no limit", which is expressed by leaving the field empty.
var DefaultLimitCaps = LimitCaps{RatePerSecond: 1000, RatePerMinute: 60000, Burst: 1000, DailyQuota: 10_000_000, MonthlyQuota: 300_000_000}

// LimitsInput is a route's limits as typed: "" leaves a limit off.
type LimitsInput struct {
	RatePerSecond, RatePerMinute, Burst, DailyQuota, MonthlyQuota, DailySpendCap, ChallengesPerMinute string
}

// ValidateLimits checks a route's limits against its access mode and the caps. A zero, negative
// or over-cap number is a *FieldError naming the field (the API answers it with 422).
func ValidateLimits(r Route, in LimitsInput, caps LimitCaps) (RouteLimits, error) {
	var l RouteLimits
	num := func(field, s string, max int, dst *int) error {
		s = strings.TrimSpace(s)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fieldErr(field, "Write a whole number, or leave it empty for no limit.")
		}
		if n <= 0 {
			return fieldErr(field, "Use a number above zero, or leave it empty for no limit.")
		}
		if max > 0 && n > max {
			return fieldErr(field, fmt.Sprintf("Your plan allows at most %d.", max))
		}
		*dst = n
		return nil
	}
	for _, f := range []struct {
		field, s string
		max      int
		dst      *int
	}{
		{"rate_per_second", in.RatePerSecond, caps.RatePerSecond, &l.RatePerSecond},
		{"rate_per_minute", in.RatePerMinute, caps.RatePerMinute, &l.RatePerMinute},
		{"burst", in.Burst, caps.Burst, &l.Burst},
		{"daily_quota", in.DailyQuota, caps.DailyQuota, &l.DailyQuota},
		{"monthly_quota", in.MonthlyQuota, caps.MonthlyQuota, &l.MonthlyQuota},
		{"challenges_per_minute", in.ChallengesPerMinute, caps.RatePerMinute, &l.ChallengesPerMinute},
	} {
		if err := num(f.field, f.s, f.max, f.dst); err != nil {
			return RouteLimits{}, err
		}
	}
	if l.Burst > 0 && l.RatePerSecond == 0 {
		return RouteLimits{}, fieldErr("burst", "A burst extends the per-second rate: set requests per second too.")
	}
	if (l.DailyQuota > 0 || l.MonthlyQuota > 0) && r.Access != AccessAPIKey {
		field := "daily_quota"
		if l.DailyQuota == 0 {
			field = "monthly_quota"
		}
		return RouteLimits{}, fieldErr(field, "Quotas count calls per API key: they apply to api_key routes only.")
	}
	if l.DailyQuota > 0 && l.MonthlyQuota > 0 && l.DailyQuota > l.MonthlyQuota {
		return RouteLimits{}, fieldErr("daily_quota", "The daily quota is above the monthly one.")
	}
	if l.ChallengesPerMinute > 0 && r.Access != AccessX402 {
		return RouteLimits{}, fieldErr("challenges_per_minute", "Unpaid challenges exist on x402 routes only.")
	}
	if s := strings.TrimSpace(in.DailySpendCap); s != "" {
		if r.Access != AccessX402 {
			return RouteLimits{}, fieldErr("daily_spend_cap", "Spend caps apply to x402 routes only.")
		}
		n, ok := x402.NetworkByCAIP2(r.Network)
		if !ok {
			return RouteLimits{}, fieldErr("daily_spend_cap", "Set the route's network first.")
		}
		amt, err := x402.ParsePrice(s, n.Decimals)
		if err != nil || strings.Trim(amt, "0") == "" {
			return RouteLimits{}, fieldErr("daily_spend_cap", "Write an amount above zero, like $5 or 5 USDC.")
		}
		l.DailySpendCap = amt
	}
	return l, nil
}
