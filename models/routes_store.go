package models

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/402claw/402claw/models/x402"
	"gorm.io/gorm"
)

// RouteInput is a route as a tenant typed it, in the portal's form or the JSON API.
type RouteInput struct {
	Method  string
	Path    string
	Access  string
	Price   string
	Network string
	PayTo   string
	// PayToDefault (the API's pay_to_default) follows the tenant's default payout wallet even
	// when PayTo is given; an empty PayTo does too.
	PayToDefault bool
	Settle       string
	// RefuseSeconds is an optimistic route's refusal time: whole seconds or a duration ("90s",
	// "15m", "2h"), "" for the edge's default.
	RefuseSeconds string
	Description   string
	MimeType      string
	// Discovery and Limits are optional: left empty, the route advertises no examples and has
	// no per-caller limits.
	Discovery DiscoveryInput
	Limits    LimitsInput
}

// RouteError is a validation failure of one route of a list; Index counts from 0.
type RouteError struct {
	Index   int
	Field   string
	Message string
}

func (e *RouteError) Error() string {
	return fmt.Sprintf("route %d: %s: %s", e.Index+1, e.Field, e.Message)
}

// MaxEgressRules bounds an app's allowlist: the dispatcher passes it to the outbound worker on
// every request, and a long list is a sign of wanting "allow all", which is a different choice.
const MaxEgressRules = 50

// ValidateRoute checks one route and returns it normalized: method upper-case or "" for any,
// the path in canonical form, the price in atomic units, pay_to in EIP-55, the discovery data
// as compact JSON and the limits within DefaultLimitCaps (the plan's caps are checked when the
// routes are stored, by EditRoutes). Public and api_key routes carry no price fields. The error is a
// *FieldError naming the field.
func ValidateRoute(in RouteInput) (Route, error) {
	r, err := validateRouteCore(in)
	if err != nil {
		return Route{}, err
	}
	if r.RouteDiscovery, err = ValidateDiscovery(r.Method, in.Discovery); err != nil {
		return Route{}, err
	}
	if r.RouteLimits, err = ValidateLimits(r, in.Limits, DefaultLimitCaps); err != nil {
		return Route{}, err
	}
	return r, nil
}

