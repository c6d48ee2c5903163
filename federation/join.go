package federation

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/raft"
)

// The client side of joining: a new node asks a member's admin API to admit
// it (raft/join.go is the member's side). A join that cannot succeed says
// why at once, in words that name what to change; only a federation that
// cannot admit anybody yet (no leader, an election under way) is waited
// for, and only for Config.JoinTimeout.

// JoinFailure is why a join failed, as the person starting the node fixes
// it.
type JoinFailure string

const (
	// JoinUnreachable: nothing answers at the URL (connection refused, no
	// such host, no answer in time).
	JoinUnreachable JoinFailure = "unreachable"
	// JoinTLSMismatch: the two sides do not speak the same transport
	// (http:// to a TLS member, https:// to a plain one, a certificate
	// for another name, a node without the federation's certificates).
	JoinTLSMismatch JoinFailure = "tls mismatch"
	// JoinWrongFederation: the member and this node trust different CAs.
	JoinWrongFederation JoinFailure = "wrong federation"
	// JoinNotAMember: something answers at the URL, but not a member's
	// admin API (the public listener, another service).
	JoinNotAMember JoinFailure = "not a member"
	// JoinRefused: the member refused the join (a bad, spent or expired
	// token, an id already a member); its answer says which.
	JoinRefused JoinFailure = "refused"
	// JoinNoLeader: the federation could not admit anybody within the
	// join timeout.
	JoinNoLeader JoinFailure = "no leader"
	// JoinInterrupted: the node was stopped while joining.
	JoinInterrupted JoinFailure = "interrupted"
)

// JoinError is a join that failed for good. Its message is one line for a
// person: the URL, what went wrong and what to change.
type JoinError struct {
	Kind JoinFailure
	Via  string // the member's admin URL, as given to --join
	// Detail says what happened and what to change.
	Detail string
	Err    error // the underlying error, if any
}

func (e *JoinError) Error() string {
	return fmt.Sprintf("join via %s failed (%s): %s", e.Via, e.Kind, e.Detail)
}

func (e *JoinError) Unwrap() error { return e.Err }

// joinProgressEvery spaces the lines a waiting join logs.
const joinProgressEvery = 5 * time.Second

// join asks the member at cfg.Join to admit this node with req (its id and
// raft address filled in here), through client. It retries while the
// federation has no leader to admit it, logging its progress, until
// cfg.JoinTimeout; every other failure ends it at once with a *JoinError.
func (n *Node) join(ctx context.Context, client *http.Client, raftAddr string, req raft.JoinRequest) error {
	req.ID, req.RaftAddr = n.cfg.NodeID, raftAddr
	via := n.cfg.Join
	n.raft.JoinThrough(via)
	start := time.Now()
	jctx, cancel := context.WithTimeout(ctx, n.cfg.JoinTimeout)
	defer cancel()
	client = withHandshakeTimeout(client)
	backoff := 100 * time.Millisecond
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		err := postJoin(jctx, client, via, req, n.cfg.RaftTLS != nil)
		if err == nil {
			if attempt > 1 {
				n.log.Info("joined", "via", via, "attempts", attempt, "waited", time.Since(start))
			}
			return nil
		}
		var je *JoinError
		if errors.As(err, &je) {
			return je
		}
		// Only a federation without a leader gets here: worth waiting for.
		if jctx.Err() == nil && time.Since(lastLog) >= joinProgressEvery {
			lastLog = time.Now()
			n.log.Info("joining: the federation cannot admit this node yet, retrying", "via", via, "attempt", attempt,
				"answer", err.Error(), "waited", time.Since(start), "gives_up_in", n.cfg.JoinTimeout-time.Since(start))
		}
		select {
		case <-jctx.Done():
		case <-time.After(backoff):
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		if ctx.Err() != nil {
			return &JoinError{Kind: JoinInterrupted, Via: via, Detail: "stopped while waiting for the federation to admit this node", Err: ctx.Err()}
		}
		return &JoinError{Kind: JoinNoLeader, Via: via, Err: err,
			Detail: fmt.Sprintf("the federation could not admit this node within %s (--join-timeout); the member's last answer: %v",
				formatDuration(n.cfg.JoinTimeout), err)}
	}
}

// joinHandshakeTimeout bounds a join's TLS handshake: a member that serves
// plain HTTP never completes one (speaksHTTP).
const joinHandshakeTimeout = 5 * time.Second

// withHandshakeTimeout is client with joinHandshakeTimeout on its TLS
// handshakes.
func withHandshakeTimeout(client *http.Client) *http.Client {
	t, ok := client.Transport.(*http.Transport)
	if client.Transport == nil {
		t, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return client
	}
	t = t.Clone()
	t.TLSHandshakeTimeout = joinHandshakeTimeout
	c := *client
	c.Transport = t
	return &c
}

