package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/mcfed/mcfed/internal/requestid"
	"github.com/mcfed/mcfed/registry"
)

// losingAnswers is the transport between members, losing the leader's
// answer to the first forwarded write of each request id in lose: the
// write reaches the leader, which commits it and answers, and the
// forwarding node sees a transport error, as when the connection is cut.
type losingAnswers struct {
	base http.RoundTripper
	mu   *sync.Mutex
	// lose holds the request ids whose answer is still to be lost, and
	// then the status the leader had answered with.
	lose map[string]int
}

// errLost stands for a connection cut after the leader answered.
var errLost = errors.New("connection reset (the test lost the leader's answer)")

func (l losingAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	rid := req.Header.Get(requestid.Header)
	l.mu.Lock()
	status, ok := l.lose[rid]
	losing := ok && status == 0 && req.URL.Path == "/v1/internal/apply"
	l.mu.Unlock()
	resp, err := l.base.RoundTrip(req)
	if !losing || err != nil {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	l.mu.Lock()
	l.lose[rid] = resp.StatusCode
	l.mu.Unlock()
	return nil, errLost
}

// TestLostAnswerWritesOnce: a follower forwards a write, the leader
// commits it, and the answer is lost on the way back; the follower tries
// again, and the write is applied once. A create answers the created SP
// and its secret (not a conflict), a delete answers 204 (not a 404), a
// refused write its refusal, and each has one entry in the audit log.
func TestLostAnswerWritesOnce(t *testing.T) {
	var mu sync.Mutex
	lose := map[string]int{"lost-create": 0, "lost-delete": 0, "lost-refusal": 0}
	f := startFedWith(t, 3, func(c *Config) {
		c.wrapTransport = func(base http.RoundTripper) http.RoundTripper {
			return losingAnswers{base: base, mu: &mu, lose: lose}
		}
	})
	fi := f.follower()
	f.do(fi, "PUT", "/v1/scopes/openid", registry.Scope{Name: "openid"}, nil)

	send := func(rid, method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(context.Background(), method, f.nodes[fi].AdminURL()+path, rd)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+f.fedToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(requestid.Header, rid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		mu.Lock()
		leader := lose[rid]
		mu.Unlock()
		if leader == 0 {
			t.Fatalf("%s: no answer was lost (the write was not forwarded?)", rid)
		}
		return resp.StatusCode, out
	}
	reg := f.nodes[fi].Raft().Registry()
	audited := func(rid string) []*registry.AuditEntry {
		// A refusal is answered without waiting for this replica: wait
		// until it has applied all the leader has, both tries included.
		f.waitApplied(fi, f.nodes[f.leader()].Raft().Registry().AppliedIndex())
		var out []*registry.AuditEntry
		for q := (registry.AuditQuery{Limit: 1000}); ; {
			p := reg.Audit(q)
			for _, e := range p.Items {
				if e.RequestID == rid {
					out = append(out, e)
				}
			}
			if p.Next == "" {
				return out
			}
			q.After = p.Items[len(p.Items)-1].Index
		}
	}

	status, body := send("lost-create", "POST", "/v1/service-providers", map[string]any{
		"client_id": "bank", "name": "Bank", "redirect_uris": []string{"https://bank.example/cb"}, "scopes": []string{"openid"}})
	var created spResponse
	if err := json.Unmarshal(body, &created); err != nil || status != http.StatusCreated || created.ClientSecret == "" || created.ServiceProvider == nil {
		t.Fatalf("the create answered %d %s", status, body)
	}
	if e := audited("lost-create"); len(e) != 1 || e[0].Outcome != registry.OutcomeApplied {
		t.Fatalf("the create's audit entries: %+v", e)
	}
	if sp := reg.ServiceProvider("bank"); sp == nil || sp.CreateIndex != created.CreateIndex {
		t.Fatalf("the SP read back is %+v, the create answered %+v", sp, created.ServiceProvider)
	}

	if status, body := send("lost-delete", "DELETE", "/v1/service-providers/bank", nil); status != http.StatusNoContent {
		t.Fatalf("the delete answered %d %s", status, body)
	}
	if e := audited("lost-delete"); len(e) != 1 || e[0].Outcome != registry.OutcomeApplied || reg.ServiceProvider("bank") != nil {
		t.Fatalf("the delete's audit entries: %+v", e)
	}

	if status, body := send("lost-refusal", "DELETE", "/v1/scopes/nope", nil); status != http.StatusNotFound {
		t.Fatalf("the refused delete answered %d %s", status, body)
	}
	if e := audited("lost-refusal"); len(e) != 1 || e[0].Outcome != registry.OutcomeRefused || e[0].Code != registry.CodeNotFound {
		t.Fatalf("the refused delete's audit entries: %+v", e)
	}
}
