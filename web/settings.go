package web

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/views"
	"github.com/gofiber/fiber/v2"
)

func (s *Server) settingsShow(c *fiber.Ctx) error {
	toks, err := s.store.APITokens(c.UserContext(), currentUser(c).ID)
	if err != nil {
		return err
	}
	w, err := s.walletsOf(c, views.Form{Values: map[string]string{}, Errors: map[string]string{}})
	if err != nil {
		return err
	}
	return render(c, views.SettingsPage(s.navPage(c, "Settings", "settings"), views.Settings{Tokens: views.Tokens{List: toks}, Wallets: w}))
}

// walletsOf reads the current user's tenant's payout wallets for the settings page.
func (s *Server) walletsOf(c *fiber.Ctx, f views.Form) (views.Wallets, error) {
	u := currentUser(c)
	w := views.Wallets{Form: f, NoTenant: u.TenantID == nil, Networks: viewNetworks()}
	if u.TenantID == nil {
		return w, nil
	}
	list, err := s.store.PayoutWallets(c.UserContext(), *u.TenantID)
	for _, wl := range list {
		w.List = append(w.List, views.WalletRow{PayoutWallet: wl, NetworkName: networkName(wl.Network)})
	}
	return w, err
}

// walletSave sets the tenant's default payout wallet on a network. Money follows this address
// on every route without its own, so the password is asked again (a stolen session alone cannot
// redirect payouts) and the change is an audit event written with it.
func (s *Server) walletSave(c *fiber.Ctx) error {
	u := currentUser(c)
	f := views.Form{Values: map[string]string{"network": c.FormValue("network"), "address": sanitizeEcho(c.FormValue("address"))}, Errors: map[string]string{}}
	if u.TenantID == nil {
		return fiber.NewError(fiber.StatusForbidden, "Payout wallets belong to a tenant; this account has none.")
	}
	n, addr, err := models.ValidatePayoutWallet(c.FormValue("network"), c.FormValue("address"))
	if fe, ok := models.AsFieldError(err); ok {
		f.Errors[fe.Field] = fe.Message
	} else if err != nil {
		return err
	}
	if !models.CheckPassword(u.PasswordHash, c.FormValue("current")) {
		f.Errors["current"] = "That is not your current password: the payout wallet was not changed."
	}
	if len(f.Errors) > 0 {
		f.Message = "The payout wallet was not changed."
		if f.Errors["current"] != "" {
			s.audit(c, &u.ID, "payout_wallet_refused", fmt.Sprintf("tenant:%d", *u.TenantID), "wrong password")
		}
		return s.renderWallets(c, f, fiber.StatusUnprocessableEntity)
	}
	ch, err := s.store.SetPayoutWallet(c.UserContext(), *u.TenantID, n.CAIP2, addr, &u.ID, s.clientIP(c))
	if err != nil {
		return err
	}
	for _, id := range ch.AppIDs {
		if a, err := s.store.AppByID(c.UserContext(), id); err == nil {
			s.syncNow(a)
		}
	}
	f.Message = fmt.Sprintf("Default payout wallet on %s set to %s.", n.Name, addr)
	if ch.Routes > 0 {
		f.Message += fmt.Sprintf(" %d route(s) in %d app(s) are now paid to it; written through to the edge (Cloudflare KV can take up to 60 s to reach every location).", ch.Routes, len(ch.AppIDs))
	}
	if !n.Testnet {
		f.Message += " This is " + n.Name + " mainnet: payers pay real USDC to this address."
	}
	f.Values = map[string]string{"network": n.CAIP2}
	if !isHTMX(c) {
		return s.redirectFlash(c, "/settings", f.Message)
	}
	return s.renderWallets(c, f, fiber.StatusOK)
}

// renderWallets answers htmx with the partial (200: htmx 2 does not swap 4xx bodies) and plain
// forms with the page.
func (s *Server) renderWallets(c *fiber.Ctx, f views.Form, status int) error {
	w, err := s.walletsOf(c, f)
	if err != nil {
		return err
	}
	if isHTMX(c) {
		return render(c, views.WalletsPartial(s.page(c, ""), w))
	}
	toks, err := s.store.APITokens(c.UserContext(), currentUser(c).ID)
	if err != nil {
		return err
	}
	c.Status(status)
	return render(c, views.SettingsPage(s.navPage(c, "Settings", "settings"), views.Settings{Tokens: views.Tokens{List: toks}, Wallets: w}))
}