// postJoin sends one join request. It returns nil when the node was
// admitted, a *JoinError when retrying cannot help, and any other error
// when the federation may admit the node later (no leader yet).
func postJoin(ctx context.Context, client *http.Client, via string, req raft.JoinRequest, haveTLS bool) error {
	base, err := url.Parse(strings.TrimRight(via, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return &JoinError{Kind: JoinUnreachable, Via: via, Err: err,
			Detail: "--join wants a member's admin URL, e.g. https://10.0.0.1:7001"}
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base.String()+raft.JoinPath, bytes.NewReader(body))
	if err != nil {
		return &JoinError{Kind: JoinUnreachable, Via: via, Err: err, Detail: err.Error()}
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return err // the join's time is up, or the node stops: join says which
		}
		return transportFailure(ctx, via, base, err, haveTLS)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode == http.StatusOK {
		var out raft.JoinResponse
		if err := json.Unmarshal(data, &out); err != nil || out.Leader == "" {
			return &JoinError{Kind: JoinNotAMember, Via: via, Detail: "the answer to the join is not a member's: is this a member's admin URL (--admin-addr)?"}
		}
		return nil
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	var p problem.Details
	if ct != problem.ContentType || json.Unmarshal(data, &p) != nil || !strings.HasPrefix(p.Type, problem.Base) {
		return &JoinError{Kind: JoinNotAMember, Via: via, Detail: fmt.Sprintf("it answered %s, not as a member's admin API "+
			"does: --join takes a member's admin URL (its --admin-addr), not its public one", resp.Status)}
	}
	switch resp.StatusCode {
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		// No leader, a leader this member cannot reach, credentials not
		// replicated yet: all mend themselves.
		return fmt.Errorf("%s: %s", resp.Status, p.Detail)
	case http.StatusForbidden:
		return &JoinError{Kind: JoinRefused, Via: via, Detail: "the member refused the join token: " + p.Detail +
			" (ask the federation's admin for a new one: POST /v1/cluster/join-tokens)"}
	}
	return &JoinError{Kind: JoinRefused, Via: via, Detail: fmt.Sprintf("the member answered %s: %s", resp.Status, p.Detail)}
}

// transportFailure says why no HTTP answer came from the member at base.
func transportFailure(ctx context.Context, via string, base *url.URL, err error, haveTLS bool) *JoinError {
	fail := func(kind JoinFailure, detail string) *JoinError {
		return &JoinError{Kind: kind, Via: via, Detail: detail, Err: err}
	}
	host := base.Host
	var (
		dnsErr      *net.DNSError
		hostErr     x509.HostnameError
		unknownCA   x509.UnknownAuthorityError
		invalidCert x509.CertificateInvalidError
		notTLS      tls.RecordHeaderError
		netErr      net.Error
	)
	switch {
	case errors.As(err, &dnsErr):
		return fail(JoinUnreachable, fmt.Sprintf("cannot resolve %s: %v", dnsErr.Name, dnsErr.Err))
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(JoinUnreachable, fmt.Sprintf("nothing listens at %s (connection refused): is the member running, "+
			"and is this its admin address (--admin-addr)?", host))
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return fail(JoinUnreachable, fmt.Sprintf("no route to %s: %v", host, err))
	case errors.As(err, &hostErr):
		return fail(JoinTLSMismatch, fmt.Sprintf("the member's certificate is not valid for %s (%v): "+
			"use a name its certificate holds in --join", base.Hostname(), hostErr))
	case errors.As(err, &unknownCA) && haveTLS:
		return fail(JoinWrongFederation, "the member's certificate is not signed by the CA of --tls-ca: "+
			"it belongs to another federation, or --tls-ca is not this federation's CA bundle")
	case errors.As(err, &unknownCA):
		return fail(JoinTLSMismatch, "the member serves TLS with the federation's own CA, and this node has no "+
			"certificates: give --tls-cert, --tls-key and --tls-ca")
	case errors.As(err, &invalidCert):
		return fail(JoinTLSMismatch, fmt.Sprintf("the member's certificate is not valid: %v", invalidCert))
	// net/http reports a plain answer to its TLS handshake in words only.
	case errors.As(err, &notTLS) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fail(JoinTLSMismatch, fmt.Sprintf("the member at %s does not speak TLS: use http:// in --join "+
			"(or give the member its --tls-* certificates)", host))
	case remoteAlert(err) != nil:
		return fail(JoinWrongFederation, fmt.Sprintf("the member refused this node's certificate (%v): "+
			"--tls-cert must be signed by the federation's CA and name this node's id", remoteAlert(err)))
	case errors.As(err, &netErr) && netErr.Timeout() && base.Scheme == "https" && speaksHTTP(ctx, host):
		return fail(JoinTLSMismatch, fmt.Sprintf("the member at %s does not speak TLS: use http:// in --join "+
			"(or give the member its --tls-* certificates)", host))
	case errors.As(err, &netErr) && netErr.Timeout():
		return fail(JoinUnreachable, fmt.Sprintf("no answer from %s in time: is the address right, and does a "+
			"firewall let this node through?", host))
	case base.Scheme == "http" && speaksTLS(ctx, host):
		return fail(JoinTLSMismatch, fmt.Sprintf("the member at %s speaks TLS and closed a plain HTTP request: "+
			"use https:// in --join", host))
	}
	return fail(JoinUnreachable, fmt.Sprintf("no answer from %s: %v", host, err))
}

// remoteAlert is the TLS alert the member sent, if err is one: crypto/tls
// reports it as a net.OpError "remote error" around its unexported alert.
func remoteAlert(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return op.Err
	}
	return nil
}

// speaksHTTP reports whether whatever listens at host answers plain HTTP:
// a plain member reads a TLS handshake as the start of a request line and
// waits for the rest, so https:// to it ends in a handshake timeout.
func speaksHTTP(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

// speaksTLS reports whether whatever listens at host answers a TLS
// handshake: the only way to tell a member serving TLS from one that just
// hung up, since a TLS listener closes a plain HTTP request without a
// word. Nothing is sent but the handshake, and nothing read is trusted, so
// the server's certificate is not checked.
func speaksTLS(ctx context.Context, host string) bool {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return remoteAlert(err) != nil // it answered in TLS, if to refuse
	}
	conn.Close()
	return true
}
