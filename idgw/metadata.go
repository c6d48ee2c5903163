package idgw

import (
	"slices"

	"github.com/mcfed/mcfed/registry"
)

// Mobile Connect versions the gateway speaks. The Java SDK refuses to build
// an authorize URL for "openid mc_authn" unless mc_version lists
// mc_di_r2_v2.3 or mc_di_v3.0 (spec §7), and assumes mc_v1.1 only when the
// list is absent.
var mcVersions = []string{"mc_v1.1", "mc_v1.2", "mc_v2.0", "mc_di_r2_v2.3", "mc_di_v3.0"}

// metadata is the OpenID Provider metadata with the Mobile Connect fields the
// SDKs read (spec §2.6).
type metadata struct {
	Issuer                          string   `json:"issuer"`
	AuthorizationEndpoint           string   `json:"authorization_endpoint"`
	TokenEndpoint                   string   `json:"token_endpoint"`
	UserinfoEndpoint                string   `json:"userinfo_endpoint"`
	PremiumInfoEndpoint             string   `json:"premiuminfo_endpoint"`
	RevocationEndpoint              string   `json:"revocation_endpoint"`
	IntrospectionEndpoint           string   `json:"introspection_endpoint"`
	JWKSURI                         string   `json:"jwks_uri"`
	SIAuthorizationEndpoint         string   `json:"si_authorization_endpoint"`
	ScopesSupported                 []string `json:"scopes_supported"`
	MCDIScopesSupported             []string `json:"mc_di_scopes_supported"`
	ResponseTypesSupported          []string `json:"response_types_supported"`
	GrantTypesSupported             []string `json:"grant_types_supported"`
	SubjectTypesSupported           []string `json:"subject_types_supported"`
	ACRValuesSupported              []string `json:"acr_values_supported"`
	IDTokenSigningAlgs              []string `json:"id_token_signing_alg_values_supported"`
	RequestObjectSigningAlgs        []string `json:"request_object_signing_alg_values_supported"`
	TokenEndpointAuthMethods        []string `json:"token_endpoint_auth_methods_supported"`
	ClaimsSupported                 []string `json:"claims_supported"`
	ClaimsParameterSupported        bool     `json:"claims_parameter_supported"`
	MCClaimsParameterSupported      bool     `json:"mc_claims_parameter_supported"`
	RequestParameterSupported       bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported    bool     `json:"request_uri_parameter_supported"`
	RequireRequestURIRegistration   bool     `json:"require_request_uri_registration"`
	LoginHintMethodsSupported       []string `json:"login_hint_methods_supported"`
	MCVersion                       []string `json:"mc_version"`
	Version                         string   `json:"version"`
	CodeChallengeMethodsSupported   []string `json:"code_challenge_methods_supported"`
	PromptValuesSupported           []string `json:"prompt_values_supported"`
	DisplayValuesSupported          []string `json:"display_values_supported"`
	MCHashAlgsSupported             []string `json:"mc_hash_algs_supported"`
	MCAMRValuesSupported            []string `json:"mc_amr_values_supported"`
	ClaimsLocalesSupported          []string `json:"claims_locales_supported"`
	UILocalesSupported              []string `json:"ui_locales_supported"`
	RevocationEndpointAuthMethods   []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethod []string `json:"introspection_endpoint_auth_methods_supported"`
	// The algorithms of private_key_jwt assertions (RFC 8414 §2).
	TokenEndpointAuthSigningAlgs         []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpointAuthSigningAlgs    []string `json:"revocation_endpoint_auth_signing_alg_values_supported"`
	IntrospectionEndpointAuthSigningAlgs []string `json:"introspection_endpoint_auth_signing_alg_values_supported"`
	// Logout: RP-Initiated Logout 1.0 §2.1, Back-Channel Logout 1.0 §2.1.
	EndSessionEndpoint                string `json:"end_session_endpoint"`
	BackchannelLogoutSupported        bool   `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool   `json:"backchannel_logout_session_supported"`
	// OpenID CIBA (ciba.go).
	BackchannelAuthenticationEndpoint string   `json:"backchannel_authentication_endpoint"`
	BackchannelTokenDeliveryModes     []string `json:"backchannel_token_delivery_modes_supported"`
	BackchannelUserCodeParameter      bool     `json:"backchannel_user_code_parameter_supported"`
	BackchannelAuthRequestSigningAlgs []string `json:"backchannel_authentication_request_signing_alg_values_supported"`
}

// diScopes are the identity (data) scopes of the Mobile Connect products
// (spec §4), listed apart as mc_di_scopes_supported.
var diScopes = []string{
	"mc_identity_phonenumber", "mc_phonenumber", "mc_identity_signup", "mc_identity_signupplus", "mc_signup",
	"mc_identity_nationalid", "mc_nationalid", "mc_kyc_plain", "mc_kyc_hashed",
	"mc_attr_vm_match", "mc_attr_vm_match_hash", "mc_attr_vm_share", "mc_attr_vm_share_hash", "mc_atp",
}

// claimsSupported are the claims the gateway can release: the ID token's,
// and userinfo's and premiuminfo's (spec §2.4-2.5).
var claimsSupported = []string{
	"sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "acr", "amr", "at_hash", "hashed_login_hint", "sid",
	"name", "title", "given_name", "family_name", "middle_name", "email", "email_verified",
	"phone_number", "phone_number_verified", "phone_number_alternate", "birthdate", "address",
	"street_address", "city", "state", "postal_code", "country", "national_identifier",
}

// metadata is the gateway's OpenID Provider metadata, or an error while
// its operator is not registered.
func (g *Gateway) metadata() (*metadata, error) {
	o, err := g.operator()
	if err != nil {
		return nil, err
	}
	u := o.URLs()
	var scopes []string
	for after := ""; ; {
		p := g.cfg.Registry.Scopes(after, 1000)
		for _, s := range p.Items {
			scopes = append(scopes, s.Name)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	if !slices.Contains(scopes, "openid") {
		scopes = append([]string{"openid"}, scopes...)
	}
	var di []string
	for _, s := range diScopes {
		if slices.Contains(scopes, s) {
			di = append(di, s)
		}
	}
	// The levels and methods are those of the authenticators this gateway
	// runs, not all Mobile Connect defines: an SP that asks for a level
	// the metadata promised must be able to get it.
	// The ID token algorithms an SP can register, not every one the
	// signing ring holds a key for.
	algs := registry.IDTokenAlgs
	m := metadata{
		Issuer:                          o.Issuer,
		AuthorizationEndpoint:           u.Authorization,
		TokenEndpoint:                   u.Token,
		UserinfoEndpoint:                u.UserInfo,
		PremiumInfoEndpoint:             u.PremiumInfo,
		RevocationEndpoint:              u.Revocation,
		IntrospectionEndpoint:           g.paths.introspection,
		JWKSURI:                         u.JWKS,
		SIAuthorizationEndpoint:         u.SIAuthorization,
		ScopesSupported:                 scopes,
		MCDIScopesSupported:             di,
		ResponseTypesSupported:          []string{"code"},
		GrantTypesSupported:             []string{grantAuthorizationCode, grantRefreshToken, grantCIBA, grantClientCredentials},
		SubjectTypesSupported:           []string{"pairwise"},
		ACRValuesSupported:              nonNil(g.cfg.Router.Levels()),
		IDTokenSigningAlgs:              algs,
		RequestObjectSigningAlgs:        assertionAlgNames(), // verified as client assertions are
		TokenEndpointAuthMethods:        clientAuthMethods,
		ClaimsSupported:                 claimsSupported,
		ClaimsParameterSupported:        true,
		MCClaimsParameterSupported:      true,
		RequestParameterSupported:       true, // JAR at /authorize (jar.go)
		RequestURIParameterSupported:    true, // for SPs that registered request_uris (requesturi.go)
		RequireRequestURIRegistration:   true,
		LoginHintMethodsSupported:       []string{"MSISDN", "ENCR_MSISDN", "PCR"},
		MCVersion:                       mcVersions,
		Version:                         "3.0",
		CodeChallengeMethodsSupported:   []string{"S256"},
		PromptValuesSupported:           g.promptValues(),
		DisplayValuesSupported:          []string{"page", "touch", "popup", "wap"},
		MCHashAlgsSupported:             []string{"SHA-256"},
		MCAMRValuesSupported:            nonNil(g.cfg.Router.AMRValues()),
		ClaimsLocalesSupported:          []string{"en"},
		UILocalesSupported:              []string{"en"},
		RevocationEndpointAuthMethods:   clientAuthMethods,
		IntrospectionEndpointAuthMethod: clientAuthMethods,

		TokenEndpointAuthSigningAlgs:         assertionAlgNames(),
		RevocationEndpointAuthSigningAlgs:    assertionAlgNames(),
		IntrospectionEndpointAuthSigningAlgs: assertionAlgNames(),

		EndSessionEndpoint:                g.paths.logout,
		BackchannelLogoutSupported:        true,
		BackchannelLogoutSessionSupported: true,
		BackchannelAuthenticationEndpoint: g.backchannelURL(),
		BackchannelTokenDeliveryModes:     bcModes,
		BackchannelAuthRequestSigningAlgs: assertionAlgNames(),
	}
	return &m, nil
}

// nonNil is s, or an empty list: a gateway without authenticators
// advertises no level ([]), not a missing one (null).
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// promptValues are the prompt values the gateway honours: no_seam only
// when an authenticator decides from the network (seamless login).
func (g *Gateway) promptValues() []string {
	v := []string{"none", "login", "consent", "select_account"}
	if g.cfg.Router.seamless() {
		v = append(v, "no_seam")
	}
	return v
}