func (s *Server) passwordSave(c *fiber.Ctx) error {
	u := currentUser(c)
	f := views.Form{Errors: map[string]string{}}
	current, next := c.FormValue("current"), c.FormValue("password")
	if !models.CheckPassword(u.PasswordHash, current) {
		f.Errors["current"] = "That is not your current password."
	}
	if fe, ok := models.AsFieldError(models.ValidatePassword(next)); ok {
		f.Errors["password"] = fe.Message
	}
	if len(f.Errors) == 0 {
		hash, err := models.HashPassword(next)
		if err != nil {
			return err
		}
		keep := c.FormValue("keep_tokens") == "on"
		revoked, err := s.store.SetPassword(c.UserContext(), u.ID, hash, currentSession(c).ID, keep)
		if err != nil {
			return err
		}
		s.audit(c, &u.ID, "password_changed", "user:"+u.Email, fmt.Sprintf("api tokens revoked: %d", revoked))
		switch {
		case keep:
			f.Message = "Password changed. Your other sessions were logged out; your API tokens still work."
		case revoked > 0:
			f.Message = fmt.Sprintf("Password changed. Your other sessions were logged out and your %d API token(s) revoked: create new ones for your programs.", revoked)
		default:
			f.Message = "Password changed. Your other sessions were logged out."
		}
	} else {
		f.Message = "The password was not changed."
		c.Status(fiber.StatusUnprocessableEntity)
	}
	if !isHTMX(c) && len(f.Errors) == 0 {
		// Post/redirect/get: the next page says what changed, and a reload resubmits nothing.
		return s.redirectFlash(c, "/settings", f.Message)
	}
	if isHTMX(c) {
		if c.Response().StatusCode() >= 400 {
			// htmx 2 ignores 4xx bodies by default; answer 200 with the form showing its errors.
			c.Status(fiber.StatusOK)
		}
		if err := render(c, views.PasswordForm(s.page(c, ""), f)); err != nil || len(f.Errors) > 0 {
			return err
		}
		// Revoked tokens change the list below the form too: swap it out of band.
		toks, err := s.store.APITokens(c.UserContext(), u.ID)
		if err != nil {
			return err
		}
		return render(c, views.TokensPartial(s.page(c, ""), views.Tokens{List: toks, OOB: true}))
	}
	toks, err := s.store.APITokens(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	return render(c, views.SettingsPage(s.navPage(c, "Settings", "settings"), views.Settings{Password: f, Tokens: views.Tokens{List: toks}}))
}

// tokenName validates the label of a new API token.
func tokenName(v string) (string, string) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", "Name the token so you can recognise it later."
	case !utf8.ValidString(v):
		return "", "The name is not valid text (UTF-8)."
	case utf8.RuneCountInString(v) > 100:
		return "", "Use at most 100 characters."
	}
	return v, ""
}

// tokenLifetime reads the "expires" field: a number of days, or empty for
// a token that does not expire.
func tokenLifetime(v string) (time.Duration, string) {
	v = strings.TrimSpace(v)
	if v == "" || v == "never" {
		return 0, ""
	}
	d, err := strconv.Atoi(v)
	if err != nil || d < 1 || d > models.MaxTokenDays {
		return 0, fmt.Sprintf("Choose when the token expires: after 1 to %d days, or never.", models.MaxTokenDays)
	}
	return time.Duration(d) * 24 * time.Hour, ""
}

func (s *Server) tokenCreate(c *fiber.Ctx) error {
	u := currentUser(c)
	name, msg := tokenName(c.FormValue("name"))
	validFor, expMsg := tokenLifetime(c.FormValue("expires"))
	if msg == "" {
		msg = expMsg
	}
	t := views.Tokens{Error: msg}
	if msg == "" {
		tok, secret, err := s.store.CreateAPIToken(c.UserContext(), u.ID, name, validFor)
		if err != nil {
			return err
		}
		s.audit(c, &u.ID, "token_created", "token:"+strconv.FormatUint(uint64(tok.ID), 10), name)
		t.NewSecret, t.NewName = secret, name
	}
	return s.renderTokens(c, t)
}

func (s *Server) tokenRevoke(c *fiber.Ctx) error {
	u := currentUser(c)
	id, err := strconv.ParseUint(c.Params("id"), 10, 32)
	t := views.Tokens{}
	if err != nil {
		t.Error = "No such token."
	} else if err := s.store.RevokeAPIToken(c.UserContext(), u.ID, uint(id)); err == models.ErrNotFound {
		t.Error = "No such token, or it was already revoked."
	} else if err != nil {
		return err
	} else {
		s.audit(c, &u.ID, "token_revoked", "token:"+c.Params("id"), "")
		t.Message = "Token revoked: programs using it are refused from now on."
		if !isHTMX(c) {
			return s.redirectFlash(c, "/settings", t.Message)
		}
	}
	return s.renderTokens(c, t)
}

// renderTokens answers htmx with the partial and plain forms with the page.
func (s *Server) renderTokens(c *fiber.Ctx, t views.Tokens) error {
	u := currentUser(c)
	list, err := s.store.APITokens(c.UserContext(), u.ID)
	if err != nil {
		return err
	}
	t.List = list
	if isHTMX(c) {
		return render(c, views.TokensPartial(s.page(c, ""), t))
	}
	if t.Error != "" {
		c.Status(fiber.StatusNotFound)
	}
	return render(c, views.SettingsPage(s.navPage(c, "Settings", "settings"), views.Settings{Tokens: t}))
}