func validateRouteCore(in RouteInput) (Route, error) {
	p, err := x402.ParsePattern(in.Method, in.Path)
	if err != nil {
		field := "path"
		if strings.Contains(err.Error(), "unknown method") {
			field = "method"
		}
		return Route{}, fieldErr(field, strings.TrimPrefix(err.Error(), x402.ErrInvalidPattern.Error()+": "))
	}
	r := Route{Method: p.Method, Path: p.Path}
	switch a := strings.TrimSpace(in.Access); a {
	case "", AccessPublic:
		r.Access = AccessPublic
	case AccessX402, AccessAPIKey:
		r.Access = a
	default:
		return Route{}, fieldErr("access", "Choose public, x402 or api_key.")
	}
	switch st := strings.TrimSpace(in.Settle); st {
	case "", SettleAfter:
		r.Settle = SettleAfter
	case SettleBefore, SettleOptimistic:
		r.Settle = st
	default:
		return Route{}, fieldErr("settle", "Choose after (settle once your code answered below 400), before (settle first, for side effects) or optimistic (answer at once, settle after: cheap routes).")
	}
	desc := strings.TrimSpace(in.Description)
	if !utf8.ValidString(desc) || utf8.RuneCountInString(desc) > 500 || strings.ContainsFunc(desc, isControl) {
		return Route{}, fieldErr("description", "Use at most 500 characters of plain text.")
	}
	r.Description = desc
	mt := strings.TrimSpace(in.MimeType)
	if mt != "" && !validMimeType(mt) {
		return Route{}, fieldErr("mime_type", "Write a MIME type like application/json or text/plain.")
	}
	r.MimeType = strings.ToLower(mt)
	if r.Access != AccessX402 {
		return r, nil
	}

	network := strings.TrimSpace(in.Network)
	if network == "" {
		network = x402.DefaultNetwork
	}
	n, ok := x402.NetworkByCAIP2(network)
	if !ok {
		var names []string
		for _, n := range x402.Networks() {
			names = append(names, n.CAIP2+" ("+n.Name+")")
		}
		return Route{}, fieldErr("network", fmt.Sprintf("Network %q is not supported; choose %s.", clipText(network), strings.Join(names, " or ")))
	}
	r.Network = n.CAIP2
	amount, err := x402.ParsePrice(in.Price, n.Decimals)
	if err != nil {
		return Route{}, fieldErr("price", upperFirst(strings.TrimPrefix(err.Error(), x402.ErrInvalidPrice.Error()+": "))+".")
	}
	r.Price, r.Amount = strings.TrimSpace(in.Price), amount
	if r.RefuseSeconds, err = parseRefuse(in.RefuseSeconds, r.Settle); err != nil {
		return Route{}, err
	}
	if in.PayToDefault || strings.TrimSpace(in.PayTo) == "" {
		// Filled from the tenant's default payout wallet when stored (fillDefaultPayTo); the
		// placeholder only lets the check below see a complete requirement.
		r.PayToDefault = true
		if _, err := x402.Resolve(r.Network, r.Amount, "0x000000000000000000000000000000000000dEaD"); err != nil {
			return Route{}, fieldErr("price", err.Error())
		}
		return r, nil
	}
	addr, err := x402.NormalizeAddress(in.PayTo)
	if errors.Is(err, x402.ErrAddressChecksum) {
		return Route{}, fieldErr("pay_to", "The address checksum is wrong: one character is probably mistyped. Paste the address exactly as your wallet shows it.")
	}
	if err != nil {
		return Route{}, fieldErr("pay_to", upperFirst(strings.TrimPrefix(err.Error(), x402.ErrInvalidAddress.Error()+": "))+".")
	}
	r.PayTo = addr
	// The same check the edge config builder makes, so nothing stored can fail to build.
	if _, err := x402.Resolve(r.Network, r.Amount, r.PayTo); err != nil {
		return Route{}, fieldErr("price", err.Error())
	}
	return r, nil
}

// MaxRefuseSeconds bounds an optimistic route's refusal time (30 days), as the edge does.
const MaxRefuseSeconds = 30 * 86400

// parseRefuse reads an optimistic route's refusal time: "" is the edge's default (nil), else
// whole seconds ("3600") or a duration ("90s", "15m", "2h", "1d") from 0 to 30 days. Only
// optimistic routes refuse payers, so a time on another mode is refused rather than ignored.
func parseRefuse(v, settle string) (*int, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	const msg = "Write how long a payer whose settlement failed is refused: seconds (3600) or a duration (15m, 2h, 1d), from 0 (refuse nobody) to 30 days; empty follows the platform's default."
	var secs int64
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		secs = n
	} else if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil || n < 0 || n > 30 {
			return nil, fieldErr("refuse_seconds", msg)
		}
		secs = n * 86400
	} else {
		d, err := time.ParseDuration(v)
		if err != nil || d%time.Second != 0 {
			return nil, fieldErr("refuse_seconds", msg)
		}
		secs = int64(d / time.Second)
	}
	if secs < 0 || secs > MaxRefuseSeconds {
		return nil, fieldErr("refuse_seconds", msg)
	}
	if settle != SettleOptimistic {
		return nil, fieldErr("refuse_seconds", "Only optimistic routes refuse a payer whose settlement failed: leave this empty, or choose optimistic settlement.")
	}
	n := int(secs)
	return &n, nil
}

// ValidateRoutes checks a whole list and returns it normalized, or a *RouteError for the first
// bad route.
func ValidateRoutes(in []RouteInput) ([]Route, error) {
	out := make([]Route, len(in))
	for i, ri := range in {
		r, err := ValidateRoute(ri)
		if err != nil {
			fe, _ := AsFieldError(err)
			return nil, &RouteError{Index: i, Field: fe.Field, Message: fe.Message}
		}
		out[i] = r
	}
	return out, nil
}

