package dev

import "fmt"

// demoAddresses are made-up postal addresses, one per demo country, so that
// the identity products (premiuminfo) and KYC match have something to
// release and compare.
var demoAddresses = map[string]map[string]string{
	"GB": {"street_address": "10 Demo Street", "locality": "London", "postal_code": "SW1A 1AA", "country": "GB"},
	"DE": {"street_address": "Demostraße 10", "locality": "Berlin", "postal_code": "10117", "country": "DE"},
	"FR": {"street_address": "10 rue de la Démo", "locality": "Paris", "postal_code": "75001", "country": "FR"},
}

// demoAttributes are what operator op holds about its k-th demo subscriber:
// a name, an e-mail address, a birth date, an address and a national
// identifier, all made up.
func demoAttributes(op operator, k int) map[string]any {
	email := "demo@" + op.id + ".example"
	if k > 0 {
		email = fmt.Sprintf("demo%d@%s.example", k+1, op.id)
	}
	return map[string]any{
		"title": "Dr", "given_name": "Demo", "family_name": "Subscriber " + op.country,
		"email": email, "email_verified": true, "birthdate": "1990-01-01",
		"address":             demoAddresses[op.country],
		"national_identifier": fmt.Sprintf("%s-DEMO-%04d", op.country, k+1),
	}
}
