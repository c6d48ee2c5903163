// Package api holds the OpenAPI 3.1 descriptions of a node's two HTTP
// listeners, embedded so that the tests and the node itself read the very
// files in the repository (a node serves each, as JSON, at /openapi.json on
// its listener; JSON converts them):
//
//   - admin.yaml: the admin listener, the registry's resources and the
//     cluster behind the admin token, and the operator's subscribers;
//   - public.yaml: the public listener, discovery, operator selection,
//     Telco Finder and the operator's Identity Gateway.
//
// The documents are written by hand from the handlers. Tests keep them
// true: api_test.go loads and validates them with kin-openapi;
// structs_test.go pairs the admin schemas with the Go types the handlers
// decode and answer, member for member; federation/openapi_test.go checks
// that every route a node's fiber apps register is described (and every
// described path registered), and federation/openapi_samples_test.go
// validates real requests and answers of a running node against them.
package api

import _ "embed"

// Admin is the admin listener's description (YAML).
//
//go:embed admin.yaml
var Admin []byte

// Public is the public listener's description (YAML).
//
//go:embed public.yaml
var Public []byte
