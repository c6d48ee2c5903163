package idgw

import (
	"fmt"
	"time"
)

// bcRecord is a bcLogin as the state store holds it (records.go: the
// rules of the stored forms). The authenticators are named and found
// again in this node's router; the SP is looked up again in the registry.
type bcRecord struct {
	ID          string        `json:"id"`
	Req         *AuthRequest  `json:"r"`
	Mode        bcMode        `json:"o"`
	MSISDN      uint64        `json:"m"`
	Subject     subjectRecord `json:"u"`
	Candidates  []string      `json:"c"`
	Current     int           `json:"i"`
	State       []byte        `json:"s,omitempty"`
	Decoy       bool          `json:"d,omitempty"`
	Expires     time.Time     `json:"e"`
	Interval    time.Duration `json:"iv"`
	LastPoll    time.Time     `json:"lp,omitzero"`
	NotifyURI   string        `json:"nu,omitempty"`
	NotifyToken string        `json:"nt,omitempty"`
	Status      bcStatus      `json:"st"`
	ErrCode     ErrorCode     `json:"ec,omitempty"`
	ErrDesc     string        `json:"ed,omitempty"`
	ACR         int           `json:"a,omitempty"`
	AMR         []string      `json:"x,omitempty"`
	AuthTime    time.Time     `json:"t,omitzero"`
	Attempts    int           `json:"n,omitempty"`
	NextNotify  time.Time     `json:"nn,omitzero"`
	Notified    bool          `json:"nd,omitempty"`
	Lease       time.Time     `json:"l,omitzero"`
	Holder      string        `json:"h,omitempty"`
}

func (b *bcLogin) record() bcRecord {
	names := make([]string, len(b.candidates))
	for i, c := range b.candidates {
		names[i] = c.Name
	}
	return bcRecord{ID: b.id, Req: b.req, Mode: b.mode, MSISDN: b.msisdn, Subject: b.subject.record(), Candidates: names,
		Current: b.current, State: b.state, Decoy: b.decoy, Expires: b.expires, Interval: b.interval, LastPoll: b.lastPoll,
		NotifyURI: b.notifyURI, NotifyToken: b.notifyToken, Status: b.status, ErrCode: b.errCode, ErrDesc: b.errDesc,
		ACR: b.acr, AMR: b.amr, AuthTime: b.authTime, Attempts: b.attempts, NextNotify: b.nextNotify, Notified: b.notified,
		Lease: b.lease, Holder: b.holder}
}

func (r bcRecord) login(router *Router, reg Registry) (*bcLogin, error) {
	if err := restoreClient(r.Req, reg); err != nil {
		return nil, err
	}
	b := &bcLogin{id: r.ID, req: r.Req, mode: r.Mode, msisdn: r.MSISDN, current: r.Current, state: r.State, decoy: r.Decoy,
		expires: r.Expires, interval: r.Interval, lastPoll: r.LastPoll, notifyURI: r.NotifyURI, notifyToken: r.NotifyToken,
		status: r.Status, errCode: r.ErrCode, errDesc: r.ErrDesc, acr: r.ACR, amr: r.AMR, authTime: r.AuthTime,
		attempts: r.Attempts, nextNotify: r.NextNotify, notified: r.Notified, lease: r.Lease, holder: r.Holder}
	var err error
	if b.subject, err = r.Subject.subject(); err != nil {
		return nil, err
	}
	for _, name := range r.Candidates {
		a, ok := router.byName(name)
		if !ok {
			return nil, fmt.Errorf("idgw: stored backchannel login names authenticator %q, which this node does not run", name)
		}
		b.candidates = append(b.candidates, a)
	}
	if b.current > len(b.candidates) {
		return nil, fmt.Errorf("idgw: stored backchannel login's authenticator %d is out of range", b.current)
	}
	return b, nil
}

func bcCodec(gw *Gateway) codec[*bcLogin] {
	return jsonCodec(func(b *bcLogin) bcRecord { return b.record() },
		func(r bcRecord) (*bcLogin, error) { return r.login(gw.cfg.Router, gw.cfg.Registry) })
}
