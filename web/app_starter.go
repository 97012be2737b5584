package web

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/starters"
	"github.com/402claw/402claw/workers/bundle"
	"github.com/gofiber/fiber/v2"
)

// chooseStarter reads a starter choice ("" is none) and validates its routes with the tenant's
// wallet before the app exists, so a bad pay_to creates nothing. The field and message name
// the problem.
func chooseStarter(key, payTo string) (st *starters.Starter, routes []models.Route, field, msg string) {
	key = strings.TrimSpace(key)
	if key == "" {
		return nil, nil, "", ""
	}
	found, ok := starters.ByKey(key)
	if !ok {
		return nil, nil, "starter", "Choose one of " + strings.Join(starters.Keys(), ", ") + ", or none."
	}
	if found.NeedsPayTo && strings.TrimSpace(payTo) == "" {
		return nil, nil, "pay_to", "The " + found.Name + " starter is paid to your wallet: enter its address (0x…)."
	}
	routes, err := models.ValidateRoutes(found.RoutesFor(strings.TrimSpace(payTo)))
	var re *models.RouteError
	if errors.As(err, &re) && re.Field == "pay_to" {
		return nil, nil, "pay_to", re.Message
	}
	if err != nil {
		return nil, nil, "starter", err.Error()
	}
	return &found, routes, "", ""
}

// startApp fills a new app from a starter — KV store, vars, egress allowlist, routes and the
// code as version 1 — and deploys it.
func (s *Server) startApp(c *fiber.Ctx, a *models.App, st *starters.Starter, routes []models.Route) error {
	ctx := c.UserContext()
	if st.KV {
		if err := s.store.SetAppKV(ctx, a, true); err != nil {
			return err
		}
	}
	for _, v := range st.Vars {
		if err := s.store.SetVar(ctx, a, v.Name, v.Value, v.Secret, s.opts.SecretKey); err != nil {
			return fmt.Errorf("starter %s: var %s: %w", st.Key, v.Name, err)
		}
	}
	for _, host := range st.Egress {
		if err := s.store.AddEgress(ctx, a, host); err != nil {
			return fmt.Errorf("starter %s: egress %s: %w", st.Key, host, err)
		}
	}
	if len(routes) > 0 {
		if _, err := s.store.ReplaceRoutes(ctx, a, routes); err != nil {
			return fmt.Errorf("starter %s: routes: %w", st.Key, err)
		}
	}
	names := make([]string, 0, len(st.Modules))
	for n := range st.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	up := upload{Main: st.Main, Message: "Started from the " + st.Name + " starter"}
	for _, n := range names {
		up.Files = append(up.Files, bundle.File{Name: n, Content: []byte(st.Modules[n])})
	}
	v, err := s.saveVersion(c, a, up)
	if err != nil {
		return fmt.Errorf("starter %s: build: %w", st.Key, err)
	}
	if _, err := s.store.Deploy(ctx, a, v.ID); err != nil {
		return fmt.Errorf("starter %s: deploy: %w", st.Key, err)
	}
	return nil
}
