package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/402claw/402claw/models"
)

// sweepLogs applies every app's plan bounds (retention, bytes) to its stored log lines
// periodically: ingest trims the apps it writes to, the sweep also those that stopped logging.
func sweepLogs(ctx context.Context, store *models.Store, every time.Duration, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if _, err := store.SweepLogs(ctx); err != nil {
			log.Warn("log retention sweep failed; retrying at the next run", "err", err)
		}
	}
}
