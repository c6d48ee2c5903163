package api

import (
	"bytes"
	"context"
	"encoding/json"
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

// TestJSON: the JSON a node serves is the YAML document, whole: it loads
// and validates alike and holds the same paths and operations.
func TestJSON(t *testing.T) {
	for name, doc := range map[string][]byte{"admin.yaml": Admin, "public.yaml": Public} {
		t.Run(name, func(t *testing.T) {
			js, err := JSON(doc)
			if err != nil {
				t.Fatal(err)
			}
			fromYAML, err := openapi3.NewLoader().LoadFromData(doc)
			if err != nil {
				t.Fatal(err)
			}
			fromJSON, err := openapi3.NewLoader().LoadFromData(js)
			if err != nil {
				t.Fatalf("load the JSON: %v", err)
			}
			if err := fromJSON.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
				t.Fatalf("validate the JSON: %v", err)
			}
			a, _ := json.Marshal(fromYAML)
			b, _ := json.Marshal(fromJSON)
			if !bytes.Equal(a, b) {
				t.Fatal("the JSON document differs from the YAML one")
			}
		})
	}
	if _, err := JSON([]byte("a: [")); err == nil {
		t.Fatal("broken YAML converted")
	}
}
