// Package discovery is the federation's SP-facing Discovery API: an SP asks
// any node which operator serves a phone number (or a network, or an IP
// address) and gets back that operator's endpoints, the client credentials to
// use there and the number sealed for the operator (subscriber_id). When
// nothing identifies the operator the user picks it on the operator-selection
// page. CAMARA's Telco Finder answers the same question in CAMARA's format.
//
// The wire format is the one the GSMA SDKs (Java, PHP, legacy Android) and
// the WSO2 authenticator already speak (shared/spec/mobile-connect.md §1 and
// §7); where a client and a document disagree, the client wins.
//
// # Client credentials
//
// A discovery answer carries response.client_id and response.client_secret,
// which the SDK then uses at the operator's gateway. client_id is the SP's
// own federation-wide one. client_secret is the secret of the SP at the
// serving operator, derived from the secret S the SP has just authenticated
// with (registry/spsecret.go, internal/spsecret):
//
//   - S seeds an Ed25519 key pair (seed = SHA-256("mcfed sp secret v1" || S));
//     the registry keeps only its public key (ServiceProvider.SecretKey).
//     Discovery authenticates the SP by deriving the public key from the S
//     it presents and comparing.
//   - The SP's secret at operator X is S's Ed25519 signature over the
//     client id and X, base64url: deterministic, so the SP computes the
//     same value (client.OperatorSecret) when it configures an operator
//     without discovery. X's gateway verifies it with the public key and a
//     message naming X itself, so it refuses S, and the secret for any
//     other operator.
//
// What a gateway sees is of no use elsewhere: the secret for X does not
// verify at Y (its signed message names X, and making Y's takes S's private
// key, Ed25519 being unforgeable) and it is not S, so it does not open
// discovery. No node holds a key that makes SPs' secrets: the registry
// holds public keys only, and an offline guess at S from a public key is a
// guess at 256 random bits (generated secrets; a given one must pass an
// entropy estimate). The node answering discovery does see S, and could
// derive every operator's secret: a consortium that wants no operator to
// see S points its SPs at a discovery node of its own (one with no
// --operator).
//
// This replaces the one federation-wide secret, which every operator's
// gateway saw in clear and could replay at the others and at discovery.
// Per-operator secrets stored per operator were rejected: discovery would
// need each in plaintext to hand it out, or to derive them from a key every
// node holds. Deriving them from the SP's own secret needs neither.
//
// Legacy SPs, registered before this (ServiceProvider.SecretHash only),
// keep their one secret everywhere: discovery echoes it and gateways check
// its hash. POST /v1/service-providers/{id}/secret moves one to the new form.
//
// Deriving costs an Ed25519 key derivation and signature (discovery) or a
// verification (gateways): tens of microseconds. A bounded cache
// (registry.SecretCache) keyed by SHA-256 of the client id, operator and
// presented secret keeps what was verified with the public key it was
// verified against, so a repeated request costs one SHA-256 and a map
// lookup, and a rotated secret (a new public key) misses.
//
// # subscriber_id
//
// When the SP gives a number, the answering node seals it for the serving
// operator's gateway, which the SDKs send it back to, opaque, as
// login_hint=ENCR_MSISDN:<hex>. Two forms, both lower-case hex:
//
//   - The symmetric form (symseal.go), for gateways that are mcfed nodes:
//     the operator's record names registry.FormX25519AESGCM in
//     subscriber_id_forms and publishes X25519 seal_keys; this node's X25519
//     key (Config.SealKey) is on its registry.Node record. The two agree on
//     an AES-256-GCM key per day, cached on both sides; each seal is one
//     encryption (under a microsecond) and the gateway's open one decryption
//     (about a microsecond) instead of RSA's milliseconds. The value carries
//     both key ids, its expiry (Config.SubscriberIDLifetime, by default the
//     answer's ttl: the SP may use a cached answer until then, and not
//     after), and is bound to the SP's client_id: it opens only at that
//     operator's gateway, for that SP, before its expiry. 122 hex digits.
//   - RSA PKCS#1 v1.5 to registry.Operator.SealingKey (seal.go), the recipe
//     the ecosystem fixed long ago, for a member whose gateway is not mcfed
//     (a record without subscriber_id_forms, or naming only
//     registry.FormRSAPKCS1), and while this node's X25519 key is not yet in
//     its replica. 512 hex digits for RSA-2048. It neither expires nor
//     names the SP: the recipe has no room for either.
//
// The length tells the gateway which form it holds; the symmetric form's
// first byte is a version.
//
// # HTTP statuses
//
//   - 200: the operator is known (JSON answer, spec §1.2(a)).
//   - 202 / 302: operator selection. A client whose Accept names
//     application/json gets 202 and an operatorSelection link (the Java SDK's
//     HTTP client follows redirects, so it must never get a 302); anyone else
//     (browsers, Android with text/html, WSO2 with application/xml) gets 302
//     to the same page.
//   - 404 Not_Found_Entity: the number, network or operator is no member's
//     (or its operator is suspended or does not accept the SP). The Java and
//     PHP SDKs read the error from the body whatever the status, Android
//     reads a JSON body on any status >= 400, and the WSO2 authenticator only
//     recognises 404 and 400 as "bad MSISDN" (it would take a 200 for a
//     successful discovery and fail later), so 404 rather than the sandbox's
//     200 is the status every client handles.
//   - 400 invalid_request: missing or unregistered Redirect_URL, an MSISDN
//     that is not a valid number, a malformed Selected-MCC/MNC.
//   - 401 invalid_client: missing or wrong Basic credentials, a suspended SP,
//     or the Android SDK's hashed Basic variant (refused in clear words).
//
// Every answer is application/json whatever the Accept header (never 406),
// and echoes the request's correlation_id when it had one: the Java SDK
// throws when an answer carries a different one, so none is invented.
//
// # Operator selection
//
// The selection session is a token, not server state: the SP's client_id,
// its Redirect_URL and the correlation_id with an expiry, MACed with
// HMAC-SHA256 under Config.SelectionKey (session.go). Any node holding the
// same key can serve the page. The token is authenticated, not encrypted: it
// carries nothing the user's browser does not already see.
//
// # Telco Finder
//
// POST /telco-finder/v1/search authenticates callers with the same SP Basic
// credentials as discovery (the SP's own secret, not an operator's); its
// answer carries no client credentials. CAMARA's private_key_jwt client authentication
// comes with the gateway issue, which brings the token endpoint it needs.
//
// # Performance
//
// Per-request work does not grow with the registry: one registry lookup by
// number (or network, or address), one SP lookup, two SHA-256 and two cache
// lookups for the secrets (one SHA-256 for a legacy SP), and the
// subscriber_id's seal: an AES-GCM encryption in the symmetric form, an RSA
// public-key operation, which then dominates, in the RSA form (see
// bench_test.go).
package discovery
