package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// routeIn is one route of PUT /api/v1/apps/{slug}/routes, as DESIGN §8 spells it.
type routeIn struct {
	Method  string `json:"method"`
	Path    string `json:"path"`
	Access  string `json:"access"`
	Price   string `json:"price"`
	Network string `json:"network"`
	PayTo   string `json:"pay_to"`
	// PayToDefault (or an empty pay_to) pays the tenant's default payout wallet of the network.
	PayToDefault  bool   `json:"pay_to_default"`
	Settle        string `json:"settle"`
	RefuseSeconds *int   `json:"refuse_seconds"`
	Description   string `json:"description"`
	MimeType      string `json:"mime_type"`
	// Discovery data: JSON values (the input example is an object of query parameters for
	// GET-like routes, the body otherwise; the schema is JSON Schema 2020-12).
	BodyType      string          `json:"body_type"`
	InputExample  json.RawMessage `json:"input_example"`
	InputSchema   json.RawMessage `json:"input_schema"`
	OutputExample json.RawMessage `json:"output_example"`
	Limits        *limitsIn       `json:"limits"`
}

// limitsIn are a route's per-caller limits; an absent field is no limit, a zero or negative
// one is refused (422 naming it).
type limitsIn struct {
	RatePerSecond       *int   `json:"rate_per_second"`
	RatePerMinute       *int   `json:"rate_per_minute"`
	Burst               *int   `json:"burst"`
	DailyQuota          *int   `json:"daily_quota"`
	MonthlyQuota        *int   `json:"monthly_quota"`
	DailySpendCap       string `json:"daily_spend_cap"`
	ChallengesPerMinute *int   `json:"challenges_per_minute"`
}

func (l *limitsIn) input() models.LimitsInput {
	if l == nil {
		return models.LimitsInput{}
	}
	n := func(p *int) string {
		if p == nil {
			return ""
		}
		return strconv.Itoa(*p)
	}
	return models.LimitsInput{RatePerSecond: n(l.RatePerSecond), RatePerMinute: n(l.RatePerMinute), Burst: n(l.Burst),
		DailyQuota: n(l.DailyQuota), MonthlyQuota: n(l.MonthlyQuota), DailySpendCap: l.DailySpendCap, ChallengesPerMinute: n(l.ChallengesPerMinute)}
}

// limitsOut is what GET answers: the same fields, the spend cap in USDC (it reads back as the
// same amount).
type limitsOut struct {
	RatePerSecond       int    `json:"rate_per_second,omitempty"`
	RatePerMinute       int    `json:"rate_per_minute,omitempty"`
	Burst               int    `json:"burst,omitempty"`
	DailyQuota          int    `json:"daily_quota,omitempty"`
	MonthlyQuota        int    `json:"monthly_quota,omitempty"`
	DailySpendCap       string `json:"daily_spend_cap,omitempty"`
	ChallengesPerMinute int    `json:"challenges_per_minute,omitempty"`
}

// rawText is a JSON value of the request as text for validation ("" when absent or null).
func rawText(m json.RawMessage) string {
	if s := strings.TrimSpace(string(m)); s != "null" {
		return s
	}
	return ""
}

