package federation

import (
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/smpp"
	"github.com/mcfed/mcfed/operator/sms"
)

// authenticatorType builds one kind of authenticator from the node's
// configuration and mounts its pages; ok is false when the node is not
// configured for it.
type authenticatorType struct {
	name  string
	build func(n *Node, app fiber.Router) (reg idgw.Registration, ok bool, err error)
}

// authenticatorTypes is the one place that knows the authenticator types,
// in the operator's order of preference; the gateway sees only
// idgw.Authenticator. A new authenticator is a row here.
func authenticatorTypes() []authenticatorType {
	return []authenticatorType{
		{"sms", (*Node).smsAuthenticator},
	}
}

// authenticators builds every authenticator the node is configured for.
func (n *Node) authenticators(app fiber.Router) ([]idgw.Registration, error) {
	var regs []idgw.Registration
	for _, t := range authenticatorTypes() {
		reg, ok, err := t.build(n, app)
		if err != nil {
			return nil, fmt.Errorf("%s authenticator: %w", t.name, err)
		}
		if ok {
			regs = append(regs, reg)
		}
	}
	return regs, nil
}

// smsAuthenticator is SMS (code or link, whichever the person uses) over
// the operator's SMSC.
func (n *Node) smsAuthenticator(app fiber.Router) (idgw.Registration, bool, error) {
	if n.cfg.SMSC == nil {
		return idgw.Registration{}, false, nil
	}
	client, err := smpp.New(*n.cfg.SMSC) // connects, and reconnects, in the background
	if err != nil {
		return idgw.Registration{}, false, fmt.Errorf("SMSC: %w", err)
	}
	n.smsc = client
	a, err := sms.New(sms.Config{Mode: sms.Mode(n.cfg.SMSMode), PublicURL: n.PublicURL(), OperatorName: n.cfg.OperatorID,
		Store: n.state}, client)
	if err != nil {
		return idgw.Registration{}, false, err
	}
	a.Mount(app)
	return idgw.Registration{Info: a.Info(), Impl: a}, true, nil
}
