package client

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// DevInfoFile is the file `mcfed dev` writes in its data directory: what it
// prints, as JSON, so that scripts and the load generator can drive the
// demo without parsing the printout.
const DevInfoFile = "dev.json"

// DevInfo describes a running demo federation.
type DevInfo struct {
	// DiscoveryURL is the first node's discovery endpoint; every node in
	// Nodes answers discovery for every number alike.
	DiscoveryURL string            `json:"discovery_url"`
	Nodes        []DevNodeInfo     `json:"nodes"`
	AdminToken   string            `json:"admin_token"`
	SP           DevSPInfo         `json:"sp"`
	Operators    []DevOperatorInfo `json:"operators"`
	Handset      DevHandsetInfo    `json:"handset"`
	// PID is the process serving all of it (nodes, handset, SP page), for
	// load generators that measure the server's CPU time in /proc; 0 in a
	// dev.json written before it was recorded.
	PID int `json:"pid,omitempty"`
}

// DevNodeInfo is one node of the demo federation.
type DevNodeInfo struct {
	ID           string `json:"id"`
	Operator     string `json:"operator"` // the operator whose gateway it is
	PublicURL    string `json:"public_url"`
	DiscoveryURL string `json:"discovery_url"`
	AdminURL     string `json:"admin_url"`
}

// DevSPInfo is the demo SP: its credentials, as discovery and the
// operators' token endpoints take them, and its web page.
type DevSPInfo struct {
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Name         string   `json:"name"`
	Scopes       []string `json:"scopes"`
	// RedirectURI is the SP page's callback, its registered redirect URI.
	RedirectURI string `json:"redirect_uri"`
	// PageURL is the SP's "Log in with Mobile Connect" page.
	PageURL string `json:"page_url"`
}

// DevOperatorInfo is one demo operator.
type DevOperatorInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Issuer    string `json:"issuer"`
	PublicURL string `json:"public_url"`
	// AdminURL is the operator's own node's admin API, where its
	// subscribers are provisioned (/v1/subscribers).
	AdminURL string `json:"admin_url"`
	// Ranges are the number prefixes it serves, E.164 with "+".
	Ranges []string `json:"ranges"`
	// DemoNumbers are provisioned subscribers (E.164 with "+").
	DemoNumbers []string `json:"demo_numbers"`
	// PhonePasskey is the demo number whose phone (the simulated
	// handset) holds a passkey: level 3 through FIDO on the phone.
	PhonePasskey string `json:"phone_passkey,omitempty"`
	// MobileData is the operator's simulated mobile-data gateway, an HTTP
	// proxy: a browser using it is the phone of SeamlessNumber on mobile
	// data, and logs in seamlessly (absent where the system has no
	// loopback address besides 127.0.0.1).
	MobileData     string `json:"mobile_data_proxy,omitempty"`
	SeamlessNumber string `json:"seamless_number,omitempty"`
}

// DevHandsetInfo is the simulated handset where the demo numbers' SMS
// arrive.
type DevHandsetInfo struct {
	// PageURL lists the inboxes (HTML); PageURL/<digits> is one inbox's
	// page.
	PageURL string `json:"page_url"`
	// APIURL is the URL template of the JSON API's inbox,
	// ".../handset/{msisdn}/messages" ({msisdn}: the number's digits, E.164
	// without "+"): GET it for the inbox (newest first); POST
	// <inbox>/<id>/tap?link=N taps link N (0-based) of a message as the
	// phone would. MessagesURL fills it in.
	APIURL string `json:"api_url"`
}

// MSISDNPlaceholder is where APIURL takes the number.
const MSISDNPlaceholder = "{msisdn}"

// MessagesURL is the JSON inbox of a number (with or without "+"). A
// dev.json written before APIURL was a template holds the API's base URL;
// the inbox is under it.
func (h DevHandsetInfo) MessagesURL(msisdn string) string {
	digits := strings.TrimPrefix(msisdn, "+")
	if strings.Contains(h.APIURL, MSISDNPlaceholder) {
		return strings.ReplaceAll(h.APIURL, MSISDNPlaceholder, digits)
	}
	return h.APIURL + "/" + digits + "/messages"
}

// ReadDevInfo reads a dev.json.
func ReadDevInfo(path string) (*DevInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d DevInfo
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(d.Nodes) == 0 || d.SP.ClientID == "" {
		return nil, fmt.Errorf("%s does not describe a dev federation (no nodes or no SP)", path)
	}
	return &d, nil
}
