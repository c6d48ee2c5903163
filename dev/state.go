package dev

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mcfed/mcfed/client"
)

// stateFile is what a demo started again on its data directory needs to be
// the same federation: the credentials it handed out (scripts and SDK
// configurations keep working) and the ports it listened on (the Raft
// cluster knows its members by address, and the demo SP is registered
// with its callback's). The nodes keep the rest in their own directories.
const stateFile = "dev-state.json"

// state is the content of stateFile.
type state struct {
	AdminToken string      `json:"admin_token"`
	SPSecret   string      `json:"sp_secret"`
	Nodes      []nodePorts `json:"nodes"` // in the order of operators
	SPPort     int         `json:"sp_port"`
	Handset    int         `json:"handset_port"`
	SMSC       int         `json:"smsc_port"`
	MSSP       int         `json:"mssp_port,omitempty"`
	// MobileData are the simulated mobile-data gateways' ports, in the
	// order of operators: a browser's proxy setting keeps working.
	MobileData []int `json:"mobile_data_ports,omitempty"`
}

// nodePorts are a node's listeners' ports.
type nodePorts struct {
	Raft   int `json:"raft"`
	Admin  int `json:"admin"`
	Public int `json:"public"`
}

// ErrNotDemoDir: a data directory holds files, and no demo's.
var ErrNotDemoDir = errors.New("the directory is not empty and holds no demo federation (no " + client.DevInfoFile + ")")

// openDir prepares the data directory: a new or empty one starts a new
// demo (nil state), one with a previous demo's state resumes it. reset
// empties a previous demo's directory first, and nothing else: a
// directory without the demo's files is never emptied.
func openDir(dir string, reset bool) (*state, error) {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil, os.MkdirAll(dir, 0o700)
	case err != nil:
		return nil, err
	case len(entries) == 0:
		return nil, nil
	}
	isDemo := exists(filepath.Join(dir, client.DevInfoFile)) || exists(filepath.Join(dir, stateFile))
	switch {
	case !isDemo:
		return nil, fmt.Errorf("%s: %w", dir, ErrNotDemoDir)
	case reset:
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return nil, fmt.Errorf("reset %s: %w", dir, err)
			}
		}
		return nil, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s holds a demo this version cannot resume (no %s): start over with --reset", dir, stateFile)
	} else if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w (start over with --reset)", filepath.Join(dir, stateFile), err)
	}
	if len(st.Nodes) != len(operators) || st.AdminToken == "" || st.SPSecret == "" {
		return nil, fmt.Errorf("%s does not describe this demo's %d nodes and credentials: start over with --reset",
			filepath.Join(dir, stateFile), len(operators))
	}
	return &st, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// save writes the state, readable by its owner only (it holds the admin
// token and the SP's secret).
func (st *state) save(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(dir, stateFile, append(b, '\n'))
}

// sameOrAny is a loopback address on port when it is free now, else on
// any free port: for the listeners whose address nothing remembers (the
// public URL is the issuer, which the node registers anew at each start;
// the SP's callback is registered again).
func sameOrAny(port int) string {
	if port == 0 {
		return "127.0.0.1:0"
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return addr
}

// publicListener is a node's public listener, open: on its port of the
// last run when that is free, else on any free port; and its public URL,
// the issuer: on localhost, not 127.0.0.1, because a passkey's relying
// party is a host name (browsers refuse WebAuthn on an IP address). The
// issuer names the port before the node starts: the listener is opened
// here and handed to the node, so that no other process can take the
// port in between.
func publicListener(port int) (net.Listener, string, error) {
	var ln net.Listener
	var err error
	if port != 0 {
		ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, "", err
		}
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return ln, "http://localhost:" + p, nil
}

// same is the loopback address on port, or any free port for a new demo
// (port 0): for the Raft and admin listeners, whose addresses the cluster's
// configuration and the registry hold, so a resumed demo needs them again.
func same(port int) string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// portOf is the port of a URL (or of a host:port).
func portOf(s string) int {
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		s = u.Host
	}
	_, p, err := net.SplitHostPort(s)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
