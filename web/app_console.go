package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
	"golang.org/x/net/http/httpguts"
)

// The test console (Code tab) sends one request that the tenant writes to the tenant's own
// app through the edge, the way a consumer would: the app's routes, access rules and prices
// apply. It must not turn the portal into a proxy: the target is always the app's own edge
// URL with a path appended (never a URL the form names), dot segments that could climb to
// another app are refused, headers that describe the connection or the edge are refused,
// sizes are bounded, and each user has a budget of calls per minute.
const (
	consoleRate           = 60 // calls per user per minute
	consoleMaxPath        = 2048
	consoleMaxHeaders     = 30
	consoleMaxHeaderBytes = 8 << 10
	consoleMaxBody        = 16 << 10
	consoleShowBytes      = 64 << 10 // how much of an answer the console shows
)

var consoleMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}

// consoleRefused are headers the console does not let through: the HTTP client sets the
// connection's own, and the edge sets the forwarding ones itself.
var consoleRefused = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"keep-alive": true, "upgrade": true, "te": true, "trailer": true, "expect": true,
	"proxy-authorization": true, "proxy-connection": true, "forwarded": true, "x-real-ip": true,
}

// consoleInput is a parsed, checked console form.
type consoleInput struct {
	method, path, body string
	headers            [][2]string
	pay                bool
}

// readConsole reads and checks the form; problems come back by field name.
func readConsole(c *fiber.Ctx) (views.ConsoleForm, consoleInput, map[string]string) {
	f := views.ConsoleForm{
		Method:  strings.ToUpper(strings.TrimSpace(c.FormValue("method"))),
		Path:    strings.TrimSpace(c.FormValue("path")),
		Headers: strings.ReplaceAll(c.FormValue("headers"), "\r\n", "\n"),
		Body:    strings.ReplaceAll(c.FormValue("body"), "\r\n", "\n"),
	}
	in := consoleInput{method: f.Method, body: f.Body, pay: c.FormValue("pay") == "1"}
	errs := map[string]string{}
	if in.method == "" {
		in.method, f.Method = http.MethodGet, http.MethodGet
	}
	if !slices.Contains(consoleMethods, in.method) {
		errs["method"] = "Choose one of " + strings.Join(consoleMethods, ", ") + "."
	}
	p, err := consolePath(f.Path)
	if err != nil {
		errs["path"] = err.Error()
	}
	in.path = p
	in.headers, err = consoleHeaders(f.Headers)
	if err != nil {
		errs["headers"] = err.Error()
	}
	switch {
	case len(in.body) > consoleMaxBody:
		errs["body"] = fmt.Sprintf("The body is %d bytes; the console sends at most %d KiB. Use curl for larger ones.", len(in.body), consoleMaxBody>>10)
	case !utf8.ValidString(in.body):
		errs["body"] = "The body is not valid UTF-8 text."
	case in.body != "" && (in.method == http.MethodGet || in.method == http.MethodHead):
		errs["body"] = in.method + " requests carry no body: empty it or choose POST."
	}
	return f, in, errs
}

// consolePath checks the path the tenant typed. It is appended to the app's own edge URL, so
// it must stay inside the app: a single leading slash, no dot segments (which URL parsers,
// the edge's included, resolve, %2e spellings too), no fragments or control characters.
func consolePath(p string) (string, error) {
	if p == "" {
		return "/", nil
	}
	if len(p) > consoleMaxPath {
		return "", fmt.Errorf("The path is %d characters; at most %d.", len(p), consoleMaxPath)
	}
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") {
		return "", fmt.Errorf("Start the path with a single /, like /hello?name=ada: the console only calls this app.")
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f || r == '\\' || r == '#' {
			return "", fmt.Errorf("The path may not hold spaces, control characters, backslashes or a #fragment; percent-encode them (%%20 for a space).")
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" {
		return "", fmt.Errorf("That is not a path; write one like /hello?name=ada.")
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if d := strings.ReplaceAll(strings.ToLower(seg), "%2e", "."); d != "" && strings.Trim(d, ".") == "" {
			return "", fmt.Errorf("The path may not contain . or .. segments: they would leave this app.")
		}
	}
	return p, nil
}

