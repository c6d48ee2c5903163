package registry

// The Mobile Connect standard catalogue: the scopes and products a new
// federation starts with (shared/spec/mobile-connect.md §4), seeded once by
// the federation's first node into an empty catalogue and from then on the
// federation admin's to edit. The claims are those the operators' data
// gateways release for each scope (operator/datagateway); the products'
// least LoA is the spec's: LoA2 for Authenticate, Authorise and, as the
// spec's minimum, every identity product and KYC Match; LoA3 for the Plus
// products.

var (
	signupClaims = []string{"title", "given_name", "family_name", "middle_name", "street_address",
		"city", "state", "postal_code", "country", "email", "phone_number", "birthdate"}
	nationalIDClaims = []string{"national_identifier", "title", "given_name", "family_name",
		"middle_name", "street_address", "city", "state", "postal_code", "country"}
	kycClaims = []string{"name", "given_name", "family_name", "address", "houseno_or_housename",
		"postal_code", "town", "country", "birthdate"}
)

// standardScopes are the Mobile Connect scopes, with the v3.0 names of the
// identity scopes beside the earlier ones (gateways serve both).
var standardScopes = []Scope{
	{Name: "openid", Description: "OpenID Connect sign-in: an ID token for the subscriber's pseudonymous reference (PCR)"},
	{Name: "mc_authn", Description: "Mobile Connect Authenticate (mc_v2.0 and later)"},
	{Name: "mc_authz", Description: "Mobile Connect Authorise: the subscriber approves a transaction the SP describes (context, binding_message, client_name)"},
	{Name: "profile", Description: "the subscriber's name and birth date, from userinfo",
		Claims: []string{"name", "given_name", "family_name", "middle_name", "birthdate"}},
	{Name: "email", Description: "the subscriber's email address, from userinfo", Claims: []string{"email", "email_verified"}},
	{Name: "phone", Description: "the subscriber's phone number, from userinfo", Claims: []string{"phone_number", "phone_number_verified"}},
	{Name: "address", Description: "the subscriber's postal address, from userinfo", Claims: []string{"address"}},
	{Name: "offline_access", Description: "a refresh token beside the access token"},
	{Name: "mc_identity_phonenumber", Description: "Identity: Phone Number, from premiuminfo", Claims: []string{"phone_number"}},
	{Name: "mc_phonenumber", Description: "Identity: Phone Number (mc_di_v3.0 name), from premiuminfo", Claims: []string{"phone_number"}},
	{Name: "mc_identity_signup", Description: "Identity: Sign-up, from premiuminfo", Claims: signupClaims},
	{Name: "mc_identity_signupplus", Description: "Identity: Sign-up Plus, from premiuminfo", Claims: signupClaims},
	{Name: "mc_signup", Description: "Identity: Sign-up (mc_di_v3.0 name), from premiuminfo", Claims: signupClaims},
	{Name: "mc_identity_nationalid", Description: "Identity: National ID, from premiuminfo", Claims: nationalIDClaims},
	{Name: "mc_nationalid", Description: "Identity: National ID (mc_di_v3.0 name), from premiuminfo", Claims: nationalIDClaims},
	{Name: "mc_kyc_plain", Description: "KYC Match with plain values: premiuminfo answers <claim>_match", Claims: kycClaims},
	{Name: "mc_kyc_hashed", Description: "KYC Match with hashed values (<claim>_hashed): premiuminfo answers <claim>_match", Claims: kycClaims},
}

// standardProducts are the Mobile Connect products, each with the scopes
// it grants; every scope is one of standardScopes.
var standardProducts = []Product{
	{ID: "authenticate", Name: "Authenticate", Scopes: []string{"openid", "mc_authn"}, MinLoA: 2},
	{ID: "authenticate-plus", Name: "Authenticate Plus", Scopes: []string{"openid", "mc_authn"}, MinLoA: 3},
	{ID: "authorise", Name: "Authorise", Scopes: []string{"openid", "mc_authz"}, MinLoA: 2},
	{ID: "authorise-plus", Name: "Authorise Plus", Scopes: []string{"openid", "mc_authz"}, MinLoA: 3},
	{ID: "identity-phonenumber", Name: "Identity: Phone Number", Scopes: []string{"openid", "mc_identity_phonenumber", "mc_phonenumber"}, MinLoA: 2},
	{ID: "identity-signup", Name: "Identity: Sign-up", Scopes: []string{"openid", "mc_identity_signup", "mc_signup"}, MinLoA: 2},
	{ID: "identity-signupplus", Name: "Identity: Sign-up Plus", Scopes: []string{"openid", "mc_identity_signupplus"}, MinLoA: 2},
	{ID: "identity-nationalid", Name: "Identity: National ID", Scopes: []string{"openid", "mc_identity_nationalid", "mc_nationalid"}, MinLoA: 2},
	{ID: "kyc-match", Name: "KYC Match", Scopes: []string{"openid", "mc_kyc_plain", "mc_kyc_hashed"}, MinLoA: 2},
}

// standardAPIs are the gateway endpoints the standard products open, each
// with the limit every SP had at it before the catalogue held APIs (the
// gateway's default): 100 requests a second and 200 at once. userinfo
// serves OpenID Connect's standard claims (profile, email, phone,
// address), which no standard product names; premiuminfo serves the
// identity products and KYC Match.
var standardAPIs = []API{
	{ID: "userinfo", Name: "UserInfo", Description: "OpenID Connect UserInfo: the standard claims of profile, email, phone and address",
		RatePerSP: 100, BurstPerSP: 200},
	{ID: "premiuminfo", Name: "Premium Info", Description: "Mobile Connect premiuminfo: the identity products' claims and KYC Match",
		Products:  []string{"identity-phonenumber", "identity-signup", "identity-signupplus", "identity-nationalid", "kyc-match"},
		RatePerSP: 100, BurstPerSP: 200},
}

// StandardAPIs returns copies of the standard APIs, written after the
// products they name.
func StandardAPIs() []API {
	apis := make([]API, len(standardAPIs))
	for i, a := range standardAPIs {
		a.Products = append([]string(nil), a.Products...)
		apis[i] = a
	}
	return apis
}

// StandardCatalogue returns copies of the standard scopes and products,
// in the order they must be written (a product's scopes first).
func StandardCatalogue() ([]Scope, []Product) {
	scopes := make([]Scope, len(standardScopes))
	for i, s := range standardScopes {
		s.Claims = append([]string(nil), s.Claims...)
		scopes[i] = s
	}
	products := make([]Product, len(standardProducts))
	for i, p := range standardProducts {
		p.Scopes = append([]string(nil), p.Scopes...)
		products[i] = p
	}
	return scopes, products
}

// StandardScope returns the standard definition of the scope called name,
// or false for a scope outside the standard catalogue.
func StandardScope(name string) (Scope, bool) {
	for _, s := range standardScopes {
		if s.Name == name {
			s.Claims = append([]string(nil), s.Claims...)
			return s, true
		}
	}
	return Scope{}, false
}
