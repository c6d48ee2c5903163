package federation

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics is a node's Prometheus registry, served in the text format on the
// admin listener's /metrics. Each node has its own (not the global default),
// so several nodes in one process (dev, tests) keep separate figures.
type metrics struct {
	reg       *prometheus.Registry
	discovery *prometheus.HistogramVec
}

func newMetrics(n *Node) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.discovery = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcfed_discovery_request_duration_seconds",
		Help:    "Discovery requests by outcome (found, selection, not_found, unauthorized, bad_request, ...).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .5},
	}, []string{"outcome"})
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.discovery,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mcfed_registry_applied_index", Help: "Raft log index the local registry has applied.",
		}, func() float64 { return float64(n.cluster.node.Registry().AppliedIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mcfed_registry_ported_numbers", Help: "Ported numbers in the local registry.",
		}, func() float64 { return float64(n.cluster.node.Registry().PortedCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mcfed_raft_leader", Help: "1 when this node is the Raft leader.",
		}, func() float64 {
			if n.cluster.node.IsLeader() {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "mcfed_raft_since_leader_contact_seconds", Help: "Time since a follower last heard from the leader (0 on the leader).",
		}, func() float64 { return n.cluster.node.Status(n.cfg.MaxStaleness).SinceLeaderContact.Seconds() }),
	)
	return m
}

// ObserveDiscovery records one discovery request.
func (m *metrics) ObserveDiscovery(outcome string, d time.Duration) {
	m.discovery.WithLabelValues(outcome).Observe(d.Seconds())
}

func (m *metrics) handler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
}
