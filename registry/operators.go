package registry

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Operator is a member of the federation: a mobile network operator with
// one mcfed node, the numbers it serves and how SPs reach its gateway.
type Operator struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Country  string `json:"country"`  // ISO 3166-1 alpha-2
	Currency string `json:"currency"` // ISO 4217, answered by discovery
	// Networks are the operator's MCC_MNC pairs, e.g. "234_15".
	Networks  []string  `json:"networks,omitempty"`
	Issuer    string    `json:"issuer"`
	Endpoints Endpoints `json:"endpoints"`
	// SealingKey is the PEM RSA public key discovery seals subscriber_id
	// with; only the operator's own node holds the private half.
	SealingKey string `json:"sealing_key,omitempty"`
	// JWKS is the public key set the operator signs ID tokens with.
	JWKS json.RawMessage `json:"jwks,omitempty"`

	// The symmetric subscriber_id form (issue 15, sealkeys.go).
	// SealKeys are the gateway's X25519 public keys, the current one
	// first; SubscriberIDForms the forms its gateway opens (FormX25519AESGCM,
	// FormRSAPKCS1; none: RSA only, as before the field existed).
	SealKeys          []SealKey `json:"seal_keys,omitempty"`
	SubscriberIDForms []string  `json:"subscriber_id_forms,omitempty"`

	// Logo and Color are the operator's look on its gateway's pages: an
	// https or data: image URL, and a brand colour #rrggbb. Both optional;
	// the pages have a default look.
	Logo   string `json:"logo,omitempty"`
	Color  string `json:"color,omitempty"`
	Status Status `json:"status"`
	// Slot is the operator's compact number inside the registry, assigned
	// when the operator is created; the number indexes store it in place of
	// the id.
	Slot Slot `json:"slot"`
	Meta
}

// Endpoints are an operator gateway's public URLs. Empty ones are derived
// from Issuer by the gateway's defaults.
type Endpoints struct {
	Authorization       string `json:"authorization,omitempty"`
	Token               string `json:"token,omitempty"`
	UserInfo            string `json:"userinfo,omitempty"`
	PremiumInfo         string `json:"premiuminfo,omitempty"`
	JWKS                string `json:"jwks,omitempty"`
	Revocation          string `json:"revocation,omitempty"`
	OpenIDConfiguration string `json:"openid_configuration,omitempty"`
	SIAuthorization     string `json:"si_authorization,omitempty"`
}

// URLs returns the operator's endpoints, each empty one derived from the
// issuer with the Identity Gateway's default path (issuer + "/token", ...),
// so an operator registers only what differs from mcfed's own gateway.
func (o *Operator) URLs() Endpoints {
	base := strings.TrimRight(o.Issuer, "/")
	or := func(v, path string) string {
		if v != "" {
			return v
		}
		return base + path
	}
	e := o.Endpoints
	return Endpoints{
		Authorization:       or(e.Authorization, "/authorize"),
		Token:               or(e.Token, "/token"),
		UserInfo:            or(e.UserInfo, "/userinfo"),
		PremiumInfo:         or(e.PremiumInfo, "/premiuminfo"),
		JWKS:                or(e.JWKS, "/jwks"),
		Revocation:          or(e.Revocation, "/revoke"),
		OpenIDConfiguration: or(e.OpenIDConfiguration, "/.well-known/openid-configuration"),
		SIAuthorization:     or(e.SIAuthorization, "/si-authorize"),
	}
}

func (e Endpoints) all() map[string]string {
	return map[string]string{
		"authorization": e.Authorization, "token": e.Token, "userinfo": e.UserInfo,
		"premiuminfo": e.PremiumInfo, "jwks": e.JWKS, "revocation": e.Revocation,
		"openid_configuration": e.OpenIDConfiguration, "si_authorization": e.SIAuthorization,
	}
}

