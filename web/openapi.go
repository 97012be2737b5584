package web

import "github.com/gofiber/fiber/v2"

// openAPI describes exactly what /api/v1 serves today; grow it with the API.
var openAPI = map[string]any{
	"openapi": "3.1.0",
	"info":    map[string]any{"title": "402claw API", "version": "1"},
	"servers": []any{map[string]any{"url": "/api/v1"}},
	"components": map[string]any{
		"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "An API token (claw_…) from /signup, /tokens or the settings page."}},
		"schemas": map[string]any{
			"Error": obj(map[string]any{"error": obj(map[string]any{"code": strT, "message": strT, "field": strT}, "code", "message")}, "error"),
			"Token": obj(map[string]any{"token": strT}, "token"),
			"Me": obj(map[string]any{"email": strT, "role": map[string]any{"type": "string", "enum": []string{"tenant", "admin"}},
				"tenant": map[string]any{"type": []string{"object", "null"}, "properties": map[string]any{"slug": strT, "plan": strT, "status": strT}}}, "email", "role", "tenant"),
		},
	},
	"paths": map[string]any{
		"/signup": map[string]any{"post": op("Create a tenant and its first user; returns an API token.", nil,
			obj(map[string]any{"email": strT, "password": map[string]any{"type": "string", "minLength": 10}, "tenant": strT}, "email", "password", "tenant"),
			map[string]any{"201": ref("Token"), "400": ref("Error"), "403": ref("Error"), "409": ref("Error"), "415": ref("Error"), "422": ref("Error"), "429": ref("Error")})},
		"/tokens": map[string]any{"post": op("Exchange an email and password for a new API token.", nil,
			obj(map[string]any{"email": strT, "password": strT, "name": strT}, "email", "password"),
			map[string]any{"201": ref("Token"), "400": ref("Error"), "401": ref("Error"), "415": ref("Error"), "429": ref("Error")})},
		"/me": map[string]any{"get": op("The authenticated user and tenant.", []any{map[string]any{"bearer": []any{}}}, nil,
			map[string]any{"200": ref("Me"), "401": ref("Error")})},
	},
}

var strT = map[string]any{"type": "string"}

func obj(props map[string]any, required ...string) map[string]any {
	return map[string]any{"type": "object", "additionalProperties": false, "properties": props, "required": required}
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
