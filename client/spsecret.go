package client

import "github.com/mcfed/mcfed/internal/spsecret"

// OperatorSecret is the client secret an SP presents at one operator's
// gateway (its token, revocation and introspection endpoints): derived from
// the SP's own secret, the one the admin API handed out, for its client id
// and the operator's id. Discovery answers with the same value in
// response.client_secret; an SP that configures an operator directly,
// without discovery, computes it here. An SP registered before
// per-operator secrets (a legacy SP) uses its own secret everywhere instead.
func OperatorSecret(secret, clientID, operator string) string {
	return spsecret.OperatorSecret(secret, clientID, operator)
}
