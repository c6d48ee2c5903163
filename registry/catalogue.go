package registry

import "slices"

// Scope is an OAuth scope the federation offers, with the claims it
// releases (e.g. mc_identity_phonenumber releases phone_number).
type Scope struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Claims      []string `json:"claims,omitempty"`
	Meta
}

// Product is a Mobile Connect product (Authenticate, Authorise, Identity:
// Sign-up, KYC Match, ...): the scopes it grants and the least Level of
// Assurance it needs.
type Product struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
	MinLoA int      `json:"min_loa"` // 2, 3 or 4
	Meta
}

func applyPutScope(tx *writeTxn, body []byte) error {
	var s Scope
	if err := decodeJSON(body, &s); err != nil {
		return err
	}
	if !scopePattern.MatchString(s.Name) {
		return invalidf("scope %q is not an OAuth scope token", s.Name)
	}
	if len(s.Description) > 1000 {
		return invalidf("scope description is longer than 1000 characters")
	}
	return put(tx, tableScopes, get[Scope](tx.Txn, tableScopes, s.Name), &s)
}

func applyDeleteScope(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	if n := count(tx.Txn, tableProducts, "scope", k.Key); n > 0 {
		return conflictf("scope %s is part of %d products", k.Key, n)
	}
	if n := count(tx.Txn, tableSPs, "scope", k.Key); n > 0 {
		return conflictf("scope %s is allowed to %d service providers", k.Key, n)
	}
	return deleteByKey[Scope](tx, body, tableScopes, "scope")
}

func applyPutProduct(tx *writeTxn, body []byte) error {
	var p Product
	if err := decodeJSON(body, &p); err != nil {
		return err
	}
	if err := checkID("product id", p.ID); err != nil {
		return err
	}
	if err := checkName("product name", p.Name); err != nil {
		return err
	}
	if !slices.Contains([]int{2, 3, 4}, p.MinLoA) {
		return invalidf("min_loa %d: use 2, 3 or 4", p.MinLoA)
	}
	if len(p.Scopes) == 0 {
		return invalidf("a product needs at least one scope")
	}
	for _, s := range p.Scopes {
		if get[Scope](tx.Txn, tableScopes, s) == nil {
			return notFoundf("scope %q is not in the catalogue", s)
		}
	}
	return put(tx, tableProducts, get[Product](tx.Txn, tableProducts, p.ID), &p)
}

func applyDeleteProduct(tx *writeTxn, body []byte) error {
	return deleteByKey[Product](tx, body, tableProducts, "product")
}

// Scope returns the catalogue's scope called name, or nil.
func (r *Registry) Scope(name string) *Scope { return get[Scope](r.db.Txn(false), tableScopes, name) }

// Scopes lists the catalogue's scopes a page at a time.
func (r *Registry) Scopes(after string, limit int) Page[Scope] {
	return list(r.db, tableScopes, func(s *Scope) string { return s.Name }, after, limit, nil)
}

// Product returns the product with id, or nil.
func (r *Registry) Product(id string) *Product {
	return get[Product](r.db.Txn(false), tableProducts, id)
}

// Products lists the catalogue's products a page at a time.
func (r *Registry) Products(after string, limit int) Page[Product] {
	return list(r.db, tableProducts, func(p *Product) string { return p.ID }, after, limit, nil)
}

// LevelFloor is the least level of assurance a login of sp for scopes
// must reach: sp's own MinLoA, or more when its products say so. Of the
// SP's products that cover the request (every scope of the product but
// openid is asked for), the one with the lowest min_loa applies: an SP may
// use the cheapest of its products that does the job. product looks a
// product up (an unknown id counts for nothing). 0: no floor.
func (sp *ServiceProvider) LevelFloor(scopes []string, product func(id string) *Product) int {
	floor, best := sp.MinLoA, 0
	for _, id := range sp.Products {
		p := product(id)
		if p == nil {
			continue
		}
		covered := true
		for _, s := range p.Scopes {
			if s != "openid" && !slices.Contains(scopes, s) {
				covered = false
				break
			}
		}
		if covered && (best == 0 || p.MinLoA < best) {
			best = p.MinLoA
		}
	}
	return max(floor, best)
}