// Validate checks the fields a caller supplies; references to other rows
// are checked when the command is applied.
func (o *Operator) Validate() error {
	if err := checkID("operator id", o.ID); err != nil {
		return err
	}
	if err := checkName("operator name", o.Name); err != nil {
		return err
	}
	if !countryPattern.MatchString(o.Country) {
		return invalidf("country %q: use an ISO 3166-1 alpha-2 code such as GB", o.Country)
	}
	if !currencyPattern.MatchString(o.Currency) {
		return invalidf("currency %q: use an ISO 4217 code such as GBP", o.Currency)
	}
	for _, n := range o.Networks {
		if !networkPattern.MatchString(n) {
			return invalidf("network %q: use MCC_MNC, e.g. 234_15", n)
		}
	}
	if err := checkURL("issuer", o.Issuer); err != nil {
		return err
	}
	for name, u := range o.Endpoints.all() {
		if u == "" {
			continue
		}
		if err := checkURL(name+" endpoint", u); err != nil {
			return err
		}
	}
	if o.SealingKey != "" {
		if err := checkSealingKey(o.SealingKey); err != nil {
			return err
		}
	}
	if err := checkSealKeys("seal_keys", o.SealKeys); err != nil {
		return err
	}
	if err := checkSubscriberIDForms(o); err != nil {
		return err
	}
	if err := checkJWKS("jwks", o.JWKS); err != nil {
		return err
	}
	if err := checkLogo(o.Logo); err != nil {
		return err
	}
	if o.Color != "" && !colorPattern.MatchString(o.Color) {
		return invalidf("color %q: use #rrggbb, e.g. #e60000", o.Color)
	}
	return checkStatus(o.Status)
}

var colorPattern = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// maxLogoLen bounds a logo URL: a data: URL is replicated to every member
// with the record, so it must be a small image.
const maxLogoLen = 16 << 10

