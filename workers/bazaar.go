package workers

import (
	"encoding/json"
	"strings"

	"github.com/402claw/402claw/models"
)

// The bazaar discovery extension (specs/extensions/bazaar.md in the x402 repository): a priced
// route's 402 carries extensions.bazaar = {info, schema}, info describing how to call the route
// and schema (JSON Schema 2020-12) validating info, so that facilitators and agents can catalog
// it. The document is built here once per config and the dispatcher copies it verbatim.

// WithServiceMetadata adds the spec's resource metadata from the app's listing. Each field is
// sent only when it passes the spec's rule (an app name with non-ASCII letters is not a valid
// serviceName: the field is left out, as a facilitator would drop it).
func WithServiceMetadata(res ConfigResource, a models.App) ConfigResource {
	if models.ValidServiceName(a.Name) {
		res.ServiceName = a.Name
	}
	res.Tags = a.TagList()
	if a.IconURL != "" && models.IconURLProblem(a.IconURL) == "" {
		res.IconURL = a.IconURL
	}
	return res
}

type bazaarInput struct {
	Type        string          `json:"type"`
	Method      string          `json:"method"`
	BodyType    string          `json:"bodyType,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
	QueryParams json.RawMessage `json:"queryParams,omitempty"`
}

type bazaarOutput struct {
	Type    string          `json:"type"`
	Example json.RawMessage `json:"example,omitempty"`
}

type bazaarInfo struct {
	Input  bazaarInput   `json:"input"`
	Output *bazaarOutput `json:"output,omitempty"`
}

// BazaarExtensions is the extensions object of route r's 402 challenge, nil when the app is not
// listed and the route has no discovery data (nothing to advertise).
func BazaarExtensions(a models.App, r models.Route) (json.RawMessage, error) {
	if !a.Listed && r.RouteDiscovery.Empty() {
		return nil, nil
	}
	d := r.RouteDiscovery
	method := r.Method
	if method == "" {
		method = "GET" // a route for any method is described by its most common call
	}
	in := bazaarInput{Type: "http", Method: method}
	inputProps := map[string]any{
		"type":    map[string]any{"type": "string", "const": "http"},
		"headers": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
	}
	required := []string{"type", "method"}
	var tenantSchema any = map[string]any{}
	if d.InputSchema != "" {
		if err := json.Unmarshal([]byte(d.InputSchema), &tenantSchema); err != nil {
			return nil, err
		}
	}
	if models.BodyMethod(method) {
		in.BodyType = d.BodyType
		if in.BodyType == "" {
			in.BodyType = "json"
		}
		in.Body = json.RawMessage(d.InputExample)
		if d.InputExample == "" {
			in.Body = json.RawMessage(`{}`)
		}
		inputProps["method"] = map[string]any{"type": "string", "enum": []string{"POST", "PUT", "PATCH"}}
		inputProps["bodyType"] = map[string]any{"type": "string", "enum": []string{"json", "form-data", "text"}}
		inputProps["body"] = tenantSchema
		inputProps["queryParams"] = map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
		required = append(required, "bodyType", "body")
	} else {
		if d.InputExample != "" {
			in.QueryParams = json.RawMessage(d.InputExample)
		}
		inputProps["method"] = map[string]any{"type": "string", "enum": []string{"GET", "HEAD", "DELETE"}}
		qp := tenantSchema
		if d.InputSchema == "" {
			qp = map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}}
		}
		inputProps["queryParams"] = qp
	}
	info := bazaarInfo{Input: in}
	if d.OutputExample != "" {
		typ := "json"
		if strings.HasPrefix(r.MimeType, "text/") {
			typ = "text"
		}
		info.Output = &bazaarOutput{Type: typ, Example: json.RawMessage(d.OutputExample)}
	}
	schema := map[string]any{
		"$schema": "https://json-schema.org/draft/2020-12/schema",
		"type":    "object",
		"properties": map[string]any{
			"input": map[string]any{"type": "object", "properties": inputProps, "required": required, "additionalProperties": false},
			"output": map[string]any{"type": "object", "properties": map[string]any{
				"type": map[string]any{"type": "string"}, "format": map[string]any{"type": "string"}, "example": map[string]any{},
			}, "required": []string{"type"}},
		},
		"required": []string{"input"},
	}
	return json.Marshal(map[string]any{"bazaar": map[string]any{"info": info, "schema": schema}})
}
