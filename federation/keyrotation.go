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

// operatorKeys rotates the operator's keys when its admin asks (POST
// /v1/operator/keys/rotate), on the operator's own node: private keys never
// leave it.
type operatorKeys struct{ n *Node }

// RotateKeys replaces the operator's signing keys, its sealing key, or both,
// and publishes the public halves in the operator's record. Signing keys
// rotate as on the schedule (old ones stay published until their tokens
// expire); the replaced sealing key still opens subscriber_ids sealed before
// the new one reached every replica.
func (k operatorKeys) RotateKeys(ctx context.Context, signing, sealing bool) error {
	n := k.n
	if sealing {
		// Rotate only once the previous rotation's key is the registered
		// one: rotating twice before publishing would leave the registry
		// naming a key that is neither current nor previous here, and no
		// subscriber_id from discovery would open.
		current, _, err := n.sealing.publicPEMs()
		if err != nil {
			return err
		}
		if o := n.cluster.node.Registry().Operator(n.cfg.OperatorID); o == nil || o.SealingKey == current {
			if err := n.sealing.rotate(); err != nil {
				return err
			}
		}
	}
	if signing {
		// A period of zero makes every active key due.
		if err := n.rotateKeys(ctx, time.Now(), 0); err != nil {
			return err
		}
	}
	return n.publishOperator(ctx)
}
