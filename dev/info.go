package dev

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mcfed/mcfed/client"
)

// Info describes the running demo, as dev.json holds it.
func (d *Federation) Info() client.DevInfo { return d.info }

func (d *Federation) describe() client.DevInfo {
	info := client.DevInfo{AdminToken: d.AdminToken,
		SP: client.DevSPInfo{ClientID: spClientID, ClientSecret: d.SPSecret, Name: spName, Scopes: spScopes,
			RedirectURI: d.sp.CallbackURL(), PageURL: d.sp.URL()},
		Handset: client.DevHandsetInfo{PageURL: d.phone.URL(), APIURL: d.phone.URL() + "/" + client.MSISDNPlaceholder + "/messages"},
		PID:     os.Getpid()}
	for i, op := range operators {
		n := d.Nodes[i]
		info.Nodes = append(info.Nodes, client.DevNodeInfo{ID: op.nodeID(), Operator: op.id, PublicURL: n.PublicURL(),
			DiscoveryURL: n.PublicURL() + "/v2/discovery", AdminURL: n.AdminURL()})
		o := client.DevOperatorInfo{ID: op.id, Name: op.name, Issuer: n.PublicURL(),
			PublicURL: n.PublicURL(), AdminURL: n.AdminURL(), Ranges: op.prefixes, DemoNumbers: op.numbers(), PhonePasskey: op.number}
		for _, m := range d.mobile {
			if m.op == op.id {
				o.MobileData, o.SeamlessNumber = m.URL(), m.line
			}
		}
		info.Operators = append(info.Operators, o)
	}
	info.DiscoveryURL = info.Nodes[0].DiscoveryURL
	return info
}

// writeInfo writes info to dir/dev.json.
func writeInfo(dir string, info client.DevInfo) (string, error) {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, client.DevInfoFile), writeFile(dir, client.DevInfoFile, append(b, '\n'))
}

// writeFile writes dir/name, readable by its owner only (dev.json and the
// state hold the admin token and the SP's secret), replacing any older file
// whole so that a reader never sees half of it.
func writeFile(dir, name string, data []byte) error {
	path := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
