package web

import (
	"fmt"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/starters"
	"github.com/gofiber/fiber/v2"
)

var anyT = map[string]any{"description": "Any JSON value, at most 16 KiB."}

// routeLimitsT are a route's per-caller limits: each field absent means no limit.
var routeLimitsT = map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
	"rate_per_second": posIntT, "rate_per_minute": posIntT, "burst": posIntT, "daily_quota": posIntT, "monthly_quota": posIntT,
	"daily_spend_cap":       map[string]any{"type": "string", "description": "USDC per payer per UTC day (x402 routes), like $5."},
	"challenges_per_minute": posIntT}}

var posIntT = map[string]any{"type": "integer", "minimum": 1}

// openAPI describes exactly what /api/v1 serves today; grow it with the API.
var openAPI = map[string]any{
	"openapi": "3.1.0",
	"info":    map[string]any{"title": "402claw API", "version": "1"},
	"servers": []any{map[string]any{"url": "/api/v1"}},
	"components": map[string]any{
		"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API token (claw_…) from /signup, /tokens or the settings page."}},
		"schemas": map[string]any{
			"Error": obj(map[string]any{"error": obj(map[string]any{"code": strT, "message": strT, "field": strT}, "code", "message")}, "error"),
			"Token": obj(map[string]any{"token": strT, "expires_at": map[string]any{"type": "string", "format": "date-time", "description": "When the token stops working; absent for a token that does not expire."}}, "token"),
			"App": obj(map[string]any{"slug": strT, "name": strT, "url": strT, "status": enumT("active", "paused"), "status_reason": strT, "kv": boolT,
				"desired_version_id": nullIntT, "deployed_version_id": nullIntT, "sync_state": enumT("in_sync", "pending", "failed", "deleting"), "sync_error": strT, "created_at": strT},
				"slug", "name", "url", "status", "kv", "sync_state"),
			"Version": obj(map[string]any{"id": intT, "number": intT, "sha256": strT, "size": intT, "main_module": strT, "message": strT, "created_at": strT,
				"review_state":  map[string]any{"type": "string", "enum": []string{"", "pending", "approved", "rejected"}, "description": "Code moderation: pending and rejected versions cannot be deployed (409)."},
				"review_reason": strT}, "id", "sha256", "size", "review_state"),
			"Deployment": obj(map[string]any{"id": intT, "version_id": intT, "status": enumT("pending", "succeeded", "failed"), "error": strT}, "id", "version_id", "status", "error"),
			"BuildError": obj(map[string]any{"error": obj(map[string]any{"code": strT, "message": strT, "problems": arrT(obj(map[string]any{
				"file": strT, "line": intT, "column": intT, "kind": strT, "message": strT}, "kind", "message"))}, "code", "message", "problems")}, "error"),
			"RouteIn": obj(map[string]any{"method": strT, "path": strT, "access": enumT("public", "x402", "api_key"), "price": strT,
				"network": enumT("eip155:84532", "eip155:8453"), "pay_to": strT, "pay_to_default": boolT, "settle": enumT("after", "before", "optimistic"),
				"refuse_seconds": map[string]any{"type": "integer", "minimum": 0, "maximum": 2592000, "description": "Optimistic routes only: seconds a payer whose settlement failed is refused on the app's optimistic routes (0 refuses nobody); absent follows the platform's default."},
				"description":    strT, "mime_type": strT,
				"body_type": enumT("json", "form-data", "text"), "input_example": anyT, "input_schema": map[string]any{"type": "object", "description": "JSON Schema 2020-12 of the input, local $ref only."},
				"output_example": anyT, "limits": routeLimitsT}, "path", "access"),
			"Route": obj(map[string]any{"id": intT, "method": strT, "path": strT, "access": strT, "price": strT, "amount": strT, "network": strT,
				"network_name": strT, "asset": strT, "eip712_name": strT, "eip712_version": strT, "pay_to": strT, "pay_to_default": boolT, "settle": strT, "refuse_seconds": intT, "description": strT,
				"mime_type": strT, "body_type": strT, "input_example": anyT, "input_schema": anyT, "output_example": anyT, "limits": routeLimitsT, "warning": strT}, "id", "path", "access"),
			"Egress": obj(map[string]any{"allow": arrT(strT)}, "allow"),
			"UsageBucket": obj(map[string]any{"start": dateTimeT, "requests": intT, "paid": intT, "revenue_atomic": strT, "errors": intT, "limit_hits": intT,
				"challenges": intT, "payment_failures": intT, "subrequests": intT, "cpu_ms": numT, "p50_ms": numT, "p95_ms": numT, "p99_ms": numT},
				"start", "requests", "paid", "revenue_atomic", "errors", "limit_hits", "subrequests", "cpu_ms"),
			"Usage": obj(map[string]any{"app": strT, "from": dateTimeT, "to": dateTimeT, "granularity": enumT("hour", "day"), "route": strT,
				"buckets": arrT(schemaRef("UsageBucket")), "total": schemaRef("UsageBucket"), "routes": arrT(strT),
				"revenue":          arrT(obj(map[string]any{"network": strT, "simulated": boolT, "payments": intT, "revenue_atomic": strT}, "network", "simulated", "payments", "revenue_atomic")),
				"errors":           arrT(obj(map[string]any{"code": strT, "count": intT}, "code", "count")),
				"payment_failures": arrT(obj(map[string]any{"code": strT, "count": intT}, "code", "count"))},
				"app", "from", "to", "granularity", "buckets", "total"),
			"Payment": obj(map[string]any{"id": intT, "at": dateTimeT, "route": strT, "payer": strT, "amount_atomic": strT, "amount": strT, "network": strT,
				"result": strT, "success": boolT, "simulated": boolT, "transaction": strT, "explorer_url": strT}, "id", "at", "amount_atomic", "network", "simulated"),
			"Payments": obj(map[string]any{"payments": arrT(schemaRef("Payment")), "next_cursor": map[string]any{"type": []string{"string", "null"}, "description": "Pass as cursor for the next page; null on the last page."}},
				"payments", "next_cursor"),
			"Me": obj(map[string]any{"email": strT, "role": map[string]any{"type": "string", "enum": []string{"tenant", "admin"}},
				"tenant": map[string]any{"type": []string{"object", "null"}, "properties": map[string]any{"slug": strT, "plan": strT, "status": strT}}}, "email", "role", "tenant"),
		},
	},
	"paths": map[string]any{
		"/signup": map[string]any{"post": op("Create a tenant and its first user; returns an API token.", nil,
			obj(map[string]any{"email": strT, "password": map[string]any{"type": "string", "minLength": 10}, "tenant": strT}, "email", "password", "tenant"),
			map[string]any{"201": ref("Token"), "400": ref("Error"), "403": ref("Error"), "409": ref("Error"), "415": ref("Error"), "422": ref("Error"), "429": ref("Error")})},
		"/tokens": map[string]any{"post": op("Exchange an email and password for a new API token. With expires_in_days the token stops working that many days later; without it, it works until revoked. Changing the password revokes every token unless the user chooses to keep them.", nil,
			obj(map[string]any{"email": strT, "password": strT, "name": strT, "expires_in_days": map[string]any{"type": "integer", "minimum": 1, "maximum": 3650}}, "email", "password"),
			map[string]any{"201": ref("Token"), "400": ref("Error"), "401": ref("Error"), "415": ref("Error"), "422": ref("Error"), "429": ref("Error")})},
		"/reports": map[string]any{"post": op("Report an app hosted here (abuse, fraud, phishing, malware…). No account needed; rate limited per address, at most 20 a day per address, message 10–4,000 bytes; the same report twice is stored once. Reports land in the operators' review queue.", nil,
			obj(map[string]any{"app": strT, "category": enumT(models.ReportCategories...), "message": strT, "email": strT}, "app", "category", "message"),
			errs(map[string]any{"202": map[string]any{"description": "received: {id, state}"}}, 400, 413, 415, 422, 429))},
		"/me": map[string]any{"get": op("The authenticated user and tenant.", bearer, nil,
			map[string]any{"200": ref("Me"), "401": ref("Error")})},
		"/apps": map[string]any{
			"get": op("Your apps.", bearer, nil, map[string]any{"200": refArr("App"), "401": ref("Error")}),
			"post": op("Create an app (the plan caps the count). With starter, the app starts from ready code, routes, vars and egress, saved as version 1 and deployed; the paid-api starter needs pay_to, the wallet its priced route pays.", bearer,
				obj(map[string]any{"slug": strT, "name": strT, "starter": map[string]any{"type": "string", "enum": starters.Keys()}, "pay_to": strT}, "slug"), errs(map[string]any{"201": ref("App")}, 400, 401, 403, 409, 415, 422)),
		},
		"/apps/{slug}": map[string]any{
			"get":    op("One app.", bearer, nil, errs(map[string]any{"200": ref("App")}, 401, 404)),
			"patch":  op("Rename, or switch the KV store on or off.", bearer, obj(map[string]any{"name": strT, "kv": boolT}), errs(map[string]any{"200": ref("App")}, 400, 401, 404, 409, 415, 422)),
			"delete": op("Delete the app here and at the edge.", bearer, nil, errs(map[string]any{"202": ref("App")}, 401, 404)),
		},
		"/apps/{slug}/versions": map[string]any{
			"get": op("Versions, newest first.", bearer, nil, errs(map[string]any{"200": refArr("Version")}, 401, 404)),
			"post": alsoMultipart(op("Save code as a new immutable version: JSON {main_module, modules:{name:source}, message} or multipart files (field files, plus main_module and message). Code that a moderation rule blocks is refused (422, code blocked); code a rule flags is saved with review_state pending.", bearer,
				obj(map[string]any{"main_module": strT, "modules": map[string]any{"type": "object", "additionalProperties": strT}, "message": strT}, "modules"),
				errs(map[string]any{"201": ref("Version"), "413": ref("BuildError"), "422": ref("BuildError")}, 400, 401, 404, 409, 415)),
				obj(map[string]any{"files": arrT(map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}), "main_module": strT, "message": strT}, "files")),
		},
		"/apps/{slug}/deployments": map[string]any{"post": optionalBody(op("Deploy a version (omitted: the newest); rollback is deploying an older one. A version waiting for review or rejected by a moderator answers 409 (review_pending, version_rejected).", bearer,
			obj(map[string]any{"version_id": intT}), errs(map[string]any{"202": ref("Deployment")}, 400, 401, 404, 409, 415, 422)))},
		"/apps/{slug}/deployments/{id}": map[string]any{"get": op("A deployment's status.", bearer, nil, errs(map[string]any{"200": ref("Deployment")}, 401, 404))},
		"/apps/{slug}/vars/{name}": map[string]any{
			"put":    op("Set a variable or secret (stored encrypted by the portal; secrets also encrypted at the edge; redeploys).", bearer, obj(map[string]any{"value": strT, "secret": boolT}, "value"), errs(map[string]any{"200": ref("Error")}, 400, 401, 404, 409, 415, 422)),
			"delete": op("Delete a variable (redeploys).", bearer, nil, errs(map[string]any{"204": map[string]any{"description": "deleted"}}, 401, 404)),
		},
		"/apps/{slug}/routes": map[string]any{
			"get": op("Routes in match order.", bearer, nil, errs(map[string]any{"200": refArr("Route")}, 401, 404)),
			"put": op("Replace all routes (all or nothing); prices become atomic units.", bearer, map[string]any{"type": "array", "items": map[string]any{"$ref": "#/components/schemas/RouteIn"}},
				errs(map[string]any{"200": refArr("Route")}, 400, 401, 404, 415, 422)),
		},
		"/apps/{slug}/egress": map[string]any{
			"get": op("The egress allowlist.", bearer, nil, errs(map[string]any{"200": ref("Egress")}, 401, 404)),
			"put": op("Replace the egress allowlist (exact hosts and *.domain patterns).", bearer, map[string]any{"$ref": "#/components/schemas/Egress"}, errs(map[string]any{"200": ref("Egress")}, 400, 401, 404, 415, 422)),
		},
		"/apps/{slug}/usage": map[string]any{"get": withParams(op("Usage from the rollups: one bucket per hour or UTC day of [from, to) (empty ones included), their total, and revenue per network, errors per code and failed payments per reason. Defaults: granularity hour, the last 24 hours (day: the last 30 days). An hourly range is at most 31 days, a daily one 400. With Accept: text/csv, the buckets as CSV.", bearer, nil,
			withCSV(errs(map[string]any{"200": ref("Usage")}, 400, 401, 403, 404))),
			queryParam("from", "Start, inclusive: RFC 3339 time or UTC date (2026-01-02); rounded down to the bucket."),
			queryParam("to", "End, exclusive: RFC 3339 time or UTC date; rounded up to the bucket. Default: the end of the current bucket."),
			enumParam("granularity", "Bucket width.", "hour", "day"),
			queryParam("route", "One route as the edge names it (\"GET /path\"); 400 for a route the app neither has nor has usage for."))},
		"/apps/{slug}/payments": map[string]any{"get": withParams(op("The payments ledger, newest first, by cursor. With Accept: text/csv, the whole ledger from the cursor on as CSV (with block-explorer links for real networks).", bearer, nil,
			withCSV(errs(map[string]any{"200": ref("Payments")}, 400, 401, 403, 404))),
			queryParam("cursor", "next_cursor of the previous page."),
			map[string]any{"name": "limit", "in": "query", "description": "Page size, 1 to 1000 (default 100).", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 1000}})},
	},
}

