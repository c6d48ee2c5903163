package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a node gets to shut down on SIGTERM before it is
// killed: a clean shutdown takes well under a second.
const stopGrace = 10 * time.Second

// process is one started mcfed process. Its stdout and stderr go to a log
// file, appended to across restarts so that one file tells a node's story.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // what Wait returned; read it only after done
}

// startProcess runs bin with args and env, its output appended to logPath.
func startProcess(bin string, args, env []string, logPath string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child holds its own descriptor
	fmt.Fprintf(f, "=== %s %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, env
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited says whether the process has ended (crashed, or was stopped).
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to shut down (SIGTERM, as an init system does) and
// kills it if it has not within grace. It returns how the process ended: nil
// for a clean exit.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return p.err
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(grace):
	}
	p.kill()
	return fmt.Errorf("did not stop within %s of SIGTERM; killed", grace)
}

// kill ends the process at once (SIGKILL: a crash, a power cut) and waits
// until it is gone.
func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill()
	}
	<-p.done
}

// nodeEnv is the test's environment without MCFED_* variables: every
// setting of a node under test comes from its command line, never from
// whoever runs the tests.
func nodeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCFED_") {
			env = append(env, kv)
		}
	}
	return env
}

// maxLogDump bounds how much of a node's log a failed test prints: the end
// of the log is where a failure shows.
const maxLogDump = 48 << 10

// logTail returns the last maxLogDump bytes of the log at path.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > maxLogDump {
		b = b[len(b)-maxLogDump:]
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		}
		return "[… earlier lines cut]\n" + string(b)
	}
	return string(b)
}
