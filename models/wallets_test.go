package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/models/modeltest"
)

// SetPayoutWallet upserts one wallet per tenant and network and rewrites pay_to, in the same
// transaction, on the routes that follow it: not on routes with their own address, not on
// another network's, not on another tenant's; the apps it touched get a new generation.
func TestSetPayoutWallet(t *testing.T) {
	const (
		first  = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
		second = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359"
	)
	modeltest.Each(t, func(t *testing.T, db modeltest.DB) {
		ctx := context.Background()
		s := models.NewStore(db.Gorm)
		tn := newTenant(t, s, "Wallets")
		other := newTenant(t, s, "Others")
		app, err := s.CreateApp(ctx, tn, "wallets", "W")
		if err != nil {
			t.Fatal(err)
		}
		otherApp, err := s.CreateApp(ctx, other, "others", "O")
		if err != nil {
			t.Fatal(err)
		}
		routes, err := models.ValidateRoutes([]models.RouteInput{
			{Path: "/follow", Access: "x402", Price: "1"},
			{Path: "/own", Access: "x402", Price: "1", PayTo: wallet},
			{Path: "/mainnet", Access: "x402", Price: "1", Network: "eip155:8453"},
		})
		if err != nil {
			t.Fatal(err)
		}
		var re *models.RouteError
		if _, err := s.ReplaceRoutes(ctx, app, routes); !errors.As(err, &re) || re.Index != 0 || re.Field != "pay_to" {
			t.Fatalf("routes without any default wallet: %v, want a pay_to error at index 0", err)
		}
		if _, err := s.SetPayoutWallet(ctx, tn.ID, "eip155:84532", first, nil, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReplaceRoutes(ctx, app, routes); !errors.As(err, &re) || re.Index != 2 || !strings.Contains(re.Message, "on Base:") {
			t.Fatalf("a mainnet route without a mainnet wallet: %v, want a pay_to error at index 2 naming Base", err)
		}
		if _, err := s.SetPayoutWallet(ctx, tn.ID, "eip155:8453", second, nil, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReplaceRoutes(ctx, app, routes); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReplaceRoutes(ctx, otherApp, routes[:1]); !errors.As(err, &re) {
			t.Fatalf("another tenant used this tenant's wallet: %v", err)
		}
		payTo := func(appID uint) []string {
			t.Helper()
			rs, err := s.Routes(ctx, appID)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rs {
				out = append(out, r.PayTo)
			}
			return out
		}
		if got := strings.Join(payTo(app.ID), " "); got != first+" "+wallet+" "+second {
			t.Fatalf("pay_to after storing: %s", got)
		}
		before, _ := s.AppByID(ctx, app.ID)
		ch, err := s.SetPayoutWallet(ctx, tn.ID, "eip155:84532", second, nil, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if ch.Previous != first || ch.Routes != 1 || len(ch.AppIDs) != 1 || ch.AppIDs[0] != app.ID || ch.Wallet.Address != second {
			t.Fatalf("change %+v", ch)
		}
		if got := strings.Join(payTo(app.ID), " "); got != second+" "+wallet+" "+second {
			t.Fatalf("pay_to after the change: %s", got)
		}
		after, _ := s.AppByID(ctx, app.ID)
		if after.Generation != before.Generation+1 || after.InSync() {
			t.Fatalf("generation %d → %d (in sync %v): the edge was not told", before.Generation, after.Generation, after.InSync())
		}
		ws, err := s.PayoutWallets(ctx, tn.ID)
		if err != nil || len(ws) != 2 {
			t.Fatalf("wallets %+v %v", ws, err)
		}
		if ws, _ := s.PayoutWallets(ctx, other.ID); len(ws) != 0 {
			t.Fatalf("the other tenant has wallets %+v", ws)
		}
		var n int64
		db.Gorm.Model(&models.AuditEvent{}).Where("action = ? AND target = ?", "payout_wallet_changed", fmt.Sprintf("tenant:%d", tn.ID)).Count(&n)
		if n != 3 {
			t.Fatalf("%d audit events, want 3", n)
		}
	})
}
