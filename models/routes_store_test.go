package models_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

const wallet = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C"

func TestValidateRoute(t *testing.T) {
	paid := func(price, network, payTo string) models.RouteInput {
		return models.RouteInput{Method: "GET", Path: "/weather", Access: "x402", Price: price, Network: network, PayTo: payTo}
	}
	optimistic := func(refuse string) models.RouteInput {
		return models.RouteInput{Method: "GET", Path: "/cheap", Access: "x402", Price: "$0.001", PayTo: wallet, Settle: "optimistic", RefuseSeconds: refuse}
	}
	tests := []struct {
		name      string
		in        models.RouteInput
		field     string // "" means valid
		wantMsg   string
		check     func(models.Route) bool
		checkNote string
	}{
		{"public any method", models.RouteInput{Path: "/api/"}, "", "", func(r models.Route) bool {
			return r.Method == "" && r.Path == "/api" && r.Access == "public" && r.Settle == "after" && r.Amount == ""
		}, "canonical path, defaults"},
		{"priced", paid("$0.01", "", wallet), "", "", func(r models.Route) bool {
			return r.Amount == "10000" && r.Network == "eip155:84532" && r.PayTo == wallet && r.Price == "$0.01"
		}, "atomic units on Base Sepolia by default"},
		{"lower-case pay_to normalized", paid("1", "eip155:8453", strings.ToLower(wallet)), "", "", func(r models.Route) bool {
			return r.PayTo == wallet && r.Amount == "1000000" && r.Network == "eip155:8453"
		}, "EIP-55"},
		{"smallest price", paid("0.000001", "", wallet), "", "", func(r models.Route) bool { return r.Amount == "1" }, "1 atomic unit"},
		{"public drops price", models.RouteInput{Path: "/a", Access: "public", Price: "$1", PayTo: "junk"}, "", "", func(r models.Route) bool {
			return r.Price == "" && r.PayTo == "" && r.Network == ""
		}, "no price fields"},
		{"bad price", paid("abc", "", wallet), "price", "not an amount", nil, ""},
		{"zero price", paid("$0", "", wallet), "price", "zero", nil, ""},
		{"too many decimals", paid("0.0000001", "", wallet), "price", "more decimal places", nil, ""},
		{"negative", paid("-1", "", wallet), "price", "negative", nil, ""},
		{"bad pattern", models.RouteInput{Path: "/api/*/x"}, "path", "* may only end", nil, ""},
		{"no slash", models.RouteInput{Path: "weather"}, "path", "must start with /", nil, ""},
		{"bad method", models.RouteInput{Method: "FETCH", Path: "/a"}, "method", "unknown method", nil, ""},
		{"wrong checksum", paid("1", "", "0x209693bC6afc0C5328bA36FaF03C514EF312287C"), "pay_to", "checksum is wrong", nil, ""},
		{"missing pay_to follows the default wallet", paid("1", "", ""), "", "", func(r models.Route) bool {
			return r.PayToDefault && r.PayTo == "" && r.Amount == "1000000"
		}, "PayToDefault, pay_to filled when stored"},
		{"pay_to_default wins over an address", models.RouteInput{Path: "/a", Access: "x402", Price: "1", PayTo: wallet, PayToDefault: true}, "", "", func(r models.Route) bool {
			return r.PayToDefault && r.PayTo == ""
		}, "PayToDefault"},
		{"bad price with default pay_to", paid("0", "", ""), "price", "zero", nil, ""},
		{"short address", paid("1", "", "0x1234"), "pay_to", "40 hex digits", nil, ""},
		{"unknown network", paid("1", "eip155:1", wallet), "network", "not supported", nil, ""},
		{"refusal time in seconds", optimistic("3600"), "", "", func(r models.Route) bool { return r.RefuseSeconds != nil && *r.RefuseSeconds == 3600 }, "3600"},
		{"refusal time as a duration", optimistic("15m"), "", "", func(r models.Route) bool { return r.RefuseSeconds != nil && *r.RefuseSeconds == 900 }, "900"},
		{"refusal time in days", optimistic(" 2d "), "", "", func(r models.Route) bool { return r.RefuseSeconds != nil && *r.RefuseSeconds == 172800 }, "172800"},
		{"refusal time 30 days", optimistic("720h"), "", "", func(r models.Route) bool { return r.RefuseSeconds != nil && *r.RefuseSeconds == 2592000 }, "the cap"},
		{"refusal time zero refuses nobody", optimistic("0"), "", "", func(r models.Route) bool { return r.RefuseSeconds != nil && *r.RefuseSeconds == 0 }, "0, not nil"},
		{"no refusal time follows the edge", optimistic(""), "", "", func(r models.Route) bool { return r.RefuseSeconds == nil }, "nil"},
		{"negative refusal time", optimistic("-1"), "refuse_seconds", "from 0", nil, ""},
		{"refusal time over 30 days", optimistic("31d"), "refuse_seconds", "30 days", nil, ""},
		{"refusal time over 30 days in seconds", optimistic("2592001"), "refuse_seconds", "30 days", nil, ""},
		{"fractional refusal time", optimistic("1.5s"), "refuse_seconds", "seconds", nil, ""},
		{"refusal time not a number", optimistic("soon"), "refuse_seconds", "seconds", nil, ""},
		{"huge refusal time", optimistic("99999999999999999999"), "refuse_seconds", "seconds", nil, ""},
		{"refusal time on an after route", models.RouteInput{Path: "/a", Access: "x402", Price: "1", PayTo: wallet, Settle: "after", RefuseSeconds: "60"}, "refuse_seconds", "Only optimistic routes", nil, ""},
		{"bad access", models.RouteInput{Path: "/a", Access: "paid"}, "access", "public, x402 or api_key", nil, ""},
		{"bad settle", models.RouteInput{Path: "/a", Settle: "later"}, "settle", "after", nil, ""},
		{"bad mime", models.RouteInput{Path: "/a", MimeType: "json"}, "mime_type", "MIME type", nil, ""},
		{"long description", models.RouteInput{Path: "/a", Description: strings.Repeat("x", 501)}, "description", "500", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := models.ValidateRoute(tt.in)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("ValidateRoute: %v", err)
				}
				if !tt.check(r) {
					t.Fatalf("route %+v: want %s", r, tt.checkNote)
				}
				return
			}
			fe, ok := models.AsFieldError(err)
			if !ok || fe.Field != tt.field || !strings.Contains(fe.Message, tt.wantMsg) {
				t.Fatalf("ValidateRoute = %v, want field %s saying %q", err, tt.field, tt.wantMsg)
			}
		})
	}
}

