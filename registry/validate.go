package registry

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"regexp"
	"strings"
)

var (
	idPattern       = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
	currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)
	networkPattern  = regexp.MustCompile(`^[0-9]{3}_[0-9]{2,3}$`)
	scopePattern    = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,128}$`) // RFC 6749 scope-token
)

func checkID(what, id string) error {
	if !idPattern.MatchString(id) {
		return invalidf("%s %q: use 1-64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit", what, id)
	}
	return nil
}

func checkName(what, name string) error {
	if strings.TrimSpace(name) == "" || len(name) > 200 {
		return invalidf("%s must be 1-200 characters", what)
	}
	return nil
}

// checkURL accepts an absolute http or https URL without a fragment. Plain
// http is allowed because dev federations run on loopback; production
// deployments are expected to configure https.
func checkURL(what, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || len(raw) > 2048 {
		return invalidf("%s %q is not an absolute http(s) URL without a fragment", what, raw)
	}
	return nil
}

// checkSealingKey accepts a PEM "PUBLIC KEY" holding an RSA key of at least
// 2048 bits: discovery seals subscriber_id with it (RSA PKCS#1 v1.5, which is
// what the SDKs' ENCR_MSISDN format is).
func checkSealingKey(p string) error {
	block, _ := pem.Decode([]byte(p))
	if block == nil || block.Type != "PUBLIC KEY" {
		return invalidf("sealing_key must be a PEM PUBLIC KEY block")
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return invalidf("sealing_key: %v", err)
	}
	rk, ok := key.(*rsa.PublicKey)
	if !ok || rk.N.BitLen() < 2048 {
		return invalidf("sealing_key must be an RSA key of at least 2048 bits")
	}
	return nil
}

// privateJWKMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6). A registry replicated to every member must never
// hold one.
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checkJWKS accepts a JSON Web Key Set of public keys, each with kty and kid.
func checkJWKS(what string, raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return invalidf("%s is not a JWK set: %v", what, err)
	}
	for i, k := range set.Keys {
		for _, m := range privateJWKMembers {
			if _, ok := k[m]; ok {
				return invalidf("%s key %d holds private key material (%q): publish public keys only", what, i, m)
			}
		}
		if _, ok := k["kty"]; !ok {
			return invalidf("%s key %d has no kty", what, i)
		}
		if _, ok := k["kid"]; !ok {
			return invalidf("%s key %d has no kid", what, i)
		}
	}
	return nil
}

func checkStatus(s Status) error {
	if s != StatusActive && s != StatusSuspended {
		return invalidf("status %q: use %q or %q", s, StatusActive, StatusSuspended)
	}
	return nil
}

// Status says whether an operator or SP takes part in the federation.
type Status string

const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
)
