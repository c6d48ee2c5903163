package discovery

import "time"

// Metrics receives one observation per discovery request. The node
// implements it with a Prometheus histogram labelled by outcome.
type Metrics interface {
	ObserveDiscovery(outcome string, d time.Duration)
}

// Outcomes of a discovery request, the values Metrics sees.
const (
	OutcomeFound        = "found"          // 200 with the operator's endpoints
	OutcomeUnsealed     = "found_unsealed" // 200, but the operator has no usable sealing key: no subscriber_id
	OutcomeSelection    = "selection"      // 202 or 302 to the operator-selection page
	OutcomeNotFound     = "not_found"      // 404 Not_Found_Entity
	OutcomeUnauthorized = "unauthorized"   // 401
	OutcomeBadRequest   = "bad_request"    // 400
	OutcomeError        = "error"          // 500: the node could not build an answer
	OutcomeUnavailable  = "unavailable"    // 503: the node's replica has not caught up
	OutcomeThrottled    = "throttled"      // 429: the SP's request budget, or a failure budget, is spent
)

type noMetrics struct{}

func (noMetrics) ObserveDiscovery(string, time.Duration) {}
