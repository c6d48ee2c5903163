package main

import (
	"fmt"
	"io"
	"time"

	"github.com/prometheus/procfs"
)

// serverCPU reads the CPU time (user + system) a server process has used,
// from /proc/<pid>/stat: the cost of the load to the server, whatever else
// the machine runs. Its resolution is the kernel's clock tick (10 ms), so a
// reading is meaningful over many requests, not one.
type serverCPU struct {
	proc procfs.Proc
}

// newServerCPU watches process pid; pid 0 means no server to watch (nil).
func newServerCPU(pid int) (*serverCPU, error) {
	if pid == 0 {
		return nil, nil
	}
	p, err := procfs.NewProc(pid)
	if err != nil {
		return nil, fmt.Errorf("server process %d: %w", pid, err)
	}
	s := &serverCPU{proc: p}
	if _, err := s.read(); err != nil {
		return nil, err
	}
	return s, nil
}

// read is the CPU time the process has used so far.
func (s *serverCPU) read() (time.Duration, error) {
	st, err := s.proc.Stat()
	if err != nil {
		return 0, fmt.Errorf("server process %d: %w", s.proc.PID, err)
	}
	return time.Duration(st.CPUTime() * float64(time.Second)), nil
}

// readThreads is the CPU time the process's live threads have run, from
// /proc/<pid>/task/*/schedstat: in nanoseconds, where /proc/<pid>/stat
// counts 10 ms ticks, so it can time a short stretch such as one phase of
// a wave of logins. A thread that ended takes its time with it (a Go or
// Node server keeps its threads), hence read for whole runs.
func (s *serverCPU) readThreads() (time.Duration, error) {
	threads, err := procfs.AllThreads(s.proc.PID)
	if err != nil {
		return 0, fmt.Errorf("server process %d: %w", s.proc.PID, err)
	}
	var sum time.Duration
	for _, t := range threads {
		st, err := t.Schedstat()
		if err != nil {
			continue // the thread ended meanwhile
		}
		sum += time.Duration(st.RunningNanoseconds)
	}
	return sum, nil
}

// cpuSpan is a server's CPU time over a stretch of wall-clock time.
type cpuSpan struct {
	pid       int
	cpu, wall time.Duration
}

// perCPUSecond is how many of n things the server did per CPU-second.
func (c cpuSpan) perCPUSecond(n int) float64 {
	if c.cpu <= 0 {
		return 0
	}
	return float64(n) / c.cpu.Seconds()
}

// print says what the server spent on n things (noun: "logins").
func (c cpuSpan) print(w io.Writer, n int, noun string) {
	if n == 0 || c.cpu <= 0 {
		fmt.Fprintf(w, "server     pid %d: %.2f CPU-s over %s\n", c.pid, c.cpu.Seconds(), c.wall.Round(10*time.Millisecond))
		return
	}
	fmt.Fprintf(w, "server     pid %d: %.2f CPU-s over %s (%.2f cores), %s CPU a %s; %.1f %s per server CPU-second\n",
		c.pid, c.cpu.Seconds(), c.wall.Round(10*time.Millisecond), c.cpu.Seconds()/c.wall.Seconds(),
		round(c.cpu/time.Duration(n)), singular(noun), c.perCPUSecond(n), noun)
}

func singular(noun string) string {
	if len(noun) > 1 && noun[len(noun)-1] == 's' {
		return noun[:len(noun)-1]
	}
	return noun
}