func TestValidateRoutesNamesIndex(t *testing.T) {
	_, err := models.ValidateRoutes([]models.RouteInput{{Path: "/a"}, {Path: "/b", Access: "x402", Price: "0", PayTo: wallet}})
	var re *models.RouteError
	if !errors.As(err, &re) || re.Index != 1 || re.Field != "price" {
		t.Fatalf("ValidateRoutes = %v, want a price error at index 1", err)
	}
}

func TestRouteWarnings(t *testing.T) {
	rs := []models.Route{{Path: "/a"}, {Path: "/*"}, {Method: "GET", Path: "/b"}, {Path: "/a"}}
	ws := models.RouteWarnings(rs)
	if len(ws) != 2 || ws[0].Index != 2 || ws[0].ShadowedBy != 1 || ws[1].Index != 3 || ws[1].ShadowedBy != 0 {
		t.Fatalf("warnings = %+v", ws)
	}
}

func TestEditRoutes(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Router")
		app, err := s.CreateApp(ctx, tn, "router", "R")
		if err != nil {
			t.Fatal(err)
		}
		mk := func(path string) models.Route {
			r, err := models.ValidateRoute(models.RouteInput{Path: path})
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		list, err := s.ReplaceRoutes(ctx, app, []models.Route{mk("/a"), mk("/b"), mk("/c")})
		if err != nil || len(list) != 3 {
			t.Fatalf("ReplaceRoutes = %+v, %v", list, err)
		}
		gen := app.Generation
		if j := job(t, db, app); j.DesiredGen != gen {
			t.Fatalf("job desired %d, app generation %d", j.DesiredGen, gen)
		}
		if _, err := s.MoveRoute(ctx, app, list[2].ID, -1); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MoveRoute(ctx, app, list[0].ID, -1); err != nil {
			t.Fatal(err) // first up: no change, no error
		}
		got, _ := s.Routes(ctx, app.ID)
		if paths(got) != "/a /c /b" || got[1].ID != list[2].ID {
			t.Fatalf("after move: %s", paths(got))
		}
		if _, err := s.UpdateRoute(ctx, app, list[1].ID, mk("/bee")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteRoute(ctx, app, list[0].ID); err != nil {
			t.Fatal(err)
		}
		got, _ = s.Routes(ctx, app.ID)
		if paths(got) != "/c /bee" || got[1].ID != list[1].ID || got[0].Position != 0 || got[1].Position != 1 {
			t.Fatalf("after update+delete: %+v", got)
		}
		if app.Generation != gen+4 {
			t.Errorf("four edits moved the generation from %d to %d", gen, app.Generation)
		}

		other, err := s.CreateApp(ctx, newTenant(t, s, "Other"), "other-app", "O")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteRoute(ctx, other, got[0].ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("deleting another app's route: %v", err)
		}
		if _, err := s.UpdateRoute(ctx, other, got[0].ID, mk("/x")); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("updating another app's route: %v", err)
		}

		// Free allows 10 routes per app.
		many := make([]models.Route, 11)
		for i := range many {
			many[i] = mk(fmt.Sprintf("/r%d", i))
		}
		_, err = s.ReplaceRoutes(ctx, app, many)
		var ple *models.PlanLimitError
		if !errors.As(err, &ple) || ple.Limit != 10 || ple.BetterPlan != "Pro" {
			t.Fatalf("11 routes on free: %v", err)
		}
		if got, _ := s.Routes(ctx, app.ID); paths(got) != "/c /bee" {
			t.Errorf("a refused replace changed the routes: %s", paths(got))
		}
		if _, err := s.ReplaceRoutes(ctx, app, many[:10]); err != nil {
			t.Errorf("10 routes on free: %v", err)
		}
	})
}

