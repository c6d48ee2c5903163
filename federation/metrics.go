package federation

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// metrics is a node's Prometheus registry, served in the text format on the
// admin listener's /metrics. Each node has its own (not the global default),
// so several nodes in one process (dev, tests) keep separate figures.
//
// Labels are bounded: route templates, never raw paths; OAuth error codes
// from a fixed list; no client_id, MSISDN or token ever becomes a label.
type metrics struct {
	reg       *prometheus.Registry
	discovery *prometheus.HistogramVec
	// Every request on the public and admin listeners.
	httpRequests *prometheus.CounterVec   // listener, method, route, status
	httpDuration *prometheus.HistogramVec // listener, route
	// The gateway's OAuth/OIDC endpoints, with the error code each answer
	// carried: tokens issued are endpoint="token",status="200".
	oidc *prometheus.CounterVec // endpoint, grant_type, status, error
	// sendBudgetHits counts logins refused by a send budget.
	sendBudgetHits *prometheus.CounterVec // budget
	// The operator's authenticators, as the gateway drives them.
	authStarts        *prometheus.CounterVec   // authenticator, result
	authStartDuration *prometheus.HistogramVec // authenticator
	authChecks        *prometheus.CounterVec   // authenticator, outcome
	// Writes this node made through the cluster (committed locally or
	// forwarded to the leader).
	applies *prometheus.HistogramVec // result
}

var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.discovery = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcfed_discovery_request_duration_seconds",
		Help:    "Discovery requests by outcome (found, selection, not_found, unauthorized, bad_request, ...).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
	}, []string{"outcome"})
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcfed_http_requests_total",
		Help: "HTTP requests by listener (public, admin), method, route template and status; route is \"unmatched\" when no route took the request.",
	}, []string{"listener", "method", "route", "status"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcfed_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by listener and route template.",
		Buckets: latencyBuckets,
	}, []string{"listener", "route"})
	m.oidc = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcfed_oidc_responses_total",
		Help: "Answers of the Identity Gateway's endpoints (authorize, token, userinfo, premiuminfo, revoke, introspect, ...) by token grant_type, HTTP status and OAuth error code (\"\" for none).",
	}, []string{"endpoint", "grant_type", "status", "error"})
	m.sendBudgetHits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcfed_send_budget_hits_total",
		Help: "Logins refused before anything was sent to a handset because a send budget (sp, source or operator) was spent.",
	}, []string{"budget"})
	m.authStarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcfed_authenticator_starts_total",
		Help: "Challenges started by authenticator and result (started, unavailable, error).",
	}, []string{"authenticator", "result"})
	m.authStartDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcfed_authenticator_start_duration_seconds",
		Help:    "Time an authenticator took to start a challenge (an SMS submitted to the SMSC, ...).",
		Buckets: latencyBuckets,
	}, []string{"authenticator"})
	m.authChecks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcfed_authenticator_checks_total",
		Help: "Checks of a challenge by authenticator and outcome (pending, succeeded, failed, error).",
	}, []string{"authenticator", "outcome"})
	m.applies = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcfed_raft_write_duration_seconds",
		Help:    "Registry writes this node made through Raft, by result (ok, refused, no_leader, timeout, error); the count of a result other than ok and refused is the write failures.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"result"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.discovery, m.httpRequests, m.httpDuration, m.oidc, m.sendBudgetHits,
		m.authStarts, m.authStartDuration, m.authChecks, m.applies,
		raftCollector{n},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mcfed_registry_applied_index", Help: "Raft log index the local registry has applied.",
		}, func() float64 { return float64(n.raft.Registry().AppliedIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mcfed_registry_ported_numbers", Help: "Ported numbers in the local registry.",
		}, func() float64 { return float64(n.raft.Registry().PortedCount()) }),
	)
	return m
}

// ObserveDiscovery records one discovery request.
func (m *metrics) ObserveDiscovery(outcome string, d time.Duration) {
	m.discovery.WithLabelValues(outcome).Observe(d.Seconds())
}

// ObserveOAuth records one answer of the gateway's OAuth endpoints.
func (m *metrics) ObserveOAuth(o idgw.Observation) {
	m.oidc.WithLabelValues(o.Endpoint, o.GrantType, strconv.Itoa(o.Status), string(o.Error)).Inc()
}

var _ idgw.Observer = (*metrics)(nil)

// ObserveSendBudget records a login refused by a send budget.
func (m *metrics) ObserveSendBudget(budget string) { m.sendBudgetHits.WithLabelValues(budget).Inc() }

var _ idgw.BudgetObserver = (*metrics)(nil)

// ObserveApply records one write the node made through the cluster, from
// start until it was committed or given up.
func (m *metrics) ObserveApply(start time.Time, err error) {
	m.applies.WithLabelValues(applyResult(err)).Observe(time.Since(start).Seconds())
}

