package web

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

// routeInputFromForm reads the route form; field names match the JSON API.
func routeInputFromForm(c *fiber.Ctx) models.RouteInput {
	return models.RouteInput{
		Method: c.FormValue("method"), Path: c.FormValue("path"), Access: c.FormValue("access"),
		Price: c.FormValue("price"), Network: c.FormValue("network"), PayTo: c.FormValue("pay_to"),
		Settle: c.FormValue("settle"), RefuseSeconds: c.FormValue("refuse_seconds"), Description: c.FormValue("description"), MimeType: c.FormValue("mime_type"),
		Discovery: models.DiscoveryInput{BodyType: c.FormValue("body_type"), InputExample: c.FormValue("input_example"),
			InputSchema: c.FormValue("input_schema"), OutputExample: c.FormValue("output_example")},
		Limits: models.LimitsInput{RatePerSecond: c.FormValue("rate_per_second"), RatePerMinute: c.FormValue("rate_per_minute"),
			Burst: c.FormValue("burst"), DailyQuota: c.FormValue("daily_quota"), MonthlyQuota: c.FormValue("monthly_quota"),
			DailySpendCap: c.FormValue("daily_spend_cap"), ChallengesPerMinute: c.FormValue("challenges_per_minute")},
	}
}

// routesTab reads everything the tab shows.
func (s *Server) routesTab(c *fiber.Ctx, a *models.App) (views.RoutesTab, error) {
	t := views.RoutesTab{Header: s.appHeader(a), Warnings: map[int]string{}, Networks: s.networkChoices(c.UserContext())}
	rs, err := s.store.Routes(c.UserContext(), a.ID)
	if err != nil {
		return t, err
	}
	t.Routes = viewRoutes(rs)
	for _, w := range models.RouteWarnings(rs) {
		t.Warnings[w.Index] = "Warning: " + w.Message + "."
	}
	if p := s.planOfApp(c, a); p != nil {
		t.MaxRoutes, t.PlanName = p.MaxRoutes, p.Name
	}
	return t, nil
}

func (s *Server) planOfApp(c *fiber.Ctx, a *models.App) *models.Plan {
	tn, err := s.store.TenantByID(c.UserContext(), a.TenantID)
	if err != nil {
		return nil
	}
	p, err := s.store.PlanByKey(c.UserContext(), tn.PlanKey)
	if err != nil {
		return nil
	}
	return p
}

// renderRoutes answers htmx with the table partial and everything else with the page. A
// refused change is 422 for plain forms; htmx gets 200, because htmx 2 does not swap 4xx bodies.
func (s *Server) renderRoutes(c *fiber.Ctx, a *models.App, t views.RoutesTab, status int) error {
	if isHTMX(c) {
		return render(c, views.RoutesPartial(s.page(c, ""), t))
	}
	c.Status(status)
	return render(c, views.RoutesPage(s.navPage(c, a.Name+" · Routes", "apps"), t))
}

func (s *Server) appRoutes(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	t, err := s.routesTab(c, a)
	if err != nil {
		return err
	}
	if id, err := strconv.ParseUint(c.Query("edit"), 10, 32); err == nil {
		for _, r := range t.Routes {
			if r.ID == uint(id) {
				t.EditID = r.ID
				t.Edit = views.RouteForm{Values: models.InputOf(r.Route)}
			}
		}
	}
	return s.renderRoutes(c, a, t, fiber.StatusOK)
}

// routeChangeMessage says what a saved change means, including the edge's delay and, for a
// mainnet price, that payers pay real USDC.
func routeChangeMessage(what string, r *models.Route) string {
	msg := what + " Written through to the edge; Cloudflare KV can take up to 60 s to reach every location."
	if r != nil && r.Access == models.AccessX402 {
		if n, ok := x402.NetworkByCAIP2(r.Network); ok && !n.Testnet {
			msg += " This route is priced on " + n.Name + " mainnet: payers pay real USDC to " + r.PayTo + "."
		}
		if r.Settle == models.SettleOptimistic {
			msg += " " + views.OptimisticRisk
		}
	}
	return msg
}

// checkSettled refuses a price on a network no facilitator settles, unless the route was on
// that network already (keeping it is the tenant's choice; the table warns).
func (s *Server) checkSettled(c *fiber.Ctx, r models.Route, before string) error {
	if r.Access != models.AccessX402 || r.Network == before {
		return nil
	}
	if msg := unsettledNetwork(s.settledBy(c.UserContext()), r); msg != "" {
		return &models.FieldError{Field: "network", Message: msg}
	}
	return nil
}

