// Command 402claw is the whole platform in one binary: the portal, its
// migrations and operator commands, and (without Cloudflare credentials) the
// local edge.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `402claw — turn Worker code into paid APIs.

Usage:
  402claw serve [flags]          run the portal (and the local edge without Cloudflare credentials)
  402claw migrate                apply pending database migrations and exit
  402claw user create --email E --password P [--admin] [--tenant SLUG]
                                 create a user (a new tenant unless --tenant or --admin)
  402claw reconcile [--allow-mass-delete] [--allow-mass-upload]
                                 compare the database with the edge once and repair drift; the
                                 flags override the safety valve for this run (see /admin/sync)
  402claw edge bootstrap         prepare a Cloudflare account: namespaces, dispatcher, outbound worker
  402claw edge check [--edge-url URL]
                                 run an end-to-end check against the Cloudflare account (bootstrap
                                 twice, a throwaway app, KV, a 402 through the dispatcher); run it
                                 before opening sign-up
  402claw billing reconcile      re-read subscriptions from Stripe and fix drift
  402claw help                   this text; "402claw serve --help" lists every setting
`

func main() {
	privateFiles()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, errUsage) {
			fmt.Fprintln(os.Stderr, "402claw:", err)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	switch args[0] {
	case "serve":
		if hasHelp(args[1:]) {
			PrintUsage(stdout)
			return nil
		}
		cfg, err := LoadConfig(args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr)
	case "migrate":
		cfg, err := LoadConfig(nil, getenv, stderr)
		if err != nil {
			return err
		}
		return migrateCmd(cfg, stdout)
	case "user":
		if len(args) < 2 || args[1] != "create" {
			fmt.Fprint(stderr, usage)
			return errUsage
		}
		cfg, err := LoadConfig(nil, getenv, stderr)
		if err != nil {
			return err
		}
		return userCreate(ctx, cfg, args[2:], stdout, stderr)
	case "reconcile", "edge", "billing":
		sub := args[0]
		if sub != "reconcile" {
			if len(args) < 2 || (sub == "edge" && args[1] != "bootstrap" && args[1] != "check") || (sub == "billing" && args[1] != "reconcile") {
				fmt.Fprint(stderr, usage)
				return errUsage
			}
			sub += " " + args[1]
		}
		cfg, err := LoadConfig(nil, getenv, stderr)
		if err != nil {
			return err
		}
		switch sub {
		case "reconcile":
			return reconcileCmd(ctx, cfg, args[1:], stdout, stderr)
		case "edge bootstrap":
			return edgeBootstrapCmd(ctx, cfg, stdout)
		case "edge check":
			return edgeCheckCmd(ctx, cfg, args[2:], stdout, stderr)
		default:
			return billingReconcileCmd(ctx, cfg, stdout, stderr)
		}
	case "config-table":
		// Prints the README's configuration table (kept in sync by a test).
		fmt.Fprint(stdout, MarkdownTable())
		return nil
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprintf(stderr, "unknown command %q\n\n%s", args[0], usage)
	return errUsage
}

func hasHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	rw := &redactWriter{w: w}
	logSecrets.mu.Lock()
	logSecrets.r = rw
	logSecrets.mu.Unlock()
	w = rw
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