func paths(rs []models.Route) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Path)
	}
	return strings.Join(out, " ")
}

func TestValidateEgressPattern(t *testing.T) {
	tests := []struct{ in, want, bad string }{
		{"api.example.com", "api.example.com", ""},
		{" API.Example.COM. ", "api.example.com", ""},
		{"*.example.org", "*.example.org", ""},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", ""},
		{"1.example.com", "1.example.com", ""},
		{"localhost", "", "not a public host name"},
		{"LOCALHOST.", "", "not a public host name"},
		{"vm", "", "not a public host name"},
		{"app.localhost", "", "local or internal"},
		{"*.localhost", "", "top-level"},
		{"*.svc.localhost", "", "local or internal"},
		{"metadata.google.internal", "", "local or internal"},
		{"*.internal", "", "top-level"},
		{"printer.local", "", "local or internal"},
		{"nas.home.arpa", "", "local or internal"},
		{"1.0.0.127.in-addr.arpa", "", "local or internal"},
		{"", "", "Enter a host"},
		{"*", "", "every host"},
		{"*.com", "", "top-level"},
		{"https://api.example.com", "", "without http"},
		{"api.example.com/v1", "", "without a path"},
		{"api.example.com:8080", "", "port"},
		{"127.0.0.1", "", "IP address"},
		{"8.8.8.8", "", "IP address"},
		{"[::1]", "", "IP address"},
		{"::1", "", "IP address"},
		{"127.1", "", "reads as an IP address"},
		{"2130706433", "", "reads as an IP address"},
		{"0x7f.1", "", "reads as an IP address"},
		{"a..b", "", "empty part"},
		{"api.*.example.com", "", "may only come first"},
		{"-a.example.com", "", "hyphen"},
		{"bücher.example", "", "punycode"},
		{"a_b.example", "", "letters, digits"},
		{strings.Repeat("a", 64) + ".com", "", "63"},
	}
	check := func(p models.EgressPolicy, in, want, bad string) {
		t.Helper()
		got, err := p.ValidateEgressPattern(in)
		if bad == "" {
			if err != nil || got != want {
				t.Errorf("%+v ValidateEgressPattern(%q) = %q, %v; want %q", p, in, got, err, want)
			}
			return
		}
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%+v ValidateEgressPattern(%q) = %q, %v; want an error saying %q", p, in, got, err, bad)
		}
	}
	for _, tt := range tests {
		check(models.EgressPolicy{}, tt.in, tt.want, tt.bad)
	}
	// CLAW_EDGE_PRIVATE_EGRESS=allow: localhost and loopback or private literals, nothing else.
	private := []struct{ in, want, bad string }{
		{"localhost", "localhost", ""},
		{"127.0.0.1", "127.0.0.1", ""},
		{"10.1.2.3", "10.1.2.3", ""},
		{"::1", "[::1]", ""},
		{"[fd00::1]", "[fd00::1]", ""},
		{"8.8.8.8", "", "only loopback and private"},
		{"vm", "", "not a public host name"},
		{"metadata.google.internal", "", "local or internal"},
		{"api.example.com", "api.example.com", ""},
	}
	for _, tt := range private {
		check(models.EgressPolicy{AllowPrivate: true}, tt.in, tt.want, tt.bad)
	}
	many := make([]string, 51)
	for i := range many {
		many[i] = fmt.Sprintf("h%d.example.com", i)
	}
	if _, err := (models.EgressPolicy{}).ValidateEgress(many); err == nil {
		t.Error("51 hosts accepted")
	}
	if got, err := (models.EgressPolicy{}).ValidateEgress([]string{"a.example.com", "A.example.com", "b.example.com"}); err != nil || len(got) != 2 {
		t.Errorf("duplicates: %v, %v", got, err)
	}
}

