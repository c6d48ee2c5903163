// Drives the gateway's CIBA poll flow with openid-client (v6): discovery,
// private_key_jwt, the backchannel authentication request, then polling
// the CIBA grant until the tokens come (it honours interval and
// slow_down). Reads ISSUER, CLIENT_ID, KEY (the client's private JWK) and
// LOGIN_HINT; prints the tokens' claims as JSON on stdout.
import * as client from 'openid-client'

const { ISSUER, CLIENT_ID, KEY, LOGIN_HINT } = process.env
const jwk = JSON.parse(KEY)
const key = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
const config = await client.discovery(new URL(ISSUER), CLIENT_ID, undefined,
  client.PrivateKeyJwt({ key, kid: jwk.kid }), { execute: [client.allowInsecureRequests] })
const started = await client.initiateBackchannelAuthentication(config, {
  scope: 'openid', login_hint: LOGIN_HINT, binding_message: 'Till 4 pays 12 EUR',
})
console.error('started', JSON.stringify(started))
const tokens = await client.pollBackchannelAuthenticationGrant(config, started)
console.log(JSON.stringify({ auth_req_id: started.auth_req_id, access_token: tokens.access_token, claims: tokens.claims() }))