var (
	dateTimeT = map[string]any{"type": "string", "format": "date-time"}
	numT      = map[string]any{"type": "number"}
	strT      = map[string]any{"type": "string"}
	intT      = map[string]any{"type": "integer"}
	boolT     = map[string]any{"type": "boolean"}
	nullIntT  = map[string]any{"type": []string{"integer", "null"}}
	bearer    = []any{map[string]any{"bearer": []any{}}}
)

func enumT(vals ...string) map[string]any { return map[string]any{"type": "string", "enum": vals} }

func arrT(item map[string]any) map[string]any { return map[string]any{"type": "array", "items": item} }

func refArr(name string) map[string]any {
	return map[string]any{"description": name + " list", "content": map[string]any{"application/json": map[string]any{"schema": arrT(map[string]any{"$ref": "#/components/schemas/" + name})}}}
}

// errs adds the Error envelope for each status to responses.
func errs(responses map[string]any, statuses ...int) map[string]any {
	for _, st := range statuses {
		responses[fmt.Sprint(st)] = ref("Error")
	}
	return responses
}

func obj(props map[string]any, required ...string) map[string]any {
	o := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 { // OpenAPI 3.1 (JSON Schema): "required" must be an array when present, never null
		o["required"] = required
	}
	return o
}

// optionalBody marks an operation's request body as optional (an empty POST is valid).
func optionalBody(o map[string]any) map[string]any {
	o["requestBody"].(map[string]any)["required"] = false
	return o
}