func applyResult(err error) string {
	var re *registry.Error
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &re):
		return "refused" // the registry said no: Raft worked
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "timeout"
	case errors.Is(err, raft.ErrNotLeader):
		return "no_leader"
	}
	return "error"
}

func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}

// raftCollector reads the node's Raft state once per scrape, so the series
// of one scrape agree with each other.
type raftCollector struct{ n *Node }

var (
	raftStates = []string{"Leader", "Follower", "Candidate", "Shutdown"}

	descRaftState       = prometheus.NewDesc("mcfed_raft_state", "1 for the Raft state this node is in (leader, follower, candidate, shutdown), 0 for the others.", []string{"state"}, nil)
	descRaftLeader      = prometheus.NewDesc("mcfed_raft_leader", "1 when this node is the Raft leader.", nil, nil)
	descRaftLeaderKnown = prometheus.NewDesc("mcfed_raft_leader_known", "1 when this node knows which server leads.", nil, nil)
	descRaftTerm        = prometheus.NewDesc("mcfed_raft_term", "Current Raft term; it rises with each election.", nil, nil)
	descRaftLastIndex   = prometheus.NewDesc("mcfed_raft_last_log_index", "Last index in the local Raft log.", nil, nil)
	descRaftCommit      = prometheus.NewDesc("mcfed_raft_commit_index", "Highest log index this node knows to be committed.", nil, nil)
	descRaftApplied     = prometheus.NewDesc("mcfed_raft_applied_index", "Highest log index applied to the local registry.", nil, nil)
	descRaftPending     = prometheus.NewDesc("mcfed_raft_fsm_pending", "Committed entries waiting to be applied to the registry.", nil, nil)
	descRaftSnapshot    = prometheus.NewDesc("mcfed_raft_last_snapshot_index", "Log index of the newest snapshot; it moves each time a snapshot is taken or installed.", nil, nil)
	descRaftContact     = prometheus.NewDesc("mcfed_raft_since_leader_contact_seconds", "Time since a follower last heard from the leader (0 on the leader, +Inf if never).", nil, nil)
	descRaftServers     = prometheus.NewDesc("mcfed_raft_servers", "Servers in the Raft configuration as this node knows it.", nil, nil)
	descRaftVoters      = prometheus.NewDesc("mcfed_raft_voters", "Voting servers in the Raft configuration.", nil, nil)
	descRaftPromotions  = prometheus.NewDesc("mcfed_raft_promotions_total", "Non-voters this node made voters as leader, by how: automatic (a standby in place of a voter out of contact for the voter rules' interval) or other (the federation admin's command, the voter rules).", []string{"how"}, nil)
	descRaftDemotions   = prometheus.NewDesc("mcfed_raft_demotions_total", "Voters this node made non-voters as leader (a lost voter replaced, the voter rules).", nil, nil)
	descRaftRefused     = prometheus.NewDesc("mcfed_raft_refused_peers_total", "Raft connections refused because the peer's TLS certificate is not the one bound to a member (a removed node, a certificate naming no member, another member's certificate at a member's address).", nil, nil)
)

func (raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRaftState, descRaftLeader, descRaftLeaderKnown, descRaftTerm,
		descRaftLastIndex, descRaftCommit, descRaftApplied, descRaftPending, descRaftSnapshot, descRaftContact,
		descRaftServers, descRaftVoters, descRaftRefused, descRaftPromotions, descRaftDemotions} {
		ch <- d
	}
}

func (c raftCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.n.raft.Metrics()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range raftStates {
		gauge(descRaftState, oneIf(r.State == s), strings.ToLower(s))
	}
	gauge(descRaftLeader, oneIf(r.State == "Leader"))
	gauge(descRaftLeaderKnown, oneIf(r.LeaderKnown))
	gauge(descRaftTerm, float64(r.Term))
	gauge(descRaftLastIndex, float64(r.LastIndex))
	gauge(descRaftCommit, float64(r.CommitIndex))
	gauge(descRaftApplied, float64(r.AppliedIndex))
	gauge(descRaftPending, float64(r.FSMPending))
	gauge(descRaftSnapshot, float64(r.LastSnapshotIndex))
	gauge(descRaftContact, r.SinceLeaderContactSeconds())
	gauge(descRaftServers, float64(r.Servers))
	gauge(descRaftVoters, float64(r.Voters))
	ch <- prometheus.MustNewConstMetric(descRaftRefused, prometheus.CounterValue, float64(r.RefusedPeers))
	ch <- prometheus.MustNewConstMetric(descRaftPromotions, prometheus.CounterValue, float64(r.AutomaticPromotions), "automatic")
	ch <- prometheus.MustNewConstMetric(descRaftPromotions, prometheus.CounterValue, float64(r.Promotions-min(r.Promotions, r.AutomaticPromotions)), "other")
	ch <- prometheus.MustNewConstMetric(descRaftDemotions, prometheus.CounterValue, float64(r.Demotions))
}

func oneIf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
