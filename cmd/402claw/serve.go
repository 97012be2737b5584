package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/402claw/402claw/models"
	"github.com/402claw/402claw/web"
	"gorm.io/gorm"
)

// openDB opens the configured database.
func openDB(cfg *Config) (*gorm.DB, error) {
	d, dsn, err := models.ParseDatabaseURL(cfg.DatabaseURL, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("CLAW_DATABASE_URL: %v", err)
	}
	return models.Open(d, dsn)
}

func migrateCmd(cfg *Config, stdout io.Writer) error {
	db, err := openDB(cfg)
	if err != nil {
		return err
	}
	applied, err := models.Migrate(db)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "schema is up to date (version %d)\n", models.LatestVersion())
		return nil
	}
	fmt.Fprintf(stdout, "applied migrations %v; schema is at version %d\n", applied, models.LatestVersion())
	return nil
}

// serve runs the portal until ctx ends (SIGINT/SIGTERM), then drains
// requests for up to 20 s. It applies pending migrations at start: one
// binary, one schema; a database newer than the binary is refused.
func serve(ctx context.Context, cfg *Config, logw io.Writer) error {
	log := newLogger(cfg, logw)
	db, err := openDB(cfg)
	if err != nil {
		return err
	}
	applied, err := models.Migrate(db)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		log.Info("applied migrations", "versions", applied)
	}
	if err := models.CheckSchema(db); err != nil {
		return err
	}
	store := models.NewStore(db)
	policy := models.SessionPolicy{Idle: cfg.SessionIdle, Absolute: cfg.SessionMax}
	app, _, err := web.New(web.Options{
		Store:      store,
		Logger:     log,
		BaseURL:    cfg.BaseURL,
		SignupOpen: cfg.Signup == "open",
		Session:    policy,
		AuthRate:   cfg.AuthRate,
		TrustProxy: cfg.TrustProxy,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("CLAW_ADDR: unable to listen on %s: %v", cfg.Addr, err)
	}
	go sweepSessions(ctx, store, policy, log)

	errc := make(chan error, 1)
	go func() { errc <- app.Listener(ln) }()
	log.Info("portal listening", "url", cfg.BaseURL, "addr", ln.Addr().String(), "database", dbKind(cfg))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := app.ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func dbKind(cfg *Config) string {
	d, dsn, _ := models.ParseDatabaseURL(cfg.DatabaseURL, cfg.DataDir)
	if d == models.SQLite {
		return "sqlite:" + dsn
	}
	return "postgres"
}

func sweepSessions(ctx context.Context, store *models.Store, p models.SessionPolicy, log interface{ Warn(string, ...any) }) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := store.DeleteExpiredSessions(ctx, p); err != nil {
				log.Warn("session sweep failed", "err", err)
			}
		}
	}
}
