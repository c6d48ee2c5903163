package api

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/mcfed/mcfed/admin"
	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/internal/problem"
	"github.com/mcfed/mcfed/operator/fido"
	"github.com/mcfed/mcfed/operator/simapplet"
	"github.com/mcfed/mcfed/operator/subscribers"
	"github.com/mcfed/mcfed/raft"
	"github.com/mcfed/mcfed/registry"
)

// bodies pairs each schema of admin.yaml with the Go type the handlers
// decode or answer, so that a field added to a struct without its
// description (or a property described that no struct has) fails here,
// before any node runs.
var bodies = []struct {
	schema string
	typ    any
}{
	{"Problem", problem.Details{}},
	{"RowError", problem.RowError{}},
	{"Operator", registry.Operator{}},
	{"Endpoints", registry.Endpoints{}},
	{"SealKey", registry.SealKey{}},
	{"IPRange", registry.IPRange{}},
	{"Scope", registry.Scope{}},
	{"Product", registry.Product{}},
	{"Developer", registry.Developer{}},
	{"Contact", registry.Contact{}},
	{"API", registry.API{}},
	{"ServiceProvider", registry.ServiceProvider{}},
	{"SPRequest", admin.SPRequest{}},
	{"SPResponse", admin.SPResponse{}},
	{"RedirectCheck", registry.RedirectCheck{}},
	{"SPPolicy", registry.SPPolicy{}},
	{"Range", registry.Range{}},
	{"OperatorRef", admin.OperatorRef{}},
	{"PortedNumber", admin.PortedNumber{}},
	{"ImportResult", admin.ImportResult{}},
	{"RotateRequest", admin.RotateRequest{}},
	{"NodeSealKeyResult", admin.NodeSealKeyResult{}},
	{"JoinRequest", raft.JoinRequest{}},
	{"JoinResponse", raft.JoinResponse{}},
	{"RaftStatus", raft.Status{}},
	{"Member", raft.Member{}},
	{"VoterRules", admin.VoterRulesBody{}},
	{"VoterRulesRequest", admin.VoterRulesBody{}},
	{"Promotion", admin.PromoteBody{}},
	{"CredentialRequest", admin.CredentialRequest{}},
	{"Credential", admin.CredentialResponse{}},
	{"ApprovalRules", admin.ApprovalRulesBody{}},
	{"Vote", registry.Vote{}},
	{"Proposal", admin.ProposalResponse{}},
	{"AuditEntry", registry.AuditEntry{}},
	{"Author", registry.Author{}},
	{"AuditRetention", admin.AuditRetentionBody{}},
	{"PortRequestFiling", admin.PortRequestBody{}},
	{"PortRequest", registry.PortRequest{}},
	{"PortingRules", registry.PortingRules{}},
	{"Dispute", registry.Dispute{}},
	{"Settlement", admin.SettleBody{}},
	{"Subscriber", subscribers.Subscriber{}},
	{"Attributes", subscribers.Attributes{}},
	{"Enrolment", subscribers.Enrolment{}},
	{"BulkResult", subscribers.BulkResult{}},
	{"Consent", subscribers.Consent{}},
	{"ScopeConsent", subscribers.ScopeConsent{}},
	{"SIMAppletEnrolment", simapplet.SIM{}},
	{"RoutingRule", idgw.RoutingRule{}},
	{"PasskeyCeremony", fido.Ceremony{}},
	{"PhonePasskey", fido.PhonePasskey{}},
	{"RoutingAuthenticator", idgw.RoutingAuthenticator{}},
	{"RoutingOverview", idgw.RoutingOverview{}},
	{"RoutingRulePage", idgw.RoutingRulePage{}},
}

// jsonFields are the member names encoding/json gives t's fields,
// embedded structs' included.
func jsonFields(t reflect.Type) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = append(out, jsonFields(ft)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// schemaProperties are a schema's property names, its allOf parts' included.
func schemaProperties(s *openapi3.Schema) []string {
	var out []string
	for name := range s.Properties {
		out = append(out, name)
	}
	for _, part := range s.AllOf {
		out = append(out, schemaProperties(part.Value)...)
	}
	return out
}

// TestSchemasMatchTheGoTypes: every JSON member of the admin API's Go
// types is a property of its schema, and every property a member.
func TestSchemasMatchTheGoTypes(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(Admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bodies {
		ref := doc.Components.Schemas[b.schema]
		if ref == nil {
			t.Errorf("admin.yaml has no schema %s", b.schema)
			continue
		}
		props := schemaProperties(ref.Value)
		fields := jsonFields(reflect.TypeOf(b.typ))
		for _, f := range fields {
			if !slices.Contains(props, f) {
				t.Errorf("%T has %q, which schema %s does not describe", b.typ, f, b.schema)
			}
		}
		for _, p := range props {
			if !slices.Contains(fields, p) {
				t.Errorf("schema %s describes %q, which %T does not have", b.schema, p, b.typ)
			}
		}
	}
}
