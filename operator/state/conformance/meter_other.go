//go:build !unix

package conformance

import "time"

// processCPU cannot measure here.
func processCPU() (time.Duration, bool) { return 0, false }
