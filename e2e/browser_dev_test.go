package e2e

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	// Aliased: the e2e package has a type federation of its own.
	"github.com/mcfed/mcfed/client"
	"github.com/mcfed/mcfed/operator/handset"
)

// devStart bounds `mcfed dev` from start to its dev.json: three nodes
// elect a leader and register their operators, the SP and the handset.
const devStart = 60 * time.Second

// sandbox is `mcfed dev` running as a separate process, as a developer
// starts it, and what its dev.json says about it.
type sandbox struct {
	info    *client.DevInfo
	proc    *process
	logPath string

	mu   sync.Mutex
	read map[string]string // number → the id of the last SMS read from it
}

// startDev runs `mcfed dev` on a new data directory and returns once it
// has written its dev.json. The process is stopped when the test ends, and
// its output printed if the test failed.
func startDev(t *testing.T) *sandbox {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	s := &sandbox{logPath: filepath.Join(dir, "dev.log")}
	p, err := startProcess(mcfedBin, []string{"dev", "--data-dir", data}, nodeEnv(), s.logPath)
	if err != nil {
		t.Fatalf("start mcfed dev: %v", err)
	}
	s.proc = p
	t.Cleanup(func() {
		if err := p.stop(stopGrace); err != nil {
			t.Errorf("mcfed dev did not stop cleanly on SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("output of mcfed dev (%s):\n%s", s.logPath, logTail(s.logPath))
		}
	})
	err = poll(devStart, func() (bool, error) {
		if p.exited() {
			return true, nil
		}
		s.info, err = client.ReadDevInfo(filepath.Join(data, client.DevInfoFile))
		return err == nil, err
	})
	if p.exited() {
		t.Fatalf("mcfed dev exited before it was ready: %v\n%s", p.err, logTail(s.logPath))
	}
	if err != nil {
		t.Fatalf("mcfed dev wrote no dev.json: %v", err)
	}
	return s
}

// waitSMS waits until number's inbox on the simulated handset holds a
// message and returns the newest. The test knows from the handset's JSON
// API when to look at the phone; what the person reads, they read on the
// handset's page.
func (s *sandbox) waitSMS(t *testing.T, number string) handset.Message {
	t.Helper()
	s.mu.Lock()
	last := s.read[number]
	s.mu.Unlock()
	var inbox struct {
		Messages []handset.Message `json:"messages"`
	}
	// The newest message first; one not read yet, so that a second login's
	// code is not taken from the first one's SMS.
	err := poll(stepTimeout, func() (bool, error) {
		err := getJSON(s.info.Handset.MessagesURL(number), &inbox)
		return err == nil && len(inbox.Messages) > 0 && inbox.Messages[0].ID != last, err
	})
	if err != nil {
		t.Fatalf("no new SMS reached %s: %v", number, err)
	}
	s.mu.Lock()
	if s.read == nil {
		s.read = map[string]string{}
	}
	s.read[number] = inbox.Messages[0].ID
	s.mu.Unlock()
	return inbox.Messages[0]
}

// inboxURL is the handset's page of number's messages.
func (s *sandbox) inboxURL(number string) string {
	return s.info.Handset.PageURL + "/" + strings.TrimPrefix(number, "+")
}

// operatorOf is the demo operator whose demo number is number.
func (s *sandbox) operatorOf(t *testing.T, number string) client.DevOperatorInfo {
	t.Helper()
	for _, op := range s.info.Operators {
		for _, n := range op.DemoNumbers {
			if n == number {
				return op
			}
		}
	}
	t.Fatalf("%s is no demo number of dev.json", number)
	return client.DevOperatorInfo{}
}
