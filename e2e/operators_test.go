package e2e

// demoOperator is an operator of the federations under test, with the demo
// numbering of `mcfed dev` (dev/dev.go): numbers valid for
// phonenumbers, in ranges no real operator gives subscribers in this form.
type demoOperator struct {
	ID, Name, Country, Currency, Network string
	Ranges                               []string
	Number                               string // a subscriber of the operator, in Ranges[0]
	Second                               string // a number in Ranges[1]
	// Spare is a range the operator does not have at the start, with a
	// number in it: what a test adds while the federation is disturbed.
	Spare, SpareNumber string
	// IPRange is the operator's mobile data addresses; IP is one of them.
	IPRange, IP string
	Sender      string // who the operator's SMS come from
}

var (
	ukDemo = demoOperator{ID: "uk-demo", Name: "Demo Mobile UK", Country: "GB", Currency: "GBP", Network: "234_99",
		Ranges: []string{"+447400", "+447401"}, Number: "+447400123456", Second: "+447401123456",
		Spare: "+447402", SpareNumber: "+447402123456", IPRange: "10.1.0.0/16", IP: "10.1.20.30",
		Sender: "DemoUK"}
	deDemo = demoOperator{ID: "de-demo", Name: "Demo Mobil DE", Country: "DE", Currency: "EUR", Network: "262_99",
		Ranges: []string{"+49151", "+49160"}, Number: "+4915112345678", Second: "+4916012345678",
		Spare: "+49152", SpareNumber: "+4915212345678", IPRange: "10.2.0.0/16", IP: "10.2.20.30",
		Sender: "DemoDE"}
	frDemo = demoOperator{ID: "fr-demo", Name: "Démo Mobile FR", Country: "FR", Currency: "EUR", Network: "208_99",
		Ranges: []string{"+33612", "+33613"}, Number: "+33612345678", Second: "+33613345678",
		Spare: "+33614", SpareNumber: "+33614345678", IPRange: "10.3.0.0/16", IP: "10.3.20.30",
		Sender: "DemoFR"}
)

// unservedNumber is a valid UK mobile number in no demo operator's range.
const unservedNumber = "+447911123456"

// provision adds the operator's demo subscriber to the node's own store
// through its provisioning API (admin listener): subscriber data lives on
// its operator's node only.
func (n *node) provision() {
	n.f.t.Helper()
	n.mustAdmin("POST", "/v1/subscribers", map[string]any{"msisdn": n.op.Number, "status": "active",
		"attributes": map[string]any{"given_name": "Ada", "family_name": "Lovelace", "email": n.op.email(),
			"email_verified": true}}, nil)
}

func (op demoOperator) email() string { return "ada@" + op.ID + ".example" }
