package federation

import (
	"context"
	"path/filepath"
	"time"
)

// keyCheckInterval is how often the node looks for a signing key due for
// rotation; rotation periods are days, so an hour's lateness is nothing.
const keyCheckInterval = time.Hour

// rotateKeysLoop rotates the gateway's signing keys every period until ctx
// ends; see rotateKeys.
func (n *Node) rotateKeysLoop(ctx context.Context, period time.Duration) {
	t := time.NewTicker(min(keyCheckInterval, period))
	defer t.Stop()
	for {
		if err := n.rotateKeys(ctx, time.Now(), period); err != nil {
			n.log.Error("signing key rotation", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rotateKeys replaces signing keys older than period, drops keys whose
// tokens have all expired, saves the ring and publishes the new JWKS in the
// operator's record. The gateway's /jwks serves the ring itself, so the new
// key is there at once and a relying party that meets its kid refetches;
// the old key stays published until every token it signed has expired, so
// no verification fails across a rotation.
func (n *Node) rotateKeys(ctx context.Context, now time.Time, period time.Duration) error {
	rotated, err := n.keys.RotateDue(now, period)
	pruned := n.keys.Prune(now)
	if len(rotated) > 0 || pruned > 0 {
		if serr := n.keys.SaveFile(filepath.Join(n.cfg.DataDir, signingKeyFile)); serr != nil {
			return serr
		}
		n.log.Info("signing keys rotated", "rotated", rotated, "pruned", pruned)
	}
	if err != nil {
		return err
	}
	if len(rotated) > 0 || pruned > 0 {
		return n.publishOperator(ctx)
	}
	return nil
}