// RouteWarnings lists the routes that can never match (duplicates, routes under an earlier
// catch-all), with 0-based indexes into routes.
func RouteWarnings(routes []Route) []x402.Warning {
	ps := make([]x402.Pattern, len(routes))
	for i, r := range routes {
		// Stored routes were validated; a pattern that no longer parses stays the zero Pattern,
		// which Unreachable skips.
		ps[i], _ = x402.ParsePattern(r.Method, r.Path)
	}
	return x402.Unreachable(ps)
}

// Routes returns an app's routes in matching order.
func (s *Store) Routes(ctx context.Context, appID uint) ([]Route, error) {
	var rs []Route
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("position, id").Find(&rs).Error; err != nil {
		return nil, fmt.Errorf("store: unable to list routes of app %d: %w", appID, err)
	}
	return rs, nil
}

// EditRoutes applies edit to the app's current routes (in order, read under the app's lock) and
// stores the list it returns, in the same transaction as the sync job: rows keeping their ID are
// updated, rows with ID 0 created, rows left out deleted, and positions follow the order. The
// plan's route cap is checked here, so neither the page nor the API can overshoot it. Routes
// must already be validated.
func (s *Store) EditRoutes(ctx context.Context, app *App, edit func(cur []Route) ([]Route, error)) ([]Route, error) {
	var stored []Route
	err := s.changeApp(ctx, app, func(tx *gorm.DB, cur *App) error {
		var old []Route
		if err := tx.Where("app_id = ?", cur.ID).Order("position, id").Find(&old).Error; err != nil {
			return fmt.Errorf("store: unable to read routes of app %d: %w", cur.ID, err)
		}
		next, err := edit(old)
		if err != nil {
			return err
		}
		if err := fillDefaultPayTo(tx, cur.TenantID, next); err != nil {
			return err
		}
		var p Plan
		if err := tx.Raw(`SELECT plans.* FROM plans JOIN tenants ON tenants.plan_key = plans.key WHERE tenants.id = ?`, cur.TenantID).Scan(&p).Error; err != nil {
			return fmt.Errorf("store: unable to read plan of tenant %d: %w", cur.TenantID, err)
		}
		if p.Key != "" && len(next) > p.MaxRoutes && len(next) > len(old) {
			return &PlanLimitError{What: "routes per app", Limit: int64(p.MaxRoutes), Plan: p.Name,
				BetterPlan: betterPlan(tx, int64(p.MaxRoutes), func(q Plan) int64 { return int64(q.MaxRoutes) })}
		}
		// The plan's caps on per-caller limits, for every route whose limits are set or changed
		// here (limits stored before the plan was lowered stay until they are edited).
		if p.Key != "" {
			was := map[uint]RouteLimits{}
			for _, r := range old {
				was[r.ID] = r.RouteLimits
			}
			caps := p.LimitCaps()
			for i, r := range next {
				if l, ok := was[r.ID]; ok && r.ID != 0 && l == r.RouteLimits {
					continue
				}
				if err := CheckLimitCaps(r.RouteLimits, caps); err != nil {
					fe, _ := AsFieldError(err)
					return &RouteError{Index: i, Field: fe.Field, Message: fe.Message}
				}
			}
		}
		keep := map[uint]bool{}
		for _, r := range next {
			if r.ID != 0 {
				keep[r.ID] = true
			}
		}
		for _, r := range old {
			if !keep[r.ID] {
				if err := tx.Delete(&Route{}, r.ID).Error; err != nil {
					return fmt.Errorf("store: unable to delete route %d: %w", r.ID, err)
				}
			}
		}
		oldIDs := map[uint]bool{}
		for _, r := range old {
			oldIDs[r.ID] = true
		}
		stored = make([]Route, len(next))
		for i, r := range next {
			if r.ID != 0 && !oldIDs[r.ID] {
				return ErrNotFound // an ID from another app, or one deleted meanwhile
			}
			r.AppID, r.Position = cur.ID, i
			var err error
			if r.ID == 0 {
				err = tx.Create(&r).Error
			} else {
				err = tx.Save(&r).Error
			}
			if err != nil {
				return fmt.Errorf("store: unable to store route %d of app %d: %w", i+1, cur.ID, err)
			}
			stored[i] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// ReplaceRoutes stores routes as the app's whole list (all or nothing).
func (s *Store) ReplaceRoutes(ctx context.Context, app *App, routes []Route) ([]Route, error) {
	return s.EditRoutes(ctx, app, func([]Route) ([]Route, error) {
		out := make([]Route, len(routes))
		for i, r := range routes {
			r.ID = 0
			out[i] = r
		}
		return out, nil
	})
}

// AddRoute appends a route (it matches last).
func (s *Store) AddRoute(ctx context.Context, app *App, r Route) ([]Route, error) {
	r.ID = 0
	return s.EditRoutes(ctx, app, func(cur []Route) ([]Route, error) { return append(cur, r), nil })
}

// UpdateRoute replaces the fields of route id (discovery data and limits included: the form
// shows them all), keeping its place.
func (s *Store) UpdateRoute(ctx context.Context, app *App, id uint, r Route) ([]Route, error) {
	return s.EditRoutes(ctx, app, func(cur []Route) ([]Route, error) {
		for i := range cur {
			if cur[i].ID == id {
				r.ID = id
				cur[i] = r
				return cur, nil
			}
		}
		return nil, ErrNotFound
	})
}

// DeleteRoute removes route id.
func (s *Store) DeleteRoute(ctx context.Context, app *App, id uint) ([]Route, error) {
	return s.EditRoutes(ctx, app, func(cur []Route) ([]Route, error) {
		for i := range cur {
			if cur[i].ID == id {
				return append(cur[:i:i], cur[i+1:]...), nil
			}
		}
		return nil, ErrNotFound
	})
}

// MoveRoute moves route id up (delta < 0) or down (delta > 0) by one place. Moving the first
// route up or the last down changes nothing but is not an error.
func (s *Store) MoveRoute(ctx context.Context, app *App, id uint, delta int) ([]Route, error) {
	return s.EditRoutes(ctx, app, func(cur []Route) ([]Route, error) {
		for i := range cur {
			if cur[i].ID != id {
				continue
			}
			j := i + 1
			if delta < 0 {
				j = i - 1
			}
			if j >= 0 && j < len(cur) {
				cur[i], cur[j] = cur[j], cur[i]
			}
			return cur, nil
		}
		return nil, ErrNotFound
	})
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func validMimeType(s string) bool {
	if len(s) > 100 {
		return false
	}
	typ, sub, ok := strings.Cut(s, "/")
	if !ok || typ == "" || sub == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/+-.;= _", c)) {
			return false
		}
	}
	return true
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func clipText(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		return string([]rune(s)[:60]) + "…"
	}
	return s
}

// InputOf turns a stored route back into the input that stores it again: the route forms show
// it, and an edit that changes nothing keeps everything (discovery data and limits included).
func InputOf(r Route) RouteInput {
	in := RouteInput{Method: r.Method, Path: r.Path, Access: r.Access, Price: r.Price, Network: r.Network,
		PayTo: r.PayTo, PayToDefault: r.PayToDefault, Settle: r.Settle, Description: r.Description, MimeType: r.MimeType,
		Discovery: DiscoveryInput{BodyType: r.BodyType, InputExample: r.InputExample, InputSchema: r.InputSchema, OutputExample: r.OutputExample}}
	if r.PayToDefault {
		in.PayTo = ""
	}
	if r.RefuseSeconds != nil {
		in.RefuseSeconds = strconv.Itoa(*r.RefuseSeconds)
	}
	n := func(v int) string {
		if v == 0 {
			return ""
		}
		return strconv.Itoa(v)
	}
	l := r.RouteLimits
	in.Limits = LimitsInput{RatePerSecond: n(l.RatePerSecond), RatePerMinute: n(l.RatePerMinute), Burst: n(l.Burst),
		DailyQuota: n(l.DailyQuota), MonthlyQuota: n(l.MonthlyQuota), ChallengesPerMinute: n(l.ChallengesPerMinute)}
	if l.DailySpendCap != "" {
		dec := 6
		if nw, ok := x402.NetworkByCAIP2(r.Network); ok {
			dec = nw.Decimals
		}
		in.Limits.DailySpendCap = x402.FormatAmount(l.DailySpendCap, dec)
	}
	return in
}