// routeFailure turns a refused change into the tab's message; other errors pass through.
func routeFailure(err error, f *views.RouteForm, t *views.RoutesTab) error {
	var ple *models.PlanLimitError
	var re *models.RouteError // a plan's cap on a limit, no default payout wallet (models.EditRoutes)
	switch {
	case errors.As(err, &ple):
		t.Error = ple.Error()
	case errors.As(err, &re) && f != nil:
		f.Field, f.Message = re.Field, re.Message
	case errors.Is(err, models.ErrNotFound):
		t.Error = "That route no longer exists; the table below is current."
	case errors.Is(err, models.ErrAppBusy):
		t.Error = "The app is being deleted."
	default:
		if fe, ok := models.AsFieldError(err); ok && f != nil {
			f.Field, f.Message = fe.Field, fe.Message
			return nil
		}
		return err
	}
	return nil
}

func (s *Server) routeCreate(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	in := routeInputFromForm(c)
	form := views.RouteForm{Values: in}
	r, verr := models.ValidateRoute(in)
	if verr == nil {
		verr = s.checkSettled(c, r, "")
	}
	var saved *models.Route
	if verr == nil {
		list, err := s.store.AddRoute(c.UserContext(), a, r)
		if err == nil {
			saved = &list[len(list)-1]
		}
		verr = err
	}
	return s.afterRouteChange(c, a, verr, &form, nil, saved, "Route added.")
}

func (s *Server) routeUpdate(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := routeID(c)
	if err != nil {
		return err
	}
	in := routeInputFromForm(c)
	form := views.RouteForm{Values: in}
	r, verr := models.ValidateRoute(in)
	if verr == nil {
		before := ""
		if rs, err := s.store.Routes(c.UserContext(), a.ID); err == nil {
			for _, old := range rs {
				if old.ID == id && old.Access == models.AccessX402 {
					before = old.Network
				}
			}
		}
		verr = s.checkSettled(c, r, before)
	}
	var saved *models.Route
	if verr == nil {
		list, err := s.store.UpdateRoute(c.UserContext(), a, id, r)
		for i := range list {
			if list[i].ID == id {
				saved = &list[i]
			}
		}
		verr = err
	}
	return s.afterRouteChange(c, a, verr, &form, &id, saved, "Route saved.")
}

func (s *Server) routeDelete(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := routeID(c)
	if err != nil {
		return err
	}
	_, err = s.store.DeleteRoute(c.UserContext(), a, id)
	return s.afterRouteChange(c, a, err, nil, nil, nil, "Route deleted.")
}

func (s *Server) routeMove(c *fiber.Ctx) error {
	a, err := s.loadApp(c)
	if err != nil {
		return err
	}
	id, err := routeID(c)
	if err != nil {
		return err
	}
	delta := 1
	switch c.FormValue("dir") {
	case "up":
		delta = -1
	case "down":
	default:
		return fiber.NewError(fiber.StatusBadRequest, "Move a route up or down.")
	}
	_, err = s.store.MoveRoute(c.UserContext(), a, id, delta)
	return s.afterRouteChange(c, a, err, nil, nil, nil, "Route order changed.")
}

// afterRouteChange finishes every route action: on success it tries the sync job and redirects
// plain forms (POST/redirect/GET) or re-renders the partial for htmx; on a refusal it shows the
// form again with its values and the message. editID keeps a failed inline edit open.
func (s *Server) afterRouteChange(c *fiber.Ctx, a *models.App, err error, form *views.RouteForm, editID *uint, saved *models.Route, okMsg string) error {
	if err == nil {
		s.syncNow(a)
		if !isHTMX(c) {
			return s.redirectFlash(c, "/apps/"+a.Slug+"/routes", routeChangeMessage(okMsg, saved))
		}
	}
	t, terr := s.routesTab(c, a)
	if terr != nil {
		return terr
	}
	if err == nil {
		t.Message = routeChangeMessage(okMsg, saved)
		return s.renderRoutes(c, a, t, fiber.StatusOK)
	}
	target := form
	if form != nil && editID == nil {
		t.Add = *form
	}
	if editID != nil {
		t.EditID, t.Edit = *editID, *form
		target = &t.Edit
	} else if form != nil {
		target = &t.Add
	}
	if ferr := routeFailure(err, target, &t); ferr != nil {
		return ferr
	}
	if editID != nil && t.Error != "" && target.Message == "" {
		target.Message = t.Error
	}
	return s.renderRoutes(c, a, t, fiber.StatusUnprocessableEntity)
}

func routeID(c *fiber.Ctx) (uint, error) {
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil || id == 0 {
		return 0, fiber.NewError(fiber.StatusNotFound, fmt.Sprintf("There is no route %q.", c.Params("id")))
	}
	return uint(id), nil
}
