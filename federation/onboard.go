package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"time"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// OperatorProfile is what an operator states about itself when its node
// joins the federation (mcfed serve --operator-file). The node adds what only
// it knows, its issuer (the public URL), its subscriber_id sealing key and
// its signing keys' JWKS, and writes the operator's record, number ranges and
// IP ranges to the registry; discovery routes to the operator as soon as
// that is committed. Ranges are added, never taken away: an operator removes
// ranges through the admin API, so that a profile file missing a line cannot
// silently drop numbers from discovery.
type OperatorProfile struct {
	Name     string   `json:"name"`
	Country  string   `json:"country"`
	Currency string   `json:"currency"`
	Networks []string `json:"networks,omitempty"`
	// Logo and Color are the operator's look on its gateway's pages
	// (registry.Operator's); optional.
	Logo  string `json:"logo,omitempty"`
	Color string `json:"color,omitempty"`
	// Endpoints overrides URLs that differ from the gateway's defaults under
	// the issuer (an operator with its own adaptor in front, say).
	Endpoints registry.Endpoints `json:"endpoints,omitempty"`
	Ranges    []string           `json:"ranges,omitempty"`
	IPRanges  []string           `json:"ip_ranges,omitempty"`
}

// maxProfileBytes bounds the profile file: it lists ranges, not bulk data
// (bulk ranges go through POST /v1/ranges/import).
const maxProfileBytes = 1 << 20

// LoadOperatorProfile reads a profile file, refusing unknown fields so that
// a misspelt key is an error at start, not a silently missing range.
func LoadOperatorProfile(path string) (*OperatorProfile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("operator profile: %w", err)
	}
	if len(data) > maxProfileBytes {
		return nil, fmt.Errorf("operator profile %s: larger than %d bytes", path, maxProfileBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p OperatorProfile
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("operator profile %s: %w", path, err)
	}
	for _, r := range p.Ranges {
		if _, _, err := e164.ParsePrefix(r); err != nil {
			return nil, fmt.Errorf("operator profile %s: range %q: %w", path, r, err)
		}
	}
	return &p, nil
}

// errOperatorHeldElsewhere: the operator's record carries a sealing key
// that is none of this node's, so another node serves the operator. A node
// does not take an operator over by starting with its id: the federation's
// admin clears the record's sealing_key first (a deliberate move to new
// hardware).
var errOperatorHeldElsewhere = errors.New("the operator's record names a sealing key this node does not hold")

// operatorRecord is the operator's registry record as this node states it
// now: the profile's fields (or, without a profile, those already
// registered) with the node's issuer and public keys. The status stays what
// the federation set: a suspended operator's restart does not lift it.
func (n *Node) operatorRecord(existing *registry.Operator) (*registry.Operator, error) {
	current, previous, err := n.sealing.publicPEMs()
	if err != nil {
		return nil, err
	}
	if existing != nil && existing.SealingKey != "" && existing.SealingKey != current && existing.SealingKey != previous {
		return nil, errOperatorHeldElsewhere
	}
	var rec registry.Operator
	switch p := n.cfg.Operator; {
	case p != nil:
		rec = registry.Operator{ID: n.cfg.OperatorID, Name: p.Name, Country: p.Country, Currency: p.Currency,
			Networks: p.Networks, Endpoints: p.Endpoints, Logo: p.Logo, Color: p.Color, Status: registry.StatusActive}
	case existing != nil:
		rec = *existing
	default:
		return nil, nil // registered by the federation's admin later
	}
	if existing != nil {
		rec.Status = existing.Status
	}
	rec.Issuer = n.PublicURL()
	rec.SealingKey = current
	rec.SealKeys = n.sealing.publishedSealKeys(time.Now())
	rec.SubscriberIDForms = subscriberIDForms
	rec.JWKS = n.keys.JWKS(time.Now())
	return &rec, nil
}

