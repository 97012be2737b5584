package web

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/workers"
	"github.com/gofiber/fiber/v2"
)

// The public catalog in the bazaar's discovery format: GET /discovery/resources answers what a
// facilitator's discovery service answers (specs/extensions/bazaar.md), so the official client
// withBazaar(new HTTPFacilitatorClient({url: <portal>})) lists the routes of listed apps.

const defaultCatalogPage = 20

type discoveryItem struct {
	// resource is the name @x402/extensions 2.27 reads; url, the one of the discovery spec.
	Resource    string               `json:"resource"`
	URL         string               `json:"url"`
	Type        string               `json:"type"`
	X402Version int                  `json:"x402Version"`
	Description string               `json:"description,omitempty"`
	MimeType    string               `json:"mimeType,omitempty"`
	ServiceName string               `json:"serviceName,omitempty"`
	Tags        []string             `json:"tags,omitempty"`
	IconURL     string               `json:"iconUrl,omitempty"`
	Accepts     []x402.Requirements  `json:"accepts"`
	LastUpdated string               `json:"lastUpdated"`
	Extensions  json.RawMessage      `json:"extensions,omitempty"`
	Metadata    discoveryItemDetails `json:"metadata"`
}

type discoveryItemDetails struct {
	App     string `json:"app"`
	Method  string `json:"method"`
	Path    string `json:"path"`
	DocsURL string `json:"docsUrl"`
}

type discoveryPage struct {
	Limit     int   `json:"limit"`
	Offset    int   `json:"offset"`
	Total     int64 `json:"total"`
	Clamped   bool  `json:"clamped,omitempty"`
	Requested int   `json:"requestedLimit,omitempty"`
}

func discoveryError(c *fiber.Ctx, status int, code, msg string) error {
	c.Status(status)
	return c.JSON(fiber.Map{"error": fiber.Map{"code": code, "message": msg}})
}

// discoveryResources serves GET /discovery/resources?type&network&query&limit&offset.
func (s *Server) discoveryResources(c *fiber.Ctx) error {
	c.Set("Access-Control-Allow-Origin", "*")
	c.Set("Cache-Control", "public, max-age=30")
	page := discoveryPage{Limit: defaultCatalogPage}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return discoveryError(c, fiber.StatusBadRequest, "invalid_limit", "limit must be a whole number from 1 to 100.")
		}
		if n > models.MaxCatalogPage {
			page.Clamped, page.Requested, n = true, n, models.MaxCatalogPage
		}
		page.Limit = n
	}
	if v := c.Query("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return discoveryError(c, fiber.StatusBadRequest, "invalid_offset", "offset must be a whole number of zero or more.")
		}
		page.Offset = n
	}
	q := models.CatalogQuery{Type: c.Query("type"), Network: c.Query("network"), Text: c.Query("query", c.Query("q")),
		Limit: page.Limit, Offset: page.Offset}
	if len(q.Text) > 200 || len(q.Network) > 64 || len(q.Type) > 16 {
		return discoveryError(c, fiber.StatusBadRequest, "invalid_query", "Keep the query under 200 characters.")
	}
	entries, total, err := s.store.Catalog(c.UserContext(), q)
	if err != nil {
		return err
	}
	page.Total = total
	items := make([]discoveryItem, 0, len(entries))
	for _, e := range entries {
		it, ok := s.discoveryItem(c, e.App, e.Route)
		if ok {
			items = append(items, it)
		}
	}
	return c.JSON(fiber.Map{"x402Version": 2, "items": items, "pagination": page})
}

// discoveryItem describes one priced route as its 402 does; ok is false for a route whose
// requirements no longer resolve (it is then not served either).
func (s *Server) discoveryItem(c *fiber.Ctx, a models.App, r models.Route) (discoveryItem, bool) {
	req, err := x402.Resolve(r.Network, r.Amount, r.PayTo)
	if err != nil {
		return discoveryItem{}, false
	}
	ext, err := workers.BazaarExtensions(a, r)
	if err != nil {
		return discoveryItem{}, false
	}
	res := workers.WithServiceMetadata(workers.ConfigResource{Description: r.Description, MimeType: r.MimeType}, a)
	u := s.edgeURL(&a) + r.Path
	method := r.Method
	if method == "" {
		method = "ANY"
	}
	desc := res.Description
	if desc == "" {
		desc = strings.TrimSpace(a.Description)
	}
	return discoveryItem{
		Resource: u, URL: u, Type: "http", X402Version: 2, Description: desc, MimeType: res.MimeType,
		ServiceName: res.ServiceName, Tags: res.Tags, IconURL: res.IconURL, Accepts: []x402.Requirements{req},
		LastUpdated: a.UpdatedAt.UTC().Format(time.RFC3339), Extensions: ext,
		Metadata: discoveryItemDetails{App: a.Slug, Method: method, Path: r.Path, DocsURL: c.BaseURL() + "/a/" + a.Slug},
	}, true
}
