package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// memberView is a member of the Raft configuration as /v1/cluster/status
// shows it.
type memberView struct {
	ID      string `json:"id"`
	Voter   bool   `json:"voter"`
	Standby bool   `json:"standby"`
}

// suffrage is node n's view of the configuration: "id:voter" or
// "id:non-voter", sorted.
func (n *node) suffrage() ([]string, error) {
	var st struct {
		Raft struct {
			Members []memberView `json:"members"`
		} `json:"raft"`
	}
	if err := n.admin("GET", "/v1/cluster/status", nil, &st); err != nil {
		return nil, err
	}
	var out []string
	for _, m := range st.Raft.Members {
		role := "non-voter"
		if m.Voter {
			role = "voter"
		}
		out = append(out, m.ID+":"+role)
	}
	slices.Sort(out)
	return out, nil
}

// waitSuffrage waits until every running node sees the configuration want
// (as suffrage gives it).
func (f *federation) waitSuffrage(want []string) {
	f.t.Helper()
	slices.Sort(want)
	for _, n := range f.live() {
		err := poll(electionTimeout, func() (bool, error) {
			got, err := n.suffrage()
			if err == nil && !slices.Equal(got, want) {
				err = fmt.Errorf("sees %s", strings.Join(got, " "))
			}
			return err == nil, err
		})
		if err != nil {
			f.t.Fatalf("%s never saw the configuration %s: %v", n.id, strings.Join(want, " "), err)
		}
	}
}

// TestSevenNodeFederationLosesAVoter: a federation of seven nodes, three
// operators' nodes the voters the federation admin named before they
// joined, and four consortium replicas that joined with the same kind of
// token and became non-voters (two of them standby). Discovery answers on
// every node. The leader's process is killed while SPs hammer discovery on
// the six others: no request fails, a voter takes over and, once the lost
// one has been out of contact for the rules' two seconds, promotes a
// standby in its place (three voters again, the lost one a non-voter); a
// write goes through a non-voter afterwards.
func TestSevenNodeFederationLosesAVoter(t *testing.T) {
	ops := []demoOperator{ukDemo, deDemo, frDemo}
	f := newFederation(t, withTLS())
	a := f.addNode(ukDemo)
	voters := []string{"node-" + ukDemo.ID, "node-" + deDemo.ID, "node-" + frDemo.ID}
	replicas := []string{"replica-1", "replica-2", "replica-3", "replica-4"}
	standby := replicas[:2]
	a.mustAdmin("PUT", "/v1/cluster/voters", map[string]any{"voters": voters, "standby": standby, "promote_after_seconds": 2}, nil)
	f.addNode(deDemo)
	f.addNode(frDemo)
	for _, id := range replicas {
		f.addReplica(id)
	}
	var want []string
	for _, id := range voters {
		want = append(want, id+":voter")
	}
	for _, id := range replicas {
		want = append(want, id+":non-voter")
	}
	f.waitSuffrage(want)
	for _, op := range ops {
		f.waitResolves(op.Number, op.ID)
	}
	s := f.registerSP()
	var issued struct{ Token string }
	a.mustAdmin("POST", "/v1/credentials", map[string]string{"role": "federation-admin", "name": "e2e consortium"}, &issued)
	fedToken := issued.Token
	for _, n := range f.live() {
		for _, op := range ops {
			s.mustDiscover(t, n, op)
		}
	}

	old := f.leader()
	survivors := slices.DeleteFunc(f.live(), func(n *node) bool { return n == old })
	load := startLoad(t, s, survivors, ops...)
	load.waitServed(t, 200)
	atKill := load.ok.Load()
	killed := time.Now()
	old.proc.kill()
	lead := f.leader()

	// Three voters again: a standby in the lost one's place, which is a
	// non-voter now.
	err := poll(electionTimeout, func() (bool, error) {
		got, err := lead.suffrage()
		if err != nil {
			return false, err
		}
		var voting []string
		for _, m := range got {
			if id, ok := strings.CutSuffix(m, ":voter"); ok {
				voting = append(voting, id)
			}
		}
		promoted := slices.ContainsFunc(voting, func(id string) bool { return slices.Contains(standby, id) })
		ok := len(voting) == 3 && promoted && slices.Contains(got, old.id+":non-voter")
		if !ok {
			err = fmt.Errorf("the configuration is %s", strings.Join(got, " "))
		}
		return ok, err
	})
	if err != nil {
		t.Fatalf("no standby was promoted in place of %s: %v", old.id, err)
	}
	got, _ := lead.suffrage()
	t.Logf("leader %s killed; %s leads; %s after the kill the configuration is %s; %d discovery answers meanwhile",
		old.id, lead.id, time.Since(killed).Round(100*time.Millisecond), strings.Join(got, " "), load.ok.Load()-atKill)
	f.waitSuffrage(got)
	load.waitServed(t, load.ok.Load()+200)

	// A write through a replica that is still a non-voter, with a
	// federation admin's credential: forwarded to the new leader.
	var through *node
	for _, n := range survivors {
		if slices.Contains(got, n.id+":non-voter") {
			through = n
		}
	}
	op := ukDemo
	if err := through.as(fedToken, "PUT", "/v1/ranges/"+op.Spare, map[string]string{"operator": op.ID}, nil); err != nil {
		t.Fatalf("a write through %s after the promotion failed: %v", through.id, err)
	}
	f.waitResolves(op.SpareNumber, op.ID)
	s.mustDiscoverNumber(t, through, op.SpareNumber, op)
	load.check(t)

	// The lost voter comes back as a non-voter: it catches up (from a
	// leader its own configuration may not show voting) and serves.
	old.restart()
	f.waitSuffrage(got)
	s.mustDiscoverNumber(t, old, op.SpareNumber, op)
}
