package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// cluster is a PostgreSQL cluster this test binary started.
type cluster struct {
	bin      string   // directory of initdb and pg_ctl
	dir      string   // temporary directory: data/, the socket, the log
	runAs    []string // prefix that runs a command as the cluster's owner
	url      string
	watchdog *exec.Cmd
}

// errNoRunAs: as root, with no postgres user to run PostgreSQL as (initdb
// refuses root). The test skips, as with no PostgreSQL at all.
type errNoRunAs struct{ error }

// findBinaries returns the directory holding initdb and pg_ctl: PATH's,
// else the newest of Debian's /usr/lib/postgresql/<major>/bin.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, dir := range dirs {
		_, e1 := os.Stat(filepath.Join(dir, "initdb"))
		_, e2 := os.Stat(filepath.Join(dir, "pg_ctl"))
		if e1 == nil && e2 == nil {
			return dir, nil
		}
	}
	return "", errors.New("no initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin")
}

// major is the version in /usr/lib/postgresql/<major>/bin.
func major(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

// startCluster makes a cluster in a new temporary directory and starts it.
func startCluster(bin string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "mcfed-pgtest-")
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin, dir: dir}
	if err := c.owner(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// -U postgres names the superuser whoever owns the cluster; trust on
	// the socket and on 127.0.0.1 only.
	if out, err := c.run("initdb", "-D", c.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	// A port picked free can be taken before the server binds it: try
	// another.
	var lastErr error
	for try := 0; try < 3; try++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-k %s -p %d -h 127.0.0.1 -c max_connections=200", dir, port)
		out, err := c.run("pg_ctl", "-D", c.data(), "-l", filepath.Join(dir, "postgres.log"), "-w", "-t", "60", "-o", opts, "start")
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			lastErr = fmt.Errorf("pg_ctl start: %v: %s%s", err, out, log)
			continue
		}
		c.url = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
		c.startWatchdog()
		return c, nil
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

func (c *cluster) data() string { return filepath.Join(c.dir, "data") }

// owner decides who runs the cluster: this user, or as root (which
// PostgreSQL refuses) the postgres user, owning the directory.
func (c *cluster) owner() error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return errNoRunAs{fmt.Errorf("running as root, and no postgres user to run PostgreSQL as: %v", err)}
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		return errNoRunAs{errors.New("running as root, and no runuser to run PostgreSQL as the postgres user")}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(c.dir, uid, gid); err != nil {
		return err
	}
	c.runAs = []string{runuser, "-u", "postgres", "--"}
	return nil
}

func (c *cluster) command(name string, args ...string) *exec.Cmd {
	argv := append(append(append([]string{}, c.runAs...), filepath.Join(c.bin, name)), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.dir
	return cmd
}

func (c *cluster) run(name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := c.command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// startWatchdog starts a shell, in a session of its own so that a Ctrl-C
// does not reach it, that stops the cluster when this process is gone
// without calling stop: a test binary killed by go test's timeout would
// otherwise leave a postmaster running.
func (c *cluster) startWatchdog() {
	stop := strings.Join(quote(c.command("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop").Args), " ")
	script := fmt.Sprintf("while kill -0 %d 2>/dev/null; do sleep 1; done; %s >/dev/null 2>&1; rm -rf %s",
		os.Getpid(), stop, quote([]string{c.dir})[0])
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if cmd.Start() == nil {
		c.watchdog = cmd
	}
}

// stop stops the cluster (fast: disconnects clients, no waiting for
// them), ends the watchdog and removes the directory.
func (c *cluster) stop() error {
	out, err := c.run("pg_ctl", "-D", c.data(), "-m", "fast", "-w", "stop")
	if c.watchdog != nil {
		c.watchdog.Process.Kill()
		c.watchdog.Wait()
	}
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v: %s (left %s)", err, out, c.dir)
	}
	return os.RemoveAll(c.dir)
}

// quote quotes each argument for sh.
func quote(args []string) []string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return q
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
