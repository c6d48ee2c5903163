package federation

import (
	"fmt"
	"sync"

	"github.com/mcfed/mcfed/api"
)

// openapiDocs are the two listeners' descriptions as served at
// /openapi.json.
type openapiDocs struct{ admin, public []byte }

// loadOpenAPI converts the embedded YAML to JSON once a process: every
// node of it (a dev federation runs several) serves the same bytes.
var loadOpenAPI = sync.OnceValues(func() (openapiDocs, error) {
	adm, err := api.JSON(api.Admin)
	if err != nil {
		return openapiDocs{}, fmt.Errorf("api/admin.yaml: %w", err)
	}
	pub, err := api.JSON(api.Public)
	if err != nil {
		return openapiDocs{}, fmt.Errorf("api/public.yaml: %w", err)
	}
	return openapiDocs{admin: adm, public: pub}, nil
})
