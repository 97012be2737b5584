package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/workers/facilitator"
	"github.com/gofiber/fiber/v2"
)

// The "Try it" button of the routes tab: a small x402 client that calls a route through the
// edge as a consumer would (POST /apps/:slug/routes/:id/try).

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
