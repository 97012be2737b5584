package web

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/gofiber/fiber/v2"
)

// appOpenAPI is a listed app's OpenAPI 3.1 document: GET /a/<slug>/openapi.json. Each priced
// operation carries its price in an x-402 extension (scheme, network, asset, atomic amount,
// pay_to); the 402 and 429 answers are described.
func (s *Server) appOpenAPI(c *fiber.Ctx) error {
	a, routes, err := s.store.PublicApp(c.UserContext(), c.Params("slug"))
	if err != nil {
		if errors.Is(err, models.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "No listed app has that address.")
		}
		return err
	}
	return c.JSON(appOpenAPIDoc(*a, routes, s.edgeURL(a)))
}

// openAPIPath turns a route pattern into an OpenAPI path and its path parameters: ":id" and
// "[id]" become "{id}", a trailing "*" becomes "{rest}" (which may hold slashes).
func openAPIPath(pattern string) (string, []string) {
	var segs, params []string
	for _, seg := range strings.Split(strings.TrimPrefix(pattern, "/"), "/") {
		switch {
		case seg == "*":
			segs, params = append(segs, "{rest}"), append(params, "rest")
		case strings.HasPrefix(seg, ":"):
			segs, params = append(segs, "{"+seg[1:]+"}"), append(params, seg[1:])
		case strings.HasPrefix(seg, "[") && strings.HasSuffix(seg, "]"):
			n := strings.TrimSuffix(strings.TrimPrefix(seg, "["), "]")
			segs, params = append(segs, "{"+n+"}"), append(params, n)
		default:
			segs = append(segs, seg)
		}
	}
	return "/" + strings.Join(segs, "/"), params
}

func rawJSON(s string) any {
	var v any
	if s == "" || json.Unmarshal([]byte(s), &v) != nil {
		return nil
	}
	return v
}

func appOpenAPIDoc(a models.App, routes []models.Route, base string) map[string]any {
	errResp := map[string]any{"type": "object", "properties": map[string]any{"error": map[string]any{"type": "object",
		"properties": map[string]any{"code": strT, "message": strT}}}}
	paths := map[string]any{}
	usesKey := false
	for i, r := range routes {
		path, params := openAPIPath(r.Path)
		method := strings.ToLower(r.Method)
		if method == "" {
			method = "get"
		}
		if method == "options" {
			continue // the edge answers preflights itself
		}
		op := map[string]any{"operationId": "route" + strconv.Itoa(i+1), "summary": strings.TrimSpace(r.Method + " " + r.Path)}
		if r.Description != "" {
			op["description"] = r.Description
		}
		var ps []any
		for _, n := range params {
			ps = append(ps, map[string]any{"name": n, "in": "path", "required": true, "schema": strT})
		}
		schema, _ := rawJSON(r.InputSchema).(map[string]any)
		if models.BodyMethod(r.Method) {
			if r.InputExample != "" || schema != nil {
				ct := map[string]string{"": "application/json", "json": "application/json", "form-data": "multipart/form-data", "text": "text/plain"}[r.BodyType]
				media := map[string]any{}
				if schema != nil {
					media["schema"] = schema
				}
				if ex := rawJSON(r.InputExample); ex != nil {
					media["example"] = ex
				}
				op["requestBody"] = map[string]any{"required": true, "content": map[string]any{ct: media}}
			}
		} else {
			props, _ := schema["properties"].(map[string]any)
			req := map[string]bool{}
			if rq, ok := schema["required"].([]any); ok {
				for _, n := range rq {
					if s, ok := n.(string); ok {
						req[s] = true
					}
				}
			}
			ex, _ := rawJSON(r.InputExample).(map[string]any)
			seen := map[string]bool{}
			add := func(n string, sch any) {
				if seen[n] {
					return
				}
				seen[n] = true
				if sch == nil {
					sch = strT
				}
				p := map[string]any{"name": n, "in": "query", "required": req[n], "schema": sch}
				if v, ok := ex[n]; ok {
					p["example"] = v
				}
				ps = append(ps, p)
			}
			for _, n := range sortedKeys(props) {
				add(n, props[n])
			}
			for _, n := range sortedKeys(ex) {
				add(n, nil)
			}
		}
		if len(ps) > 0 {
			op["parameters"] = ps
		}
		ok := map[string]any{"description": "The app's answer."}
		if r.OutputExample != "" || r.MimeType != "" {
			mt := r.MimeType
			if mt == "" {
				mt = "application/json"
			}
			media := map[string]any{}
			if ex := rawJSON(r.OutputExample); ex != nil {
				media["example"] = ex
			}
			ok["content"] = map[string]any{mt: media}
		}
		responses := map[string]any{"200": ok}
		switch r.Access {
		case models.AccessX402:
			responses["402"] = map[string]any{"description": "Payment required: the PAYMENT-REQUIRED header holds the x402 v2 challenge; pay it and retry with PAYMENT-SIGNATURE.",
				"headers": map[string]any{"PAYMENT-REQUIRED": map[string]any{"schema": strT, "description": "base64 JSON of the x402 PaymentRequired."}}}
			ext := map[string]any{"x402Version": 2, "scheme": x402.SchemeExact, "network": r.Network, "amount": r.Amount, "price": r.Price, "payTo": r.PayTo, "settle": r.Settle}
			if n, found := x402.NetworkByCAIP2(r.Network); found {
				ext["asset"], ext["price"] = n.Asset, x402.FormatAmount(r.Amount, n.Decimals)+" USDC"
			}
			op["x-402"] = ext
		case models.AccessAPIKey:
			usesKey = true
			op["security"] = []any{map[string]any{"apiKey": []any{}}}
			responses["401"] = map[string]any{"description": "No or a wrong API key.", "content": map[string]any{"application/json": map[string]any{"schema": errResp}}}
		}
		if r.RouteLimits.Any() {
			responses["429"] = map[string]any{"description": "A per-caller limit was reached (rate_limited, quota_exhausted, spend_cap_reached); wait for Retry-After.",
				"headers": map[string]any{"Retry-After": map[string]any{"schema": intT}}, "content": map[string]any{"application/json": map[string]any{"schema": errResp}}}
		}
		op["responses"] = responses
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		if _, taken := item[method]; !taken { // first match wins at the edge too
			item[method] = op
		}
	}
	info := map[string]any{"title": a.Name, "version": "1"}
	if a.Description != "" {
		info["description"] = a.Description
	}
	doc := map[string]any{"openapi": "3.1.0", "info": info, "servers": []any{map[string]any{"url": base}}, "paths": paths}
	if usesKey {
		doc["components"] = map[string]any{"securitySchemes": map[string]any{"apiKey": map[string]any{"type": "apiKey", "in": "header", "name": "X-API-Key"}}}
	}
	return doc
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
