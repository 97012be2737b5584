package views

import (
	"fmt"
	"strings"

	"github.com/402claw/402claw/models"
)

// AppDocs is the public docs page of a listed app (/a/<slug>): what a consumer or an agent needs
// to call it. The same data renders as the app's llms.txt.
type AppDocs struct {
	Name, Slug, Description, IconURL string
	Tags                             []string
	BaseURL                          string // the app's edge URL, no trailing slash
	ReportURL                        string
	Routes                           []DocsRoute
}

// DocsRoute is one route as the docs show it.
type DocsRoute struct {
	Method, Path, Access, Description, MimeType string
	Price, Network                              string // x402 routes only
	URL                                         string // an example URL that matches the route
	InputExample, InputSchema, OutputExample    string // pretty JSON, "" when unset
	Curl, Fetch                                 string // copyable snippets
	Limits                                      []string
}

// LLMsText renders the docs as llms.txt (llmstxt.org: a Markdown file for language models).
func (d AppDocs) LLMsText() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n", oneLine(d.Name))
	if d.Description != "" {
		fmt.Fprintf(&b, "> %s\n\n", oneLine(d.Description))
	}
	fmt.Fprintf(&b, "Base URL: %s\n", d.BaseURL)
	if len(d.Tags) > 0 {
		fmt.Fprintf(&b, "Tags: %s\n", strings.Join(d.Tags, ", "))
	}
	b.WriteString("\nPaid routes (access x402) answer 402 Payment Required with an x402 v2 challenge in the PAYMENT-REQUIRED header; pay it in USDC with an x402 client such as @x402/fetch and retry with PAYMENT-SIGNATURE. API-key routes take the key in X-API-Key or Authorization: Bearer. A limited caller gets 429 with Retry-After.\n\n## Routes\n")
	for _, r := range d.Routes {
		fmt.Fprintf(&b, "\n### %s %s\n\n- Access: %s\n", r.Method, r.Path, r.Access)
		if r.Price != "" {
			fmt.Fprintf(&b, "- Price: %s per call on %s\n", r.Price, r.Network)
		}
		if r.Description != "" {
			fmt.Fprintf(&b, "- Description: %s\n", oneLine(r.Description))
		}
		if r.MimeType != "" {
			fmt.Fprintf(&b, "- Answers: %s\n", r.MimeType)
		}
		for _, l := range r.Limits {
			fmt.Fprintf(&b, "- Limit: %s\n", l)
		}
		fmt.Fprintf(&b, "- Example: `%s`\n", r.Curl)
		for _, x := range []struct{ title, body string }{{"Example request", r.InputExample}, {"Input JSON Schema", r.InputSchema}, {"Example response", r.OutputExample}} {
			if x.body != "" {
				fmt.Fprintf(&b, "\n%s:\n\n```json\n%s\n```\n", x.title, x.body)
			}
		}
	}
	return b.String()
}

// PlatformLLMsText renders the platform-wide llms.txt: the listed apps with their docs links.
func PlatformLLMsText(portalURL string, apps []models.App) string {
	var b strings.Builder
	b.WriteString("# 402claw\n\n> Paid HTTP APIs, charged per call in USDC with x402. Each app below has its own llms.txt with its routes, prices and examples.\n\n")
	b.WriteString("Catalog in the x402 bazaar format: " + portalURL + "/discovery/resources\n\n## Apps\n\n")
	for _, a := range apps {
		line := fmt.Sprintf("- [%s](%s/a/%s/llms.txt)", oneLine(a.Name), portalURL, a.Slug)
		if a.Description != "" {
			line += ": " + oneLine(a.Description)
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// oneLine keeps tenant text on its line: a newline in a description must not start a Markdown
// heading of its own.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