func TestAPIKeysAndEgress(t *testing.T) {
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		app, err := s.CreateApp(ctx, newTenant(t, s, "Keys"), "keyed", "K")
		if err != nil {
			t.Fatal(err)
		}
		k, secret, err := s.CreateAPIKey(ctx, app, "partner")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(secret))
		if k.Hash != hex.EncodeToString(sum[:]) || !strings.HasPrefix(secret, "ck_") || !strings.HasPrefix(secret, k.Prefix) {
			t.Fatalf("key %+v for secret %q", k, secret)
		}
		st, _ := s.AppEdgeState(ctx, app.ID)
		if len(st.Keys) != 1 || st.Keys[0].Hash != k.Hash {
			t.Fatalf("edge state keys %+v", st.Keys)
		}
		if err := s.RevokeAPIKey(ctx, app, k.ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAPIKey(ctx, app, k.ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("second revoke: %v", err)
		}
		if st, _ := s.AppEdgeState(ctx, app.ID); len(st.Keys) != 0 {
			t.Errorf("revoked key still reaches the edge")
		}
		if _, _, err := s.CreateAPIKey(ctx, app, " "); err == nil {
			t.Error("nameless key accepted")
		}

		if _, err := s.ReplaceEgress(ctx, app, []string{"a.example.com", "*.example.org"}); err != nil {
			t.Fatal(err)
		}
		if err := s.AddEgress(ctx, app, "b.example.com"); err != nil {
			t.Fatal(err)
		}
		if err := s.AddEgress(ctx, app, "a.example.com"); err != nil {
			t.Fatal(err)
		}
		es, _ := s.EgressRules(ctx, app.ID)
		if len(es) != 3 || es[2].Pattern != "b.example.com" {
			t.Fatalf("egress %+v", es)
		}
		if err := s.RemoveEgress(ctx, app, es[0].ID); err != nil {
			t.Fatal(err)
		}
		if err := s.RemoveEgress(ctx, app, es[0].ID); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("second remove: %v", err)
		}
		if j := job(t, db, app); j.DesiredGen != app.Generation {
			t.Errorf("job %d behind app generation %d", j.DesiredGen, app.Generation)
		}
	})
}