// checkLogo accepts "", an https URL without user or fragment, or a base64
// data: URL of a PNG, JPEG, GIF, WebP or SVG image. Pages show it in an
// <img>, where an SVG runs no script.
func checkLogo(raw string) error {
	if raw == "" {
		return nil
	}
	if len(raw) > maxLogoLen {
		return invalidf("logo: at most %d bytes (a data: URL must be a small image)", maxLogoLen)
	}
	if rest, ok := strings.CutPrefix(raw, "data:"); ok {
		mime, data, ok := strings.Cut(rest, ";base64,")
		switch mime {
		case "image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml":
		default:
			ok = false
		}
		if _, err := base64.StdEncoding.DecodeString(data); !ok || err != nil || data == "" {
			return invalidf("logo: a data: URL must be data:image/<png|jpeg|gif|webp|svg+xml>;base64,<data>")
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return invalidf("logo %q: use an https URL or a data:image URL", raw)
	}
	return nil
}

func applyPutOperator(tx *writeTxn, body []byte) error {
	var o Operator
	if err := decodeJSON(body, &o); err != nil {
		return err
	}
	return putOperator(tx, &o)
}

// OperatorUpdate is the body of CmdUpdateOperator: a read-modify-write of an
// operator's record that applies only if the record is still the one the
// writer read (its ModifyIndex is IfIndex; 0: the operator must not exist
// yet). A suspension committed between a node's read and its write is then
// refused as stale instead of undone.
type OperatorUpdate struct {
	Operator Operator `json:"operator"`
	IfIndex  uint64   `json:"if_index"`
}

func applyUpdateOperator(tx *writeTxn, body []byte) error {
	var u OperatorUpdate
	if err := decodeJSON(body, &u); err != nil {
		return err
	}
	var now uint64
	if existing := get[Operator](tx.Txn, tableOperators, u.Operator.ID); existing != nil {
		now = existing.ModifyIndex
	}
	if now != u.IfIndex {
		return stalef("operator %s changed since it was read (index %d, now %d): read it again", u.Operator.ID, u.IfIndex, now)
	}
	return putOperator(tx, &u.Operator)
}

func putOperator(tx *writeTxn, op *Operator) error {
	o := *op
	if err := o.Validate(); err != nil {
		return err
	}
	for _, n := range o.Networks {
		if other, _ := tx.First(tableOperators, "network", n); other != nil && other.(*Operator).ID != o.ID {
			return conflictf("network %s already belongs to operator %s", n, other.(*Operator).ID)
		}
	}
	existing := get[Operator](tx.Txn, tableOperators, o.ID)
	if existing != nil {
		o.Slot = existing.Slot
	} else {
		s, ok := freeSlot(*tx.r.slots.Load())
		if !ok {
			return conflictf("the registry holds the maximum number of operators")
		}
		o.Slot = s
	}
	if err := put(tx, tableOperators, existing, &o); err != nil {
		return err
	}
	tx.onCommit(func() { tx.r.setSlot(o.Slot, &o) })
	return nil
}

func applyDeleteOperator(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	o := get[Operator](tx.Txn, tableOperators, k.Key)
	if o == nil {
		return notFoundf("operator %q does not exist", k.Key)
	}
	refs := map[string]int{
		"number ranges":     tx.r.ranges.count(o.Slot),
		"IP ranges":         count(tx.Txn, tableIPRanges, "operator", o.ID),
		"service providers": count(tx.Txn, tableSPs, "operator", o.ID),
		"nodes":             count(tx.Txn, tableNodes, "operator", o.ID),
		"ported numbers":    tx.r.ported.CountBySlot(o.Slot),
		"SP policies":       count(tx.Txn, tableSPPolicies, "operator", o.ID),
	}
	for _, what := range []string{"number ranges", "ported numbers", "IP ranges", "service providers", "nodes", "SP policies"} {
		if refs[what] > 0 {
			return conflictf("operator %s still has %d %s: remove them first", o.ID, refs[what], what)
		}
	}
	if err := tx.Delete(tableOperators, o); err != nil {
		return err
	}
	tx.onCommit(func() { tx.r.setSlot(o.Slot, nil) })
	return nil
}

// freeSlot returns the lowest slot no operator holds, so slots stay dense
// and the slot table small.
func freeSlot(slots []*Operator) (Slot, bool) {
	for i := 1; i < len(slots); i++ {
		if slots[i] == nil {
			return Slot(i), true
		}
	}
	if len(slots) <= maxSlot {
		return Slot(max(len(slots), 1)), true
	}
	return 0, false
}

const maxSlot = 1<<16 - 1

// setSlot publishes a new slot table, copied so that lookups in flight keep
// reading the old one.
func (r *Registry) setSlot(s Slot, o *Operator) {
	old := *r.slots.Load()
	n := slices.Clone(old)
	if int(s) >= len(n) {
		n = append(n, make([]*Operator, int(s)+1-len(n))...)
	}
	n[s] = o
	r.slots.Store(&n)
}

func (r *Registry) operatorBySlot(s Slot) *Operator {
	slots := *r.slots.Load()
	if int(s) >= len(slots) {
		return nil
	}
	return slots[s]
}

// Operator returns the operator with id, or nil.
func (r *Registry) Operator(id string) *Operator {
	return get[Operator](r.db.Txn(false), tableOperators, id)
}

// Operators lists operators in id order, a page at a time.
func (r *Registry) Operators(after string, limit int) Page[Operator] {
	return list(r.db, tableOperators, func(o *Operator) string { return o.ID }, after, limit, nil)
}

// OperatorByNetwork returns the operator holding MCC_MNC, or nil.
func (r *Registry) OperatorByNetwork(mcc, mnc string) *Operator {
	raw, err := r.db.Txn(false).First(tableOperators, "network", mcc+"_"+mnc)
	if err != nil || raw == nil {
		return nil
	}
	return raw.(*Operator)
}
