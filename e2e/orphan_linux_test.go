package e2e

import (
	"os/exec"
	"syscall"
)

// dieWithTest has the kernel kill a node if the test process dies first
// (a test timeout panics past every t.Cleanup), so that no node outlives
// its test holding ports and CPU.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
