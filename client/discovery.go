package client

import "strings"

// DiscoveryAnswer is what an SP reads of a discovery answer
// (shared/spec/mobile-connect.md §1.2): the demo SP's view, and the load
// generator's, which drives the demo as that SP does.
type DiscoveryAnswer struct {
	Error        string `json:"error"`
	Description  string `json:"description"`
	SubscriberID string `json:"subscriber_id"`
	Response     struct {
		ServingOperator string `json:"serving_operator"`
		ClientID        string `json:"client_id"`
		ClientSecret    string `json:"client_secret"`
		APIs            struct {
			OperatorID struct {
				Link []struct{ Rel, Href string } `json:"link"`
			} `json:"operatorid"`
		} `json:"apis"`
	} `json:"response"`
}

// Links are the operator's endpoints by rel, lower-cased (the SDKs match
// rels case-insensitively).
func (a DiscoveryAnswer) Links() map[string]string {
	out := map[string]string{}
	for _, l := range a.Response.APIs.OperatorID.Link {
		out[strings.ToLower(l.Rel)] = l.Href
	}
	return out
}
