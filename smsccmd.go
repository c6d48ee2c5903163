package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/mcfed/mcfed/dev"
	"github.com/mcfed/mcfed/federation"
)

// smscFlags are "mcfed smsc"'s: where the simulated SMSC and handset
// listen, and the SMPP credentials the gateways bind with.
type smscFlags struct {
	smppAddr, handsetAddr, systemID, passwordFile, logLevel string
}

func smscFlagSet() (*flag.FlagSet, *smscFlags) {
	fs := flag.NewFlagSet("smsc", flag.ContinueOnError)
	var f smscFlags
	fs.StringVar(&f.smppAddr, "smpp-addr", "127.0.0.1:2775", "host:port the SMSC listens on for SMPP v3.4: the gateways' --smsc-addr")
	fs.StringVar(&f.handsetAddr, "handset-addr", "127.0.0.1:8090", "host:port of the handset's page and JSON API (/handset/<number>/messages)")
	fs.StringVar(&f.systemID, "system-id", "mcfed", "SMPP system_id the gateways bind with (their --smsc-system-id)")
	fs.StringVar(&f.passwordFile, "password-file", "", "file holding the SMPP password the gateways bind with (their --smsc-password-file; at most 8 characters); required")
	fs.StringVar(&f.logLevel, "log-level", "info", "least severe level logged on stderr: debug, info, warn or error")
	return fs, &f
}

func smscHelpFlags() (*flag.FlagSet, []flagGroup) {
	fs, _ := smscFlagSet()
	return fs, []flagGroup{{"Simulated SMSC and handset", []string{"smpp-addr", "handset-addr", "system-id", "password-file", "log-level"}}}
}

// runSMSC runs the simulated SMSC and handset of `mcfed dev` on their own,
// until the context ends: a stand-in for an operator's SMSC, so that a
// federation run from the README ends in a login. Every message it accepts
// goes to the handset's inbox of its number, where a person or a script
// reads it.
func runSMSC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, f := smscFlagSet()
	if _, err := parse(fs, args, false); err != nil {
		return err
	}
	if f.passwordFile == "" {
		return &usageError{[]error{errors.New("--password-file is required: the SMPP password the gateways bind with")}}
	}
	password, warning, err := readSecret(f.passwordFile)
	if err != nil {
		return &usageError{[]error{fmt.Errorf("--password-file %s: %w", f.passwordFile, err)}}
	}
	logger, err := federation.NewLogger(stderr, "text", f.logLevel)
	if err != nil {
		return &usageError{[]error{err}}
	}
	if warning != "" {
		logger.Warn("secret file is readable by others than its owner", "problem", "--password-file "+f.passwordFile+": "+warning)
	}
	p, err := dev.StartPhone(dev.PhoneConfig{SMSCAddr: f.smppAddr, HandsetAddr: f.handsetAddr,
		SystemID: f.systemID, Password: password, Logger: logger})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "simulated SMSC (SMPP v3.4, system_id %s): %s\nsimulated handset: %s\n", f.systemID, p.SMSCAddr(), p.URL())
	<-ctx.Done()
	return p.Close()
}
