package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/gofiber/fiber/v2"
)

// routeInputFromForm reads the route form; field names match the JSON API.
func routeInputFromForm(c *fiber.Ctx) models.RouteInput {
	return models.RouteInput{
		Method: c.FormValue("method"), Path: c.FormValue("path"), Access: c.FormValue("access"),
		Price: c.FormValue("price"), Network: c.FormValue("network"), PayTo: c.FormValue("pay_to"),
		Settle: c.FormValue("settle"), Description: c.FormValue("description"), MimeType: c.FormValue("mime_type"),
		Discovery: models.DiscoveryInput{BodyType: c.FormValue("body_type"), InputExample: c.FormValue("input_example"),
			InputSchema: c.FormValue("input_schema"), OutputExample: c.FormValue("output_example")},
		Limits: models.LimitsInput{RatePerSecond: c.FormValue("rate_per_second"), RatePerMinute: c.FormValue("rate_per_minute"),
			Burst: c.FormValue("burst"), DailyQuota: c.FormValue("daily_quota"), MonthlyQuota: c.FormValue("monthly_quota"),
			DailySpendCap: c.FormValue("daily_spend_cap"), ChallengesPerMinute: c.FormValue("challenges_per_minute")},
	}
}

// routesTab reads everything the tab shows.
func (s *Server) routesTab(c *fiber.Ctx, a *models.App) (views.RoutesTab, error) {
	t := views.RoutesTab{Header: s.appHeader(a), Warnings: map[int]string{}, Networks: s.networkChoices(c.UserContext())}
	rs, err := s.store.Routes(c.UserContext(), a.ID)
	if err != nil {
		return t, err
	}
	t.Routes = viewRoutes(rs)
	for _, w := range models.RouteWarnings(rs) {
		t.Warnings[w.Index] = "Warning: " + w.Message + "."
	}
	if p := s.planOfApp(c, a); p != nil {
		t.MaxRoutes, t.PlanName = p.MaxRoutes, p.Name
	}
	return t, nil
}

func (s *Server) planOfApp(c *fiber.Ctx, a *models.App) *models.Plan {
	tn, err := s.store.TenantByID(c.UserContext(), a.TenantID)
	if err != nil {
		return nil
	}
	p, err := s.store.PlanByKey(c.UserContext(), tn.PlanKey)
	if err != nil {
		return nil
	}
	return p
}

// renderRoutes answers htmx with the table partial and everything else with the page. A
// refused change is 422 for plain forms; htmx gets 200, because htmx 2 does not swap 4xx bodies.
func (s *Server) renderRoutes(c *fiber.Ctx, a *models.App, t views.RoutesTab, status int) error {
	if isHTMX(c) {
		return render(c, views.RoutesPartial(s.page(c, ""), t))
	}
	c.Status(status)
	return render(c, views.RoutesPage(s.navPage(c, a.Name+" · Routes", "apps"), t))
}

func (s *Server) appRoutes(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	t, err := s.routesTab(c, a)
	if err != nil {
		return err
	}
	if id, err := strconv.ParseUint(c.Query("edit"), 10, 32); err == nil {
		for _, r := range t.Routes {
			if r.ID == uint(id) {
				t.EditID = r.ID
				t.Edit = views.RouteForm{Values: models.InputOf(r.Route)}
			}
		}
	}
	return s.renderRoutes(c, a, t, fiber.StatusOK)
}

// routeChangeMessage says what a saved change means, including the edge's delay and, for a
// mainnet price, that payers pay real USDC.
func routeChangeMessage(what string, r *models.Route) string {
	msg := what + " Written through to the edge; Cloudflare KV can take up to 60 s to reach every location."
	if r != nil && r.Access == models.AccessX402 {
		if n, ok := x402.NetworkByCAIP2(r.Network); ok && !n.Testnet {
			msg += " This route is priced on " + n.Name + " mainnet: payers pay real USDC to " + r.PayTo + "."
		}
		if r.Settle == models.SettleOptimistic {
			msg += " " + views.OptimisticRisk
		}
	}
	return msg
}

// checkSettled refuses a price on a network no facilitator settles, unless the route was on
// that network already (keeping it is the tenant's choice; the table warns).
func (s *Server) checkSettled(c *fiber.Ctx, r models.Route, before string) error {
	if r.Access != models.AccessX402 || r.Network == before {
		return nil
	}
	if msg := unsettledNetwork(s.settledBy(c.UserContext()), r); msg != "" {
		return &models.FieldError{Field: "network", Message: msg}
	}
	return nil
}

