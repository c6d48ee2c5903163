package federation

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/netlookup"
)

// networkLookupSettings are those of the operator's address lookup
// service (operator/netlookup), behind CAMARA login_hint=ipport: at the
// backchannel endpoints: its URL, the bearer token the gateway sends
// (inline or in a file), the TLS files (the service's CA; a client
// certificate and key for mutual TLS) and the bounds on each lookup.
type networkLookupSettings struct {
	URL             string       `json:"url"`
	BearerToken     string       `json:"bearer_token"`
	BearerTokenFile string       `json:"bearer_token_file"`
	CAFile          string       `json:"ca_file"`
	CertFile        string       `json:"cert_file"`
	KeyFile         string       `json:"key_file"`
	Timeout         jsonDuration `json:"timeout"`
	MaxAnswer       int64        `json:"max_answer"`
}

// loadNetworkLookup reads --network-lookup-file: the settings, checked
// for unknown fields as an authenticator's are.
func loadNetworkLookup(path string) (json.RawMessage, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--network-lookup-file: %w", err)
	}
	var s networkLookupSettings
	if err := decodeSettings(b, &s); err != nil {
		return nil, fmt.Errorf("--network-lookup-file %s: %w", path, err)
	}
	return b, nil
}

// addressResolver is the gateway's idgw.AddressResolver: the one given
// in-process (mcfed dev's simulated network), or the lookup service the
// settings name, or none (ipport: hints are then refused).
func (n *Node) addressResolver() (idgw.AddressResolver, error) {
	if n.cfg.AddressResolver != nil {
		return n.cfg.AddressResolver, nil
	}
	if len(bytes.TrimSpace(n.cfg.NetworkLookup)) == 0 {
		return nil, nil
	}
	var s networkLookupSettings
	if err := decodeSettings(n.cfg.NetworkLookup, &s); err != nil {
		return nil, fmt.Errorf("network lookup: %w", err)
	}
	token := s.BearerToken
	switch {
	case token != "" && s.BearerTokenFile != "":
		return nil, errors.New("network lookup: give bearer_token or bearer_token_file, not both")
	case s.BearerTokenFile != "":
		b, err := os.ReadFile(s.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("network lookup: bearer_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	tc, err := netlookup.LoadTLS(s.CAFile, s.CertFile, s.KeyFile)
	if err != nil {
		return nil, err
	}
	return netlookup.New(netlookup.Config{URL: s.URL, BearerToken: token, TLS: tc,
		Timeout: time.Duration(s.Timeout), MaxAnswer: s.MaxAnswer})
}
