package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/x402"
	"github.com/402claw/402claw/views"
	"github.com/402claw/402claw/workers"
	"github.com/gofiber/fiber/v2"
)

// facilitatorState is what the portal knows about the default facilitator (the one for networks
// no configured facilitator lists: CLAW_FACILITATOR_URL, the dev facilitator or x402.org) and
// about the last write-through of the configuration to the edge. The configured facilitators'
// /supported answers live in the database.
type facilitatorState struct {
	mu          sync.Mutex
	defaultNets []string // nil: not read yet
	defaultErr  string
	defaultAt   time.Time
	applyErr    string
	appliedAt   time.Time
}

func (s *Server) facClient() *http.Client {
	if s.opts.FacilitatorClient != nil {
		return s.opts.FacilitatorClient
	}
	return &http.Client{Timeout: workers.ProbeTimeout}
}

// CheckFacilitators reads /supported of the default facilitator and of every configured one and
// keeps what they settle: serve calls it after start, the admin page on demand. It returns the
// default facilitator's error, if any (configured ones record theirs in the database).
func (s *Server) CheckFacilitators(ctx context.Context) error {
	var defErr error
	if u := s.opts.DefaultFacilitatorURL; u != "" {
		sup, err := workers.ProbeSupported(ctx, s.facClient(), u, workers.FacilitatorAuth{})
		s.fac.mu.Lock()
		s.fac.defaultAt = time.Now()
		if err != nil {
			s.fac.defaultErr = err.Error()
		} else {
			s.fac.defaultErr = ""
			s.fac.defaultNets = workers.SettledNetworks(sup)
		}
		s.fac.mu.Unlock()
		defErr = err
	}
	fs, err := s.store.Facilitators(ctx)
	if err != nil {
		return err
	}
	for _, f := range fs {
		a, err := workers.StoredFacilitatorAuth(s.opts.SecretKey, f)
		var sup x402.SupportedResponse
		if err == nil {
			sup, err = workers.ProbeSupported(ctx, s.facClient(), f.URL, a)
		}
		js, _ := json.Marshal(sup)
		msg := ""
		if err != nil {
			msg = err.Error()
		}
		if rerr := s.store.RecordFacilitatorCheck(ctx, f.ID, string(js), msg); rerr != nil {
			s.log.Error("facilitator check not recorded", "url", f.URL, "err", rerr)
		}
		if err != nil {
			s.log.Warn("facilitator /supported not read", "url", f.URL, "err", err)
		}
	}
	return defErr
}

// settledBy is, per network 402claw prices, the facilitator that settles it for this
// installation: the first configured one that lists it and whose /supported names it, else the
// default facilitator when it does. Before the default facilitator has answered, Base Sepolia
// is assumed from it (what every x402 facilitator settles).
func (s *Server) settledBy(ctx context.Context) map[string]string {
	out := map[string]string{}
	if fs, err := s.store.Facilitators(ctx); err == nil {
		for _, f := range fs {
			var sup x402.SupportedResponse
			if json.Unmarshal([]byte(f.Supported), &sup) != nil {
				continue
			}
			settled := workers.SettledNetworks(sup)
			for _, n := range f.NetworkList() {
				if _, taken := out[n]; !taken && slices.Contains(settled, n) {
					out[n] = f.URL
				}
			}
		}
	} else {
		s.log.Error("facilitators not read", "err", err)
	}
	s.fac.mu.Lock()
	nets := s.fac.defaultNets
	s.fac.mu.Unlock()
	if nets == nil {
		nets = []string{x402.DefaultNetwork}
	}
	def := s.opts.DefaultFacilitatorURL
	if def == "" {
		def = "the default facilitator"
	}
	for _, n := range nets {
		if _, taken := out[n]; !taken {
			out[n] = def
		}
	}
	return out
}

// networkChoices lists the networks for the route editors: those a facilitator settles, and
// the ones that none does (not offered for new prices).
func (s *Server) networkChoices(ctx context.Context) []views.NetworkChoice {
	by := s.settledBy(ctx)
	var out []views.NetworkChoice
	for _, n := range x402.Networks() {
		_, ok := by[n.CAIP2]
		out = append(out, views.NetworkChoice{Network: viewNetwork(n), Settled: ok, Facilitator: by[n.CAIP2]})
	}
	return out
}

// unsettledNetwork says why a price on network cannot be saved: no facilitator settles it. ""
// when one does, or when the route is not priced.
func unsettledNetwork(by map[string]string, r models.Route) string {
	if r.Access != models.AccessX402 {
		return ""
	}
	if _, ok := by[r.Network]; ok {
		return ""
	}
	name := r.Network
	if n, ok := x402.NetworkByCAIP2(r.Network); ok {
		name = n.Name + " (" + n.CAIP2 + ")"
	}
	return "No facilitator of this installation settles " + name + ": payers would get a 402 they cannot complete. " +
		"Choose a network offered here, or ask the operator to add a facilitator that settles it."
}

