// Package requestid carries a request's id in its context, and names the
// header that carries it between nodes, so that a write forwarded to the
// leader is logged there under the id its caller was given.
package requestid

import "context"

// Header carries a request's id in and out of a listener, and from a node
// to the leader it forwards a write to.
const Header = "X-Request-ID"

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// From is the id of the request ctx belongs to, "" outside one.
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
