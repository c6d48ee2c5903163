package pgtest

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times on Linux
// (USER_HZ, 100 on every architecture Go supports there).
const clockTick = 10 * time.Millisecond

// ServerCPU is the CPU time (user and system) the throw-away cluster's
// processes have used so far: the postmaster and its children, the
// backends that served the tests' connections included. A benchmark that
// counts a store's cost counts the database's too: take it before and
// after. The CPU of the children that have ended (an autovacuum worker,
// a backend whose connection closed) counts too, from the postmaster's
// share of its reaped children. It needs Linux's /proc and a cluster this binary started (not
// one MCFED_TEST_POSTGRES names).
func ServerCPU() (time.Duration, error) {
	if local == nil {
		return 0, errors.New("pgtest: no cluster of this test binary's to measure")
	}
	pidFile, err := os.ReadFile(filepath.Join(local.data(), "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(pidFile), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0, err
	}
	procs, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return 0, err
	}
	var ticks uint64
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // gone meanwhile
		}
		st, ok := parseStat(b)
		switch {
		case ok && st.pid == postmaster:
			ticks += st.utime + st.stime + st.cutime + st.cstime
		case ok && st.ppid == postmaster:
			ticks += st.utime + st.stime
		}
	}
	return time.Duration(ticks) * clockTick, nil
}

// procStat is what ServerCPU reads of a process's /proc/<pid>/stat:
// its CPU in clock ticks, its own (utime, stime) and that of its
// children it has waited for (cutime, cstime).
type procStat struct {
	pid, ppid                    int
	utime, stime, cutime, cstime uint64
}

// parseStat reads a /proc/<pid>/stat line. The command name, in
// parentheses, may hold spaces: the fields after it are counted from its
// closing parenthesis.
func parseStat(b []byte) (st procStat, ok bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return
	}
	head := strings.Fields(string(b[:bytes.IndexByte(b, ' ')]))
	if len(head) != 1 {
		return
	}
	var err error
	if st.pid, err = strconv.Atoi(head[0]); err != nil {
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(b[i+1:]))
	sc.Split(bufio.ScanWords)
	var fields []string
	for sc.Scan() {
		fields = append(fields, sc.Text())
	}
	// After the name: state(0) ppid(1) ... utime(11) stime(12)
	// cutime(13) cstime(14).
	if len(fields) < 15 {
		return
	}
	if st.ppid, err = strconv.Atoi(fields[1]); err != nil {
		return
	}
	for i, p := range []*uint64{&st.utime, &st.stime, &st.cutime, &st.cstime} {
		if *p, err = strconv.ParseUint(fields[11+i], 10, 64); err != nil {
			return
		}
	}
	return st, true
}