// consoleHeaders parses "Name: value" lines.
func consoleHeaders(text string) ([][2]string, error) {
	if len(text) > consoleMaxHeaderBytes {
		return nil, fmt.Errorf("The headers are %d bytes; at most %d KiB.", len(text), consoleMaxHeaderBytes>>10)
	}
	var out [][2]string
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !httpguts.ValidHeaderFieldName(name) {
			return nil, fmt.Errorf("Line %d is not a header: write one per line as Name: value.", i+1)
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, fmt.Errorf("Line %d: the value of %s holds control characters.", i+1, name)
		}
		lower := strings.ToLower(name)
		if consoleRefused[lower] || strings.HasPrefix(lower, "cf-") || strings.HasPrefix(lower, "x-forwarded-") {
			return nil, fmt.Errorf("Line %d: %s is set by the client or the edge, not by you.", i+1, name)
		}
		out = append(out, [2]string{name, value})
		if len(out) > consoleMaxHeaders {
			return nil, fmt.Errorf("At most %d headers.", consoleMaxHeaders)
		}
	}
	return out, nil
}

// appConsole sends the console's request and shows the answer (a fragment for htmx, the Code
// tab around it otherwise).
func (s *Server) appConsole(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	f, in, errs := readConsole(c)
	f.Slug, f.EdgeURL, f.Errors = a.Slug, s.edgeURL(a), errs
	var res *views.ConsoleResult
	if len(errs) > 0 {
		c.Status(fiber.StatusUnprocessableEntity)
	} else if ok, wait := s.consoleLimiter.allow(strconv.FormatUint(uint64(currentUser(c).ID), 10), time.Now()); !ok {
		secs := int(wait.Seconds()) + 1
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		c.Status(fiber.StatusTooManyRequests)
		f.Errors = map[string]string{"": fmt.Sprintf("The console sends at most %d requests a minute; wait %d seconds.", consoleRate, secs)}
	} else {
		r := s.consoleSend(c.UserContext(), f.EdgeURL, in)
		res = &r
	}
	if isHTMX(c) {
		return render(c, views.ConsolePanel(s.page(c, ""), f, res))
	}
	t, err := s.codeTab(c, a)
	if err != nil {
		return err
	}
	t.Console, t.ConsoleResult = f, res
	return render(c, views.AppCodePage(s.navPage(c, a.Name, "apps"), t))
}

// devSettles reports whether the dev facilitator settles payments on network, so that the
// dev wallet's payment means something: the edge is local, the default facilitator is the
// portal's own /dev-facilitator, and no configured facilitator lists the network (the edge asks
// one that does before the default).
func (s *Server) devSettles(ctx context.Context, network string) bool {
	def := s.opts.DefaultFacilitatorURL
	if !s.opts.EdgeInfo.Local || !strings.HasSuffix(def, devFacilitatorPrefix) ||
		strings.TrimRight(strings.TrimSuffix(def, devFacilitatorPrefix), "/") != strings.TrimRight(s.opts.BaseURL, "/") {
		return false
	}
	if !slices.ContainsFunc(s.opts.Mounts, func(m Mount) bool { return m.Prefix == devFacilitatorPrefix }) {
		return false
	}
	fs, err := s.store.Facilitators(ctx)
	if err != nil {
		return false
	}
	for _, f := range fs {
		if slices.Contains(f.NetworkList(), network) {
			return false
		}
	}
	return true
}

// devFacilitatorPrefix is where serve mounts the dev facilitator on a local edge.
const devFacilitatorPrefix = "/dev-facilitator"