// sameRecord reports whether two operator records state the same thing
// (ignoring Raft bookkeeping and the slot), so a restart writes nothing.
func sameRecord(a, b *registry.Operator) bool {
	if a == nil || b == nil {
		return a == b
	}
	x, y := *a, *b
	x.Meta, y.Meta, x.Slot, y.Slot = registry.Meta{}, registry.Meta{}, 0, 0
	xj, _ := json.Marshal(x)
	yj, _ := json.Marshal(y)
	return bytes.Equal(xj, yj)
}

// updateOperator is a read-modify-write of operator id's record: it reads
// the record as the federation holds it now (at the leader's index, not as
// a lagging replica holds it), lets build state the new record (nil: write
// nothing), and writes it only if nobody changed the record in between
// (registry.CmdUpdateOperator), reading again when somebody did. A
// suspension committed during a node's key publication is thus kept, not
// undone.
func (n *Node) updateOperator(ctx context.Context, id string, build func(existing *registry.Operator) (*registry.Operator, error)) (written bool, err error) {
	return n.raft.Update(ctx, n.raft.Self(), func(reg *registry.Registry) ([]byte, error) {
		existing := reg.Operator(id)
		rec, err := build(existing)
		if err != nil || rec == nil || sameRecord(existing, rec) {
			return nil, err
		}
		u := registry.OperatorUpdate{Operator: *rec}
		if existing != nil {
			u.IfIndex = existing.ModifyIndex
		}
		return registry.MustEncode(registry.CmdUpdateOperator, u), nil
	})
}

// publishOperator writes the operator's record, then its ranges and IP
// ranges, then marks this node as the operator's. It is idempotent: each
// step writes only what differs.
func (n *Node) publishOperator(ctx context.Context) error {
	written, err := n.updateOperator(ctx, n.cfg.OperatorID, n.operatorRecord)
	if err != nil {
		return fmt.Errorf("register operator %s: %w", n.cfg.OperatorID, err)
	}
	if written {
		n.log.Info("operator record published", "operator", n.cfg.OperatorID, "issuer", n.PublicURL())
	}
	reg := n.raft.Registry()
	if reg.Operator(n.cfg.OperatorID) == nil {
		// Not registered, and no profile to register it with: nothing of
		// ours to publish until the federation's admin does.
		n.log.Warn(n.warnUnregistered())
		return nil
	}
	if p := n.cfg.Operator; p != nil {
		if err := n.publishRanges(ctx, p); err != nil {
			return err
		}
	}
	if self := reg.Node(n.cfg.NodeID); self != nil && self.Operator != n.cfg.OperatorID {
		rec := *self
		rec.Operator = n.cfg.OperatorID
		if _, err := n.raft.Apply(ctx, n.raft.Self(), registry.MustEncode(registry.CmdPutNode, rec)); err != nil {
			return fmt.Errorf("mark node %s as %s's: %w", n.cfg.NodeID, n.cfg.OperatorID, err)
		}
	} else if self == nil {
		return errors.New("this node's record is not replicated here yet")
	}
	return nil
}

