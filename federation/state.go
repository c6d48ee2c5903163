package federation

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcfed/mcfed/operator/state"
	"github.com/mcfed/mcfed/operator/state/embedded"
	"github.com/mcfed/mcfed/operator/state/postgres"
)

// stateFile is the operator's node-local state store in the data
// directory (login sessions, codes, tokens; operator/state), when the node
// keeps it embedded.
const stateFile = "state.db"

// sharedStore reports whether url names a store the operator's nodes
// share (PostgreSQL).
func sharedStore(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// openState opens the node's state store: the PostgreSQL database of
// cfg.Store, or the embedded one in the data directory.
func openState(ctx context.Context, cfg Config) (state.Store, error) {
	if sharedStore(cfg.Store) {
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s, err := postgres.Open(ctx, cfg.Store, state.Options{})
		if err != nil {
			return nil, fmt.Errorf("state store (--store): %w", err)
		}
		return s, nil
	}
	s, err := embedded.Open(filepath.Join(cfg.DataDir, stateFile), state.Options{})
	if err != nil {
		return nil, fmt.Errorf("state store: %w", err)
	}
	return s, nil
}

// sweepState drops expired records from s every interval until ctx ends,
// in batches, so that one sweep does not hold the store's writers long.
func sweepState(ctx context.Context, s state.Store, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := s.Sweep(ctx, 1000)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("state store: sweeping expired records failed", "error", err)
				}
				break
			}
			if n < 1000 {
				break
			}
		}
	}
}