// consoleSend calls the edge, and, asked to pay a 402 and where the dev facilitator is in use,
// pays it with the dev wallet and calls again.
func (s *Server) consoleSend(ctx context.Context, edge string, in consoleInput) views.ConsoleResult {
	target := strings.TrimRight(edge, "/") + in.path
	res := views.ConsoleResult{Method: in.method, URL: target}
	if !underEdge(edge, target) {
		// consolePath keeps every path under the app; this is the second lock.
		res.Error = "That path leaves this app."
		return res
	}
	client := &http.Client{Timeout: tryTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ans, err := consoleCall(ctx, client, in, target, "")
	if err != nil {
		res.Error = "The edge could not be reached: " + err.Error()
		return res
	}
	if ans.Code == http.StatusPaymentRequired {
		var pr x402.PaymentRequired
		if err := x402.DecodeHeader(ans.Header(x402.HeaderPaymentRequired), &pr); err == nil {
			ans.Challenge = prettyJSON(pr)
			exact := slices.IndexFunc(pr.Accepts, func(r x402.Requirements) bool { return r.Scheme == x402.SchemeExact })
			switch {
			case exact < 0:
				ans.PayNote = "The challenge offers no exact payment; nothing to sign."
			case !s.devSettles(ctx, pr.Accepts[exact].Network):
				ans.PayNote = "Pay with an x402 client such as @x402/fetch and a funded wallet; the portal pays with the dev wallet only where the local dev facilitator settles the payment."
			case !in.pay:
				req := pr.Accepts[exact]
				ans.CanPay = true
				ans.PayNote = fmt.Sprintf("Costs %s USDC on %s.", x402.FormatAmount(req.Amount, decimalsOf(req.Network)), networkName(req.Network))
			default:
				req := pr.Accepts[exact]
				_, sig, from, err := devPay(pr, req)
				if err != nil {
					ans.PayNote = "Signing the payment failed: " + err.Error()
					break
				}
				paid, err := consoleCall(ctx, client, in, target, sig)
				if err != nil {
					res.Error = "The edge could not be reached with the payment: " + err.Error()
					res.First = &ans
					return res
				}
				paid.Paid = fmt.Sprintf("Paid %s USDC on %s from the dev wallet %s to %s (a public test key: no chain, no money).",
					x402.FormatAmount(req.Amount, decimalsOf(req.Network)), networkName(req.Network), from, req.PayTo)
				if receipt := paid.Header(x402.HeaderPaymentResponse); receipt != "" {
					var sr x402.SettlementResponse
					if err := x402.DecodeHeader(receipt, &sr); err == nil {
						paid.Receipt = prettyJSON(sr)
					}
				}
				res.First = &ans
				res.Answer = paid
				return res
			}
		}
	}
	res.Answer = ans
	return res
}

// underEdge reports whether target stays on the edge's host and under its path.
func underEdge(edge, target string) bool {
	e, err1 := url.Parse(edge)
	t, err2 := url.Parse(target)
	if err1 != nil || err2 != nil {
		return false
	}
	prefix := strings.TrimRight(e.EscapedPath(), "/")
	p := t.EscapedPath()
	return t.Scheme == e.Scheme && t.Host == e.Host && t.User == nil &&
		(p == prefix || strings.HasPrefix(p, prefix+"/"))
}

func consoleCall(ctx context.Context, client *http.Client, in consoleInput, target, paymentSignature string) (views.ConsoleAnswer, error) {
	var body io.Reader
	if in.body != "" {
		body = strings.NewReader(in.body)
	}
	req, err := http.NewRequestWithContext(ctx, in.method, target, body)
	if err != nil {
		return views.ConsoleAnswer{}, err
	}
	req.Header.Set("User-Agent", "402claw-portal-console")
	for _, h := range in.headers {
		req.Header.Add(h[0], h[1])
	}
	if in.body != "" && req.Header.Get("Content-Type") == "" {
		if json.Valid([]byte(in.body)) {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		}
	}
	if paymentSignature != "" {
		req.Header.Set(x402.HeaderPaymentSignature, paymentSignature)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return views.ConsoleAnswer{}, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, consoleShowBytes+1))
	ans := views.ConsoleAnswer{Code: resp.StatusCode, Status: resp.Status, Took: time.Since(start).Round(100 * time.Microsecond).String()}
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			ans.Headers = append(ans.Headers, [2]string{k, v})
		}
	}
	ans.RequestID = resp.Header.Get("Claw-Request-Id")
	if !requestIDRe.MatchString(ans.RequestID) {
		ans.RequestID = ""
	}
	if len(data) > consoleShowBytes {
		data, ans.Truncated = data[:consoleShowBytes], true
	}
	switch {
	case !utf8.Valid(data) && !ans.Truncated:
		ans.Body = fmt.Sprintf("(%d bytes of binary data)", len(data))
	case !ans.Truncated && json.Valid(data):
		var buf bytes.Buffer
		if json.Indent(&buf, data, "", "  ") == nil {
			ans.Body, ans.JSON = buf.String(), true
		}
	default:
		ans.Body = strings.ToValidUTF8(string(data), "\uFFFD")
	}
	if ans.Body == "" && !ans.JSON {
		ans.Body = strings.ToValidUTF8(string(data), "\uFFFD")
	}
	return ans, nil
}

// requestIDRe is the dispatcher's request id: 32 lower-case hex digits.
var requestIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// consoleLogPolls is how many times the logs panel asks again while a request's lines have
// not arrived (the edge sends them in batches, like telemetry).
const consoleLogPolls = 10

// appConsoleLogs is the panel of the lines one request logged; it polls itself until the
// lines arrive or consoleLogPolls is reached.
func (s *Server) appConsoleLogs(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	rid := c.Query("request_id")
	if !requestIDRe.MatchString(rid) {
		return fiber.NewError(fiber.StatusNotFound, "No such request id.")
	}
	try, _ := strconv.Atoi(c.Query("try"))
	lines, _, err := s.store.AppLogs(c.UserContext(), a.ID, models.LogFilter{RequestID: rid, Limit: models.MaxLogPage})
	if err != nil {
		return err
	}
	slices.Reverse(lines) // oldest first, as the code wrote them
	return render(c, views.ConsoleLogs(views.ConsoleLogsView{Slug: a.Slug, RequestID: rid, Lines: lines, Try: try, MaxTries: consoleLogPolls}))
}