// routeFailure turns a refused change into the tab's message; other errors pass through.
func routeFailure(err error, f *views.RouteForm, t *views.RoutesTab) error {
	var ple *models.PlanLimitError
	var re *models.RouteError // a plan's cap on a limit (models.EditRoutes)
	switch {
	case errors.As(err, &ple):
		t.Error = ple.Error()
	case errors.As(err, &re) && f != nil:
		f.Field, f.Message = re.Field, re.Message
	case errors.Is(err, models.ErrNotFound):
		t.Error = "That route no longer exists; the table below is current."
	case errors.Is(err, models.ErrAppBusy):
		t.Error = "The app is being deleted."
	default:
		if fe, ok := models.AsFieldError(err); ok && f != nil {
			f.Field, f.Message = fe.Field, fe.Message
			return nil
		}
		return err
	}
	return nil
}

func (s *Server) routeCreate(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	in := routeInputFromForm(c)
	form := views.RouteForm{Values: in}
	r, verr := models.ValidateRoute(in)
	if verr == nil {
		verr = s.checkSettled(c, r, "")
	}
	var saved *models.Route
	if verr == nil {
		list, err := s.store.AddRoute(c.UserContext(), a, r)
		if err == nil {
			saved = &list[len(list)-1]
		}
		verr = err
	}
	return s.afterRouteChange(c, a, verr, &form, nil, saved, "Route added.")
}

func (s *Server) routeUpdate(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := routeID(c)
	if err != nil {
		return err
	}
	in := routeInputFromForm(c)
	form := views.RouteForm{Values: in}
	r, verr := models.ValidateRoute(in)
	if verr == nil {
		before := ""
		if rs, err := s.store.Routes(c.UserContext(), a.ID); err == nil {
			for _, old := range rs {
				if old.ID == id && old.Access == models.AccessX402 {
					before = old.Network
				}
			}
		}
		verr = s.checkSettled(c, r, before)
	}
	var saved *models.Route
	if verr == nil {
		list, err := s.store.UpdateRoute(c.UserContext(), a, id, r)
		for i := range list {
			if list[i].ID == id {
				saved = &list[i]
			}
		}
		verr = err
	}
	return s.afterRouteChange(c, a, verr, &form, &id, saved, "Route saved.")
}

func (s *Server) routeDelete(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := routeID(c)
	if err != nil {
		return err
	}
	_, err = s.store.DeleteRoute(c.UserContext(), a, id)
	return s.afterRouteChange(c, a, err, nil, nil, nil, "Route deleted.")
}

func (s *Server) routeMove(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := routeID(c)
	if err != nil {
		return err
	}
	delta := 1
	switch c.FormValue("dir") {
	case "up":
		delta = -1
	case "down":
	default:
		return fiber.NewError(fiber.StatusBadRequest, "Move a route up or down.")
	}
	_, err = s.store.MoveRoute(c.UserContext(), a, id, delta)
	return s.afterRouteChange(c, a, err, nil, nil, nil, "Route order changed.")
}

// afterRouteChange finishes every route action: on success it tries the sync job and redirects
// plain forms (POST/redirect/GET) or re-renders the partial for htmx; on a refusal it shows the
// form again with its values and the message. editID keeps a failed inline edit open.
func (s *Server) afterRouteChange(c *fiber.Ctx, a *models.App, err error, form *views.RouteForm, editID *uint, saved *models.Route, okMsg string) error {
	if err == nil {
		s.syncNow(a)
		if !isHTMX(c) {
			return s.redirectFlash(c, "/apps/"+a.Slug+"/routes", routeChangeMessage(okMsg, saved))
		}
	}
	t, terr := s.routesTab(c, a)
	if terr != nil {
		return terr
	}
	if err == nil {
		t.Message = routeChangeMessage(okMsg, saved)
		return s.renderRoutes(c, a, t, fiber.StatusOK)
	}
	target := form
	if form != nil && editID == nil {
		t.Add = *form
	}
	if editID != nil {
		t.EditID, t.Edit = *editID, *form
		target = &t.Edit
	} else if form != nil {
		target = &t.Add
	}
	if ferr := routeFailure(err, target, &t); ferr != nil {
		return ferr
	}
	if editID != nil && t.Error != "" && target.Message == "" {
		target.Message = t.Error
	}
	return s.renderRoutes(c, a, t, fiber.StatusUnprocessableEntity)
}

