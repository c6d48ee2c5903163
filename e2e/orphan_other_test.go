//go:build !linux

package e2e

import "os/exec"

// dieWithTest: only Linux can tie a child's life to its parent's; elsewhere
// a node outlives a test that panicked past its cleanups.
func dieWithTest(*exec.Cmd) {}