// publishRanges adds the profile's ranges this operator does not hold yet.
// A range another operator holds, or one inside another operator's range
// (which would take those numbers by the longest match), is not taken:
// each is claimed on its own, which the registry refuses and records as a
// dispute for the federation's admin to settle (registry/disputes.go),
// and logged. A claim the federation settled against this operator is
// not made again. The same holds for IP ranges.
func (n *Node) publishRanges(ctx context.Context, p *OperatorProfile) error {
	reg := n.raft.Registry()
	var batch registry.RangeBatch
	for _, r := range p.Ranges {
		if holder := n.rangeHolder(reg, r); holder != "" {
			if holder != n.cfg.OperatorID {
				one := registry.RangeBatch{Ranges: []registry.Range{{Prefix: r, Operator: n.cfg.OperatorID}}}
				if err := n.claim(ctx, registry.DisputeRange, r, holder, registry.MustEncode(registry.CmdPutRanges, one)); err != nil {
					return err
				}
			}
			continue
		}
		batch.Ranges = append(batch.Ranges, registry.Range{Prefix: r, Operator: n.cfg.OperatorID})
	}
	if len(batch.Ranges) > 0 {
		if _, err := n.raft.Apply(ctx, n.raft.Self(), registry.MustEncode(registry.CmdPutRanges, batch)); err != nil {
			return fmt.Errorf("register ranges: %w", err)
		}
	}
	for _, cidr := range p.IPRanges {
		pfx, err := netip.ParsePrefix(cidr)
		if err != nil {
			return fmt.Errorf("operator profile: IP range %q: %w", cidr, err)
		}
		if cur := reg.IPRange(cidr); cur != nil && cur.Operator == n.cfg.OperatorID {
			continue
		}
		rng := registry.IPRange{CIDR: cidr, Operator: n.cfg.OperatorID}
		if o := reg.OperatorByIP(pfx.Masked().Addr()); o != nil {
			if o.ID != n.cfg.OperatorID {
				if err := n.claim(ctx, registry.DisputeIPRange, pfx.Masked().String(), o.ID, registry.MustEncode(registry.CmdPutIPRange, rng)); err != nil {
					return err
				}
				continue
			}
		}
		if _, err := n.raft.Apply(ctx, n.raft.Self(), registry.MustEncode(registry.CmdPutIPRange, rng)); err != nil {
			return fmt.Errorf("register IP range %s: %w", cidr, err)
		}
	}
	return nil
}

// claim puts a range another operator holds (holder, as this replica
// knows it): the registry refuses it as a conflict and records the claim
// as a dispute, which is logged. A range the federation admin settled on
// another operator after this operator claimed it is not claimed again.
func (n *Node) claim(ctx context.Context, kind, rng, holder string, cmd []byte) error {
	for _, d := range n.raft.Registry().Disputes(registry.DisputeQuery{Operator: n.cfg.OperatorID, Status: registry.DisputeSettled, Limit: 1000}).Items {
		if d.Kind == kind && d.Claimant == n.cfg.OperatorID && d.Range == canonicalRange(kind, rng) && d.Award != n.cfg.OperatorID {
			n.log.Warn("range in the operator profile was awarded to another operator: not claimed again",
				"range", rng, "dispute", d.ID, "award", d.Award)
			return nil
		}
	}
	_, err := n.raft.Apply(ctx, n.raft.Self(), cmd)
	switch {
	case registry.CodeOf(err) == registry.CodeConflict:
		n.log.Error("range in the operator profile is another operator's: not taken, the claim is a dispute for the federation admin",
			"range", rng, "holder", holder, "err", err)
		return nil
	case err != nil:
		return fmt.Errorf("claim range %s: %w", rng, err)
	}
	return nil // the range was free after all: taken
}

// canonicalRange is a range as the registry writes it in a dispute.
func canonicalRange(kind, rng string) string {
	if kind == registry.DisputeIPRange {
		if p, err := netip.ParsePrefix(rng); err == nil {
			return p.Masked().String()
		}
		return rng
	}
	if v, _, err := e164.ParsePrefix(rng); err == nil {
		return e164.Format(v)
	}
	return rng
}

// rangeHolder returns the operator holding prefix r or a shorter prefix of
// it (the range r would lie in), or "" when none does.
func (n *Node) rangeHolder(reg *registry.Registry, r string) string {
	v, d, err := e164.ParsePrefix(r)
	if err != nil {
		return ""
	}
	digits := strconv.FormatUint(v, 10)
	for l := d; l > 0; l-- {
		if cur := reg.Range("+" + digits[:l]); cur != nil {
			return cur.Operator
		}
	}
	return ""
}

// onboard publishes the operator until it succeeds: at start the cluster
// may be electing, or this node's admission not yet replicated. A refusal
// by the registry (an invalid profile) is final and logged.
func (n *Node) onboard(ctx context.Context) {
	defer close(n.onboarded)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := n.publishOperator(ctx)
		if err == nil {
			return
		}
		if registry.CodeOf(err) != "" || errors.Is(err, errOperatorHeldElsewhere) {
			n.log.Error("the operator is not published", "operator", n.cfg.OperatorID, "err", err)
			return
		}
		n.log.Debug("operator not published yet", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