func routeID(c *fiber.Ctx) (uint, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil || id == 0 {
		return 0, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("There is no route %q.", c.Params("id")))
	}
	return uint(id), nil
}

// tryTimeout bounds each call of the "try it" flow; the edge answers locally in milliseconds,
// and a hung edge must not hold a portal worker.
const tryTimeout = 10 * time.Second

// tryBodyLimit is how much of a response the try panel shows.
const tryBodyLimit = 4 << 10

// routeTry calls a route through the edge the way a consumer would and reports each step:
// the challenge, the payment (signed with the public dev wallet, local mode only), the paid
// answer and its receipt. The calls go from the portal to the configured edge URL, so the page
// shows what the edge really does, not what the portal thinks it should.
func (s *Server) routeTry(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := routeID(c)
	if err != nil {
		return err
	}
	rs, err := s.store.Routes(c.UserContext(), a.ID)
	if err != nil {
		return err
	}
	var route *models.Route
	for i := range rs {
		if rs[i].ID == id {
			route = &rs[i]
		}
	}
	if route == nil {
		return fiber.NewError(fiber.StatusNotFound, "That route no longer exists.")
	}
	res := s.tryRoute(c.UserContext(), a, *route)
	return render(c, views.TryPartial(res))
}

func (s *Server) tryRoute(ctx context.Context, a *models.App, r models.Route) views.TryResult {
	method := r.Method
	if method == "" {
		method = http.MethodGet
	}
	target := strings.TrimRight(s.edgeURL(a), "/") + examplePath(r.Path)
	res := views.TryResult{Route: strings.TrimSpace(r.Method + " " + r.Path), URL: method + " " + target}
	client := &http.Client{Timeout: tryTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	first, err := tryCall(ctx, client, method, target, "")
	if err != nil {
		res.Steps = append(res.Steps, views.TryStep{Title: "Call without payment", Lines: []string{"The edge could not be reached: " + err.Error()}})
		res.Note = "Is the edge running? Locally it is started by 402claw serve (workerd); on Cloudflare check the dispatcher."
		return res
	}
	step := views.TryStep{Title: "Call without payment", Status: first.status, OK: first.code < 500, Body: first.body}
	if r.Access != models.AccessX402 || first.code != http.StatusPaymentRequired {
		res.Steps = append(res.Steps, step)
		switch {
		case r.Access == models.AccessX402:
			res.Note = "The edge did not ask for a payment. The route may not have reached the edge yet (Cloudflare KV takes up to 60 s), or the app is not deployed."
		case r.Access == models.AccessAPIKey:
			res.Note = "This route needs a consumer API key (X-API-Key or Authorization: Bearer); create one on the Access & egress tab and call it with curl."
		}
		return res
	}
	var pr x402.PaymentRequired
	if err := x402.DecodeHeader(first.header.Get(x402.HeaderPaymentRequired), &pr); err != nil {
		step.OK = false
		step.Lines = append(step.Lines, "The 402 has no readable PAYMENT-REQUIRED header: "+err.Error())
		res.Steps = append(res.Steps, step)
		return res
	}
	step.Lines = append(step.Lines, "The edge answered 402 with a PAYMENT-REQUIRED challenge (decoded below).")
	step.JSON, step.Body = prettyJSON(pr), ""
	res.Steps = append(res.Steps, step)

	if !s.opts.EdgeInfo.Local {
		res.Note = "Paying needs a real wallet: on Cloudflare the portal does not pay with its public test key. Pay with an x402 client such as @x402/fetch and a wallet funded on " + networkName(r.Network) + "."
		return res
	}
	var req *x402.Requirements
	for i := range pr.Accepts {
		if pr.Accepts[i].Scheme == x402.SchemeExact && pr.Accepts[i].Network == r.Network {
			req = &pr.Accepts[i]
			break
		}
	}
	if req == nil {
		res.Note = "The challenge offers no exact payment on " + networkName(r.Network) + "; nothing to sign."
		return res
	}
	payload, sig, from, err := devPay(pr, *req)
	if err != nil {
		res.Steps = append(res.Steps, views.TryStep{Title: "Sign the payment", Lines: []string{err.Error()}})
		return res
	}
	res.Steps = append(res.Steps, views.TryStep{Title: "Sign the payment with the dev wallet", OK: true,
		Lines: []string{
			fmt.Sprintf("Pays %s USDC on %s from %s to %s.", x402.FormatAmount(req.Amount, decimalsOf(req.Network)), networkName(req.Network), from, req.PayTo),
			"The dev wallet is a public test key (Hardhat account #0): local mode only, never fund it.",
		},
		JSON: prettyJSON(payload)})

	second, err := tryCall(ctx, client, method, target, sig)
	if err != nil {
		res.Steps = append(res.Steps, views.TryStep{Title: "Call with PAYMENT-SIGNATURE", Lines: []string{"The edge could not be reached: " + err.Error()}})
		return res
	}
	res.Steps = append(res.Steps, views.TryStep{Title: "Call with PAYMENT-SIGNATURE", Status: second.status,
		OK: second.code < 400, Body: second.body})
	receipt := second.header.Get(x402.HeaderPaymentResponse)
	if receipt == "" {
		res.Steps = append(res.Steps, views.TryStep{Title: "Receipt", Lines: []string{"The answer carries no PAYMENT-RESPONSE header."}})
		return res
	}
	var sr x402.SettlementResponse
	if err := x402.DecodeHeader(receipt, &sr); err != nil {
		res.Steps = append(res.Steps, views.TryStep{Title: "Receipt", Lines: []string{"PAYMENT-RESPONSE is not readable: " + err.Error()}})
		return res
	}
	rs := views.TryStep{Title: "Receipt (PAYMENT-RESPONSE, decoded)", OK: sr.Success, JSON: prettyJSON(sr)}
	if sr.Success {
		rs.Lines = append(rs.Lines, "Settled: transaction "+sr.Transaction+".")
	} else {
		rs.Lines = append(rs.Lines, "Not settled: "+sr.ErrorReason+".")
	}
	if sr.Simulated {
		rs.Lines = append(rs.Lines, "Simulated, no chain: the dev facilitator settled it without touching any blockchain; no money moved.")
	}
	res.Steps = append(res.Steps, rs)
	return res
}

// devPay signs req with the public dev wallet (local mode only: the dev facilitator accepts
// it, no chain does) and returns the payload, its PAYMENT-SIGNATURE header value and the
// payer's address.
func devPay(pr x402.PaymentRequired, req x402.Requirements) (x402.PaymentPayload, string, string, error) {
	key, from := facilitator.DevWallet()
	nonce, err := facilitator.NewNonce()
	if err != nil {
		return x402.PaymentPayload{}, "", "", err
	}
	now := time.Now()
	timeout := req.MaxTimeoutSeconds
	if timeout <= 0 {
		timeout = x402.DefaultMaxTimeoutSeconds
	}
	// validAfter a minute back tolerates a facilitator clock slightly behind ours.
	payload, err := facilitator.SignPayment(key, req, pr.Resource, now.Add(-time.Minute), now.Add(time.Duration(timeout)*time.Second), nonce)
	if err != nil {
		return payload, "", "", err
	}
	sig, err := x402.EncodeHeader(payload)
	return payload, sig, from, err
}

type tryAnswer struct {
	code   int
	status string
	header http.Header
	body   string
}

func tryCall(ctx context.Context, client *http.Client, method, url, paymentSignature string) (tryAnswer, error) {
	var body io.Reader
	if method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		body = strings.NewReader("{}")
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return tryAnswer{}, err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "402claw-portal-try")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if paymentSignature != "" {
		req.Header.Set(x402.HeaderPaymentSignature, paymentSignature)
	}
	resp, err := client.Do(req)
	if err != nil {
		return tryAnswer{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, tryBodyLimit+1))
	text := string(data)
	switch {
	case !utf8.Valid(data):
		text = fmt.Sprintf("(%d bytes of binary data)", len(data))
	case len(data) > tryBodyLimit:
		text = string(data[:tryBodyLimit]) + "\n… (truncated)"
	}
	return tryAnswer{code: resp.StatusCode, status: resp.Status, header: resp.Header, body: text}, nil
}

func prettyJSON(v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func networkName(caip2 string) string {
	if n, ok := x402.NetworkByCAIP2(caip2); ok {
		return n.Name
	}
	return caip2
}

func decimalsOf(caip2 string) int {
	if n, ok := x402.NetworkByCAIP2(caip2); ok {
		return n.Decimals
	}
	return 6
}