// applyFacilitators writes the configuration through to the edge and keeps the outcome for the
// admin page.
func (s *Server) applyFacilitators(ctx context.Context) error {
	if s.opts.ApplyFacilitators == nil {
		return nil
	}
	err := s.opts.ApplyFacilitators(ctx)
	s.fac.mu.Lock()
	defer s.fac.mu.Unlock()
	if err != nil {
		s.fac.applyErr = err.Error()
		s.log.Error("facilitator configuration not written to the edge", "err", err)
	} else {
		s.fac.applyErr, s.fac.appliedAt = "", time.Now()
	}
	return err
}

func (s *Server) adminFacilitatorsView(ctx context.Context) (views.AdminFacilitators, error) {
	fs, err := s.store.Facilitators(ctx)
	if err != nil {
		return views.AdminFacilitators{}, err
	}
	v := views.AdminFacilitators{Networks: viewNetworks(), DefaultURL: s.opts.DefaultFacilitatorURL, Local: s.opts.EdgeInfo.Local}
	for _, f := range fs {
		row := views.FacilitatorRow{F: f}
		var sup x402.SupportedResponse
		if json.Unmarshal([]byte(f.Supported), &sup) == nil {
			row.Settles = workers.SettledNetworks(sup)
			for _, k := range sup.Kinds {
				row.Kinds = append(row.Kinds, fmt.Sprintf("%s v%d %s", k.Scheme, k.X402Version, k.Network))
			}
		}
		v.Rows = append(v.Rows, row)
	}
	s.fac.mu.Lock()
	v.DefaultNets, v.DefaultErr, v.DefaultAt = s.fac.defaultNets, s.fac.defaultErr, s.fac.defaultAt
	v.ApplyErr, v.AppliedAt = s.fac.applyErr, s.fac.appliedAt
	s.fac.mu.Unlock()
	for _, n := range x402.Networks() {
		if by := s.settledBy(ctx); by[n.CAIP2] != "" {
			v.Offered = append(v.Offered, views.NetworkChoice{Network: viewNetwork(n), Settled: true, Facilitator: by[n.CAIP2]})
		}
	}
	return v, nil
}

func (s *Server) adminFacilitators(c *fiber.Ctx) error {
	v, err := s.adminFacilitatorsView(c.UserContext())
	if err != nil {
		return err
	}
	switch c.Query("done") {
	case "saved":
		v.Message = "Facilitator saved and written through to the edge."
	case "deleted":
		v.Message = "Facilitator removed and the edge updated."
	case "checked":
		v.Message = "Every facilitator's /supported was read again."
	}
	if v.ApplyErr != "" {
		v.Message = ""
	}
	return render(c, views.AdminFacilitatorsPage(s.navPage(c, "Facilitators", "admin-facilitators"), v))
}

func (s *Server) adminFacilitatorEdit(c *fiber.Ctx) error {
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil {
		return fiber.NewError(fiber.StatusNotFound, "No such facilitator.")
	}
	f, err := s.store.FacilitatorByID(c.UserContext(), uint(id))
	if errors.Is(err, models.ErrNotFound) {
		return fiber.NewError(fiber.StatusNotFound, "No such facilitator.")
	} else if err != nil {
		return err
	}
	form := views.Form{Values: map[string]string{"url": f.URL, "auth_type": f.AuthType, "key_id": f.KeyID}}
	for _, n := range f.NetworkList() {
		form.Values["net:"+n] = "on"
	}
	return s.renderFacilitatorForm(c, f, form, fiber.StatusOK)
}

func (s *Server) renderFacilitatorForm(c *fiber.Ctx, f *models.Facilitator, form views.Form, status int) error {
	if f == nil {
		v, err := s.adminFacilitatorsView(c.UserContext())
		if err != nil {
			return err
		}
		v.Form = form
		c.Status(status)
		return render(c, views.AdminFacilitatorsPage(s.navPage(c, "Facilitators", "admin-facilitators"), v))
	}
	c.Status(status)
	return render(c, views.AdminFacilitatorEditPage(s.navPage(c, "Facilitator", "admin-facilitators"),
		views.FacilitatorEdit{F: *f, Form: form, Networks: viewNetworks(), Local: s.opts.EdgeInfo.Local}))
}

