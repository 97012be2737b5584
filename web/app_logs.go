package web

import (
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// logsTab reads the filters and a page of the app's lines for the Logs tab; a bad filter is
// shown on the page (the lines unfiltered by it).
func (s *Server) logsTab(c *fiber.Ctx) (views.LogsTab, error) {
	a, err := s.loadApp(c)
	if err != nil {
		return views.LogsTab{}, err
	}
	get := func(k string) string { return strings.TrimSpace(c.Query(k)) }
	t := views.LogsTab{Header: s.appHeader(a), Level: get("level"), Status: get("status"), Route: get("route"), Text: get("q")}
	f, fe := parseLogFilter(func(k string) string {
		if k == "after" || k == "request_id" || k == "limit" {
			return ""
		}
		return get(k)
	})
	if fe != nil {
		t.Problem = fe.Message
		t.Level, t.Status, t.Route, t.Text = "", "", "", ""
		f = models.LogFilter{}
	}
	f.Limit = 50
	t.Before = f.Before
	if t.Lines, t.Next, err = s.store.AppLogs(c.UserContext(), a.ID, f); err != nil {
		return t, err
	}
	if t.Routes, err = s.store.LogRoutes(c.UserContext(), a.ID); err != nil {
		return t, err
	}
	return t, nil
}

func (s *Server) appLogs(c *fiber.Ctx) error {
	t, err := s.logsTab(c)
	if err != nil {
		return err
	}
	return render(c, views.LogsPage(s.navPage(c, t.Header.App.Name+" · Logs", "apps"), t))
}

// appLogsLive is the live tail's poll: the newest page of lines under the same filters.
func (s *Server) appLogsLive(c *fiber.Ctx) error {
	t, err := s.logsTab(c)
	if err != nil {
		return err
	}
	return render(c, views.LogRows(t))
}
