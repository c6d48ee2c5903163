package federation

import (
	rfc9457 "github.com/mcfed/mcfed/internal/problem"
)

// problem is the admin API's error body, as AdminClient decodes it.
type problem = rfc9457.Details