// adminFacilitatorSave creates (no :id) or updates a facilitator. It is refused with the field's
// message when the URL, the networks or the credential are wrong, when /supported cannot be
// read with the credential, or when the facilitator does not settle a chosen network.
func (s *Server) adminFacilitatorSave(c *fiber.Ctx) error {
	ctx := c.UserContext()
	var cur *models.Facilitator
	if p := c.Params("id"); p != "" {
		id, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return fiber.NewError(fiber.StatusNotFound, "No such facilitator.")
		}
		if cur, err = s.store.FacilitatorByID(ctx, uint(id)); errors.Is(err, models.ErrNotFound) {
			return fiber.NewError(fiber.StatusNotFound, "No such facilitator.")
		} else if err != nil {
			return err
		}
	}
	in := models.FacilitatorInput{URL: c.FormValue("url"), AuthType: c.FormValue("auth_type"), KeyID: c.FormValue("key_id"), Secret: c.FormValue("secret")}
	form := views.Form{Values: map[string]string{"url": sanitizeEcho(in.URL), "auth_type": sanitizeEcho(in.AuthType), "key_id": sanitizeEcho(in.KeyID)}, Errors: map[string]string{}}
	for _, n := range x402.Networks() {
		if c.FormValue("net:"+n.CAIP2) != "" {
			in.Networks = append(in.Networks, n.CAIP2)
			form.Values["net:"+n.CAIP2] = "on"
		}
	}
	// Networks outside the table arrive as networks=…: refused by name below.
	for _, n := range strings.Split(c.FormValue("networks"), ",") {
		if n = strings.TrimSpace(n); n != "" {
			in.Networks = append(in.Networks, n)
		}
	}
	fail := func(field, msg string) error {
		form.Errors[field] = msg
		form.Message = msg
		return s.renderFacilitatorForm(c, cur, form, fiber.StatusUnprocessableEntity)
	}
	sameType := cur != nil && cur.AuthType == strings.TrimSpace(in.AuthType)
	f, err := models.ValidateFacilitator(in, s.opts.EdgeInfo.Local, sameType && len(cur.Secret) > 0)
	if fe, ok := models.AsFieldError(err); ok {
		return fail(fe.Field, fe.Message)
	} else if err != nil {
		return err
	}
	if cur != nil {
		f.ID = cur.ID
	}
	var auth workers.FacilitatorAuth
	var secret []byte
	if strings.TrimSpace(in.Secret) != "" || f.AuthType == models.FacilitatorAuthNone {
		if auth, err = workers.FacilitatorAuthFor(f.AuthType, f.KeyID, in.Secret); err != nil {
			return fail("secret", "The key does not parse: "+err.Error()+".")
		}
		if f.AuthType != models.FacilitatorAuthNone {
			secret, _ = json.Marshal(auth)
		}
	} else {
		// The stored credential, with the key id of the form (it may have been corrected).
		if auth, err = workers.StoredFacilitatorAuth(s.opts.SecretKey, *cur); err != nil {
			return err
		}
		if f.AuthType == models.FacilitatorAuthJWT && auth.Kid != f.KeyID {
			auth.Kid = f.KeyID
			secret, _ = json.Marshal(auth)
		}
	}
	if f.AuthType == models.FacilitatorAuthJWT {
		f.Alg = auth.Alg
	}
	sup, err := workers.ProbeSupported(ctx, s.facClient(), f.URL, auth)
	if err != nil {
		return fail("url", "Not saved: "+err.Error()+".")
	}
	settles := workers.SettledNetworks(sup)
	for _, n := range f.NetworkList() {
		if !slices.Contains(settles, n) {
			name := n
			if nw, ok := x402.NetworkByCAIP2(n); ok {
				name = nw.Name + " (" + n + ")"
			}
			what := "no network 402claw prices"
			if len(settles) > 0 {
				what = strings.Join(settles, ", ")
			}
			return fail("networks", fmt.Sprintf("%s does not settle %s with the exact scheme of x402 version 2; its /supported lists %s.", f.URL, name, what))
		}
	}
	js, _ := json.Marshal(sup)
	if err := s.store.SaveFacilitator(ctx, &f, secret, string(js), s.opts.SecretKey); err != nil {
		if fe, ok := models.AsFieldError(err); ok {
			return fail(fe.Field, fe.Message)
		}
		return err
	}
	s.audit(c, &currentUser(c).ID, "facilitator_saved", "facilitator:"+f.URL, fmt.Sprintf("networks %s, auth %s %s", f.Networks, f.AuthType, f.KeyID))
	_ = s.applyFacilitators(ctx)
	return c.Redirect("/admin/facilitators?done=saved", fiber.StatusSeeOther)
}

func (s *Server) adminFacilitatorDelete(c *fiber.Ctx) error {
	ctx := c.UserContext()
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	if err != nil {
		return fiber.NewError(fiber.StatusNotFound, "No such facilitator.")
	}
	f, err := s.store.FacilitatorByID(ctx, uint(id))
	if errors.Is(err, models.ErrNotFound) {
		return c.Redirect("/admin/facilitators", fiber.StatusSeeOther)
	} else if err != nil {
		return err
	}
	if err := s.store.DeleteFacilitator(ctx, f.ID); err != nil && !errors.Is(err, models.ErrNotFound) {
		return err
	}
	s.audit(c, &currentUser(c).ID, "facilitator_deleted", "facilitator:"+f.URL, "")
	_ = s.applyFacilitators(ctx)
	return c.Redirect("/admin/facilitators?done=deleted", fiber.StatusSeeOther)
}

func (s *Server) adminFacilitatorsCheck(c *fiber.Ctx) error {
	_ = s.CheckFacilitators(c.UserContext())
	return c.Redirect("/admin/facilitators?done=checked", fiber.StatusSeeOther)
}