func rawOrNil(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// routeOut is a stored route: the input fields normalized, plus what the portal resolved
// (atomic amount, asset, EIP-712 domain) and whether the route can ever match.
type routeOut struct {
	ID            uint            `json:"id"`
	Method        string          `json:"method"`
	Path          string          `json:"path"`
	Access        string          `json:"access"`
	Price         string          `json:"price,omitempty"`
	Amount        string          `json:"amount,omitempty"`
	Network       string          `json:"network,omitempty"`
	NetworkName   string          `json:"network_name,omitempty"`
	Asset         string          `json:"asset,omitempty"`
	EIP712Name    string          `json:"eip712_name,omitempty"`
	EIP712Version string          `json:"eip712_version,omitempty"`
	PayTo         string          `json:"pay_to,omitempty"`
	PayToDefault  bool            `json:"pay_to_default,omitempty"`
	Settle        string          `json:"settle"`
	RefuseSeconds *int            `json:"refuse_seconds,omitempty"`
	Description   string          `json:"description"`
	MimeType      string          `json:"mime_type"`
	BodyType      string          `json:"body_type,omitempty"`
	InputExample  json.RawMessage `json:"input_example,omitempty"`
	InputSchema   json.RawMessage `json:"input_schema,omitempty"`
	OutputExample json.RawMessage `json:"output_example,omitempty"`
	Limits        *limitsOut      `json:"limits,omitempty"`
	Warning       string          `json:"warning,omitempty"`
}

func routesToJSON(rs []models.Route, settled map[string]string) []routeOut {
	warn := map[int]string{}
	for _, w := range models.RouteWarnings(rs) {
		warn[w.Index] = w.Message
	}
	out := make([]routeOut, len(rs))
	for i, r := range rs {
		o := routeOut{ID: r.ID, Method: r.Method, Path: r.Path, Access: r.Access, Settle: r.Settle,
			Description: r.Description, MimeType: r.MimeType, Warning: warn[i], BodyType: r.BodyType,
			InputExample: rawOrNil(r.InputExample), InputSchema: rawOrNil(r.InputSchema), OutputExample: rawOrNil(r.OutputExample)}
		if l := r.RouteLimits; l.Any() {
			o.Limits = &limitsOut{RatePerSecond: l.RatePerSecond, RatePerMinute: l.RatePerMinute, Burst: l.Burst,
				DailyQuota: l.DailyQuota, MonthlyQuota: l.MonthlyQuota, ChallengesPerMinute: l.ChallengesPerMinute}
			if l.DailySpendCap != "" {
				o.Limits.DailySpendCap = x402.FormatAmount(l.DailySpendCap, decimalsOf(r.Network))
			}
		}
		if o.Method == "" {
			o.Method = "*"
		}
		if r.Access == models.AccessX402 {
			o.Price, o.Amount, o.Network, o.PayTo, o.PayToDefault = r.Price, r.Amount, r.Network, r.PayTo, r.PayToDefault
			o.RefuseSeconds = r.RefuseSeconds
			if r.Settle == models.SettleOptimistic && o.Warning == "" {
				o.Warning = views.OptimisticRisk
			}
			if n, ok := x402.NetworkByCAIP2(r.Network); ok {
				o.NetworkName, o.Asset, o.EIP712Name, o.EIP712Version = n.Name, n.Asset, n.EIP712Name, n.EIP712Version
				if msg := unsettledNetwork(settled, r); msg != "" && o.Warning == "" {
					o.Warning = msg
				}
			}
		}
		out[i] = o
	}
	return out
}

func (s *Server) apiRoutes(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	rs, err := s.store.Routes(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	return c.JSON(routesToJSON(rs, s.settledBy(c.UserContext())))
}

// apiRoutesPut replaces an app's routes, all or nothing. The answer is the stored list as a
// bare array, the same shape as the request.
func (s *Server) apiRoutesPut(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	var in []routeIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in == nil {
		return newAPIError(fiber.StatusBadRequest, "bad_request", "Send a JSON array of routes ([] removes them all).")
	}
	inputs := make([]models.RouteInput, len(in))
	for i, r := range in {
		refuse := ""
		if r.RefuseSeconds != nil {
			refuse = strconv.Itoa(*r.RefuseSeconds)
		}
		inputs[i] = models.RouteInput{Method: r.Method, Path: r.Path, Access: r.Access, Price: r.Price, Network: r.Network,
			PayTo: r.PayTo, PayToDefault: r.PayToDefault, Settle: r.Settle, RefuseSeconds: refuse, Description: r.Description, MimeType: r.MimeType,
			Discovery: models.DiscoveryInput{BodyType: r.BodyType, InputExample: rawText(r.InputExample),
				InputSchema: rawText(r.InputSchema), OutputExample: rawText(r.OutputExample)},
			Limits: r.Limits.input()}
	}
	routes, err := models.ValidateRoutes(inputs)
	var re *models.RouteError
	if errors.As(err, &re) {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid",
			Message: fmt.Sprintf("Route %d (index %d): %s", re.Index+1, re.Index, re.Message), Field: fmt.Sprintf("[%d].%s", re.Index, re.Field)}
	}
	if err != nil {
		return err
	}
	// A network no facilitator settles is refused, unless the app priced on it already.
	settled := s.settledBy(c.UserContext())
	had := map[string]bool{}
	if old, err := s.store.Routes(c.UserContext(), a.ID); err == nil {
		for _, r := range old {
			had[r.Network] = true
		}
	}
	for i, r := range routes {
		if msg := unsettledNetwork(settled, r); msg != "" && !had[r.Network] {
			return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid",
				Message: fmt.Sprintf("Route %d (index %d): %s", i+1, i, msg), Field: fmt.Sprintf("[%d].network", i)}
		}
	}
	stored, err := s.store.ReplaceRoutes(c.UserContext(), a, routes)
	if errors.As(err, &re) {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid",
			Message: fmt.Sprintf("Route %d (index %d): %s", re.Index+1, re.Index, re.Message), Field: fmt.Sprintf("[%d].%s", re.Index, re.Field)}
	}
	if err != nil {
		return edgeChangeAPIError(err)
	}
	s.syncNow(a)
	return c.JSON(routesToJSON(stored, settled))
}

