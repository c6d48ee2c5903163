package sms

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mcfed/mcfed/idgw"
	"github.com/mcfed/mcfed/operator/state"
)

// The stored forms of the authenticator's records. Another node of the
// operator may read what this one wrote, and a restarted node what it
// wrote before, so each has a JSON form with short names: the wire format
// between the operator's nodes, changed only compatibly (a field may be
// added; none renamed). The page and link records (kindPage, kindLink)
// are the challenge's 16-byte id, raw.

// challengeRecord is one challenge as the node keeps it, beside the state
// the gateway keeps: it makes a success single use and the attempt count
// authoritative even if an older state were handed back, and it is what
// the code page and the link's page show. It holds no code and no token:
// the link's token is there only as its hash.
type challengeRecord struct {
	// Expires is when the code and link expire. The store keeps the
	// record one TTL longer, so that a late tap is told "expired", not
	// "unknown".
	Expires  time.Time `json:"e"`
	Attempts int       `json:"a,omitempty"`
	// OTPPage is where a wrong code sends the person back to ("" when the
	// challenge has no code).
	OTPPage string `json:"o,omitempty"`
	Used    bool   `json:"u,omitempty"` // succeeded once
	Locked  bool   `json:"x,omitempty"` // too many attempts
	// Refusal is why the challenge was refused on the phone (the person
	// said no, or picked the wrong number), for the SP; "" when it was not.
	Refusal string `json:"r,omitempty"`
	// LinkHash is its link's token hash, when the SMS has a link; Tapped
	// that the link was confirmed on the phone (the right number picked).
	LinkHash []byte `json:"h,omitempty"`
	Tapped   bool   `json:"t,omitempty"`
	// Choices are the numbers the phone's page offers (View.Match among
	// them, in a random order fixed at Start, so that reloading the page
	// tells nothing).
	Choices []string   `json:"c,omitempty"`
	View    viewRecord `json:"v"`
}

func (c *challengeRecord) encode() ([]byte, error) { return json.Marshal(c) }

func decodeChallenge(b []byte) (*challengeRecord, error) {
	c := &challengeRecord{}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("sms: stored challenge: %w", err)
	}
	if c.LinkHash != nil && len(c.LinkHash) != 32 {
		return nil, fmt.Errorf("sms: stored challenge's link hash has %d bytes, want 32", len(c.LinkHash))
	}
	return c, nil
}

// linkIs says whether the challenge's link is the one of hash h.
func (c *challengeRecord) linkIs(h [32]byte) bool {
	return len(c.LinkHash) == len(h) && [32]byte(c.LinkHash) == h
}

// over says whether the challenge can no longer be answered at now.
func (c *challengeRecord) over(now time.Time) bool {
	return c.Used || c.Locked || c.Refusal != "" || !now.Before(c.Expires)
}

// view is what the pages of a challenge show the person: the operator's
// look, the SP, the masked number, in the person's language (Start's
// challenge), and where the code page goes on to.
type view struct {
	look   idgw.Look
	sp     string
	number string
	lang   string
	ret    string // the gateway's continue URL
	link   bool   // the SMS has a link: the code page watches for its tap
	// binding is the SP's binding message; match the number the person
	// picks on the phone ("" when the login has no browser page).
	binding string
	match   string
}

type viewRecord struct {
	Look    idgw.Look `json:"l"`
	SP      string    `json:"s,omitempty"`
	Number  string    `json:"n,omitempty"`
	Lang    string    `json:"g,omitempty"`
	Return  string    `json:"ret,omitempty"`
	Link    bool      `json:"k,omitempty"`
	Binding string    `json:"b,omitempty"`
	Match   string    `json:"m,omitempty"`
}

func (v view) record() viewRecord {
	return viewRecord{Look: v.look, SP: v.sp, Number: v.number, Lang: v.lang, Return: v.ret, Link: v.link,
		Binding: v.binding, Match: v.match}
}

func (r viewRecord) view() view {
	return view{look: r.Look, sp: r.SP, number: r.Number, lang: r.Lang, ret: r.Return, link: r.Link,
		binding: r.Binding, match: r.Match}
}

// sendLog is the SMS sent to one MSISDN within the send window: their
// times (Unix nanoseconds), oldest first.
type sendLog struct {
	Times []int64 `json:"t"`
}

func decodeSendLog(b []byte) (sendLog, error) {
	var l sendLog
	if err := json.Unmarshal(b, &l); err != nil {
		return sendLog{}, fmt.Errorf("sms: stored send log: %w", err)
	}
	return l, nil
}

// since drops the sends at or before t.
func (l sendLog) since(t time.Time) sendLog {
	i := 0
	for i < len(l.Times) && l.Times[i] <= t.UnixNano() {
		i++
	}
	return sendLog{Times: l.Times[i:]}
}

// record is l as the store keeps it: until its newest send leaves the
// window, or removed when it holds none.
func (l sendLog) record(window time.Duration) (state.Record, error) {
	if len(l.Times) == 0 {
		return state.Record{}, nil
	}
	b, err := json.Marshal(l)
	if err != nil {
		return state.Record{}, err
	}
	return state.Record{Value: b, Expires: time.Unix(0, l.Times[len(l.Times)-1]).Add(window)}, nil
}