// alsoMultipart adds a multipart/form-data form of an operation's request body.
func alsoMultipart(o map[string]any, schema map[string]any) map[string]any {
	o["requestBody"].(map[string]any)["content"].(map[string]any)["multipart/form-data"] = map[string]any{"schema": schema}
	return o
}

func ref(name string) map[string]any {
	return map[string]any{"description": name, "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/" + name}}}}
}

func op(summary string, security []any, body map[string]any, responses map[string]any) map[string]any {
	o := map[string]any{"summary": summary, "responses": responses}
	if security != nil {
		o["security"] = security
	}
	if body != nil {
		o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": body}}}
	}
	return o
}

func (s *Server) apiOpenAPI(c *fiber.Ctx) error { return c.JSON(openAPI) }

func schemaRef(name string) map[string]any {
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func queryParam(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": strT}
}

func enumParam(name, desc string, vals ...string) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": enumT(vals...)}
}

// withParams adds query parameters to an operation.
func withParams(o map[string]any, params ...map[string]any) map[string]any {
	list := make([]any, len(params))
	for i, p := range params {
		list[i] = p
	}
	o["parameters"] = list
	return o
}

// withCSV adds the text/csv form of a 200 answer (Accept: text/csv).
func withCSV(responses map[string]any) map[string]any {
	ok := responses["200"].(map[string]any)
	content := map[string]any{"text/csv": map[string]any{"schema": strT}}
	for k, v := range ok["content"].(map[string]any) {
		content[k] = v
	}
	responses["200"] = map[string]any{"description": ok["description"], "content": content}
	return responses
}
