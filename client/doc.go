// Package client is what a program outside a node needs to talk to one over
// HTTP: the admin API's client, an SP's reading of a discovery answer, an
// SP's secret at one operator (OperatorSecret), and the description a demo
// federation writes (dev.json). Scripts, the load generator and the demo SP
// use it. It imports no server package (only the leaf internal/spsecret), so
// a client links none of the node.
package client
