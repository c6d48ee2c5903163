package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcfed/mcfed/client"
)

// phaseReport is the phase-by-phase pass: logins run in waves, each phase
// done for the whole wave (by the run's concurrent users) before the next
// starts, and the server's CPU time read between phases (its threads' run
// time in /proc/<pid>/task/*/schedstat, to the nanosecond). What
// the server spends while a phase runs is charged to it: its handlers, the
// HTTP server around them, the garbage collector's work they cause, and the
// background (Raft heartbeats, the other nodes), which the idle reading
// before the pass measures and the "net" column subtracts by wall time.
type phaseReport struct {
	logins, waves, waveSize, ok int
	idleCPU, idleWall           time.Duration
	cpu, wall                   [nPhases]time.Duration
	done                        [nPhases]int // logins that reached the end of each phase
	errors                      map[string]int
}

// idleWindow is how long the server's background CPU is read for before the
// pass.
const idleWindow = 2 * time.Second

// runPhases does n logins phase by phase, in waves of up to 8 logins per
// user, with free subscribers from p (a subscriber that failed is retired
// as in the run).
func runPhases(ctx context.Context, d *loginDriver, p *pool, sps []client.DevSPInfo, users, n int, server *serverCPU) (*phaseReport, error) {
	rep := &phaseReport{waveSize: 8 * users, errors: map[string]int{}}
	c0, err := server.readThreads()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	select {
	case <-time.After(idleWindow):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	c1, err := server.readThreads()
	if err != nil {
		return nil, err
	}
	rep.idleCPU, rep.idleWall = c1-c0, time.Since(t0)

	for rep.logins < n {
		var wave []*loginFlow
		for len(wave) < min(rep.waveSize, n-rep.logins) {
			s, ok := p.tryTake()
			if !ok {
				break
			}
			wave = append(wave, &loginFlow{sp: &sps[(rep.logins+len(wave))%len(sps)], sub: s})
		}
		if len(wave) == 0 {
			break
		}
		rep.logins += len(wave)
		rep.waves++
		failed := make([]bool, len(wave))
		for ph := range nPhases {
			before, err := server.readThreads()
			if err != nil {
				return nil, err
			}
			start := time.Now()
			kinds := d.phaseAcross(ctx, ph, wave, failed, users)
			rep.wall[ph] += time.Since(start)
			after, err := server.readThreads()
			if err != nil {
				return nil, err
			}
			rep.cpu[ph] += after - before
			for i, kind := range kinds {
				switch {
				case failed[i]:
				case kind != "":
					failed[i] = true
					rep.errors[phaseNames[ph]+": "+kind]++
				default:
					rep.done[ph]++
				}
			}
		}
		for i, f := range wave {
			if !failed[i] {
				rep.ok++
			}
			p.give(f.sub, !failed[i])
		}
	}
	if rep.logins == 0 {
		return nil, fmt.Errorf("no subscriber left for the phase pass: give more with --subscribers")
	}
	return rep, nil
}

// phaseAcross runs phase ph of every flow of the wave not failed yet, with
// users workers, and returns each flow's failure kind ("" when it passed).
func (d *loginDriver) phaseAcross(ctx context.Context, ph int, wave []*loginFlow, failed []bool, users int) []string {
	kinds := make([]string, len(wave))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				i := int(next.Add(1)) - 1
				if i >= len(wave) {
					return
				}
				if !failed[i] {
					kinds[i] = d.step(ctx, rng, ph, wave[i])
				}
			}
		}()
	}
	wg.Wait()
	return kinds
}

func (r *phaseReport) print(w io.Writer) {
	idle := r.idleCPU.Seconds() / r.idleWall.Seconds() // CPU-s per s
	fmt.Fprintf(w, "phase CPU  %d logins (%d ok) in %d waves of up to %d, one phase at a time across a wave; the server's CPU\n"+
		"           (its threads' run time, /proc/<pid>/task/*/schedstat) read between phases: handlers, HTTP, GC and\n"+
		"           background alike; idle server %.0f ms CPU/s,"+
		" subtracted by each phase's wall time in \"net\"\n",
		r.logins, r.ok, r.waves, r.waveSize, 1000*idle)
	fmt.Fprintf(w, "%-10s %12s %12s %7s %10s\n", "phase", "CPU/login", "net/login", "share", "wall")
	var nets [nPhases]time.Duration
	var total, totalNet, totalWall time.Duration
	for ph := range nPhases {
		nets[ph] = max(0, r.cpu[ph]-time.Duration(idle*float64(r.wall[ph])))
		totalNet += nets[ph]
		total += r.cpu[ph]
		totalWall += r.wall[ph]
	}
	per := func(d time.Duration, ph int) time.Duration {
		n := r.ok
		if ph >= 0 {
			n = r.done[ph]
		}
		if n == 0 {
			return 0
		}
		return d / time.Duration(n)
	}
	for ph, name := range phaseNames {
		share := 0.0
		if totalNet > 0 {
			share = 100 * float64(nets[ph]) / float64(totalNet)
		}
		fmt.Fprintf(w, "%-10s %12s %12s %6.1f%% %10s\n", name, round(per(r.cpu[ph], ph)), round(per(nets[ph], ph)), share,
			r.wall[ph].Round(time.Millisecond))
	}
	fmt.Fprintf(w, "%-10s %12s %12s %7s %10s\n", "login", round(per(total, -1)), round(per(totalNet, -1)), "", totalWall.Round(time.Millisecond))
	if len(r.errors) > 0 {
		kinds := make([]string, 0, len(r.errors))
		for k := range r.errors {
			kinds = append(kinds, k)
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(w, "  %6d  %s\n", r.errors[k], k)
		}
	}
}