type egressIn struct {
	Allow []string `json:"allow"`
}

type egressOut struct {
	Allow []string `json:"allow"`
}

func egressToJSON(es []models.EgressRule) egressOut {
	out := egressOut{Allow: make([]string, len(es))}
	for i, e := range es {
		out.Allow[i] = e.Pattern
	}
	return out
}

func (s *Server) apiEgress(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	es, err := s.store.EgressRules(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	return c.JSON(egressToJSON(es))
}

// apiEgressPut replaces an app's egress allowlist; an empty list denies all outbound requests.
func (s *Server) apiEgressPut(c *fiber.Ctx) error {
	a, err := s.apiApp(c)
	if err != nil {
		return err
	}
	var in egressIn
	if err := decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Allow == nil {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: `Send {"allow":[…]}: the hosts the app may call ([] denies all).`, Field: "allow"}
	}
	patterns, err := s.egressPolicy().ValidateEgress(in.Allow)
	var re *models.RouteError
	if errors.As(err, &re) {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: fmt.Sprintf("allow[%d]: %s", re.Index, re.Message), Field: fmt.Sprintf("allow[%d]", re.Index)}
	}
	if fe, ok := models.AsFieldError(err); ok {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: fe.Message, Field: "allow"}
	}
	if err != nil {
		return err
	}
	stored, err := s.store.ReplaceEgress(c.UserContext(), a, patterns)
	if err != nil {
		return edgeChangeAPIError(err)
	}
	s.syncNow(a)
	return c.JSON(egressToJSON(stored))
}

// edgeChangeAPIError maps the store's refusals of a route or egress change.
func edgeChangeAPIError(err error) error {
	var ple *models.PlanLimitError
	var re *models.RouteError // a plan's cap on a limit (models.EditRoutes)
	switch {
	case errors.As(err, &ple):
		return newAPIError(fiber.StatusUnprocessableEntity, "plan_limit", ple.Error())
	case errors.As(err, &re):
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid",
			Message: fmt.Sprintf("Route %d (index %d): %s", re.Index+1, re.Index, re.Message), Field: fmt.Sprintf("[%d].%s", re.Index, re.Field)}
	case errors.Is(err, models.ErrAppBusy):
		return newAPIError(fiber.StatusConflict, "app_busy", "The app is being deleted.")
	}
	if fe, ok := models.AsFieldError(err); ok {
		return &apiError{Status: fiber.StatusUnprocessableEntity, Code: "invalid", Message: fe.Message, Field: fe.Field}
	}
	return err
}
