package api

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestDocumentsValidate: each document loads and validates as OpenAPI 3.1
// (kin-openapi checks 3.1 documents' schemas as JSON Schema 2020-12), and
// its examples match their schemas.
func TestDocumentsValidate(t *testing.T) {
	for name, doc := range map[string][]byte{"admin.yaml": Admin, "public.yaml": Public} {
		t.Run(name, func(t *testing.T) {
			d, err := openapi3.NewLoader().LoadFromData(doc)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if !d.IsOpenAPI31OrLater() {
				t.Fatalf("openapi %q, want 3.1", d.OpenAPI)
			}
			if err := d.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
				t.Fatalf("validate: %v", err)
			}
			if d.Paths.Len() == 0 {
				t.Fatal("no paths")
			}
		})
	}
}
