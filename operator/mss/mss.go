// Package mss is the Mobile Signature Service interface of ETSI TS 102 204
// as an operator's gateway (the application provider, AP) speaks it to a
// Mobile Signature Service Provider (MSSP): the messages (MSS_Signature in
// the synchronous and asynchronous client-server modes, MSS_StatusQuery),
// the standard status codes, and a client.
//
// Transport: the REST/JSON binding that MSSPs offer beside TS 102 204's
// SOAP one (the same abstract messages, each wrapped in an object named
// for it, POSTed to one service URL; a failure is a Fault object with the
// status code as its subcode, as SOAP's fault is). The message types here
// are binding-neutral (their JSON tags are the REST binding's), so a SOAP
// client is another implementation of the small interface the SIM applet
// adaptor needs (simapplet.MSSP), over the same types.
//
// The data to be signed is this project's SIM applet challenge (Challenge:
// the signature profile, the SP's name, the binding message and a
// transaction nonce, as lines of text), and the signature is the SIM key's
// raw signature over it (ECDSA P-256 with SHA-256, or Ed25519), which
// Verify checks against the public key enrolled for the SIM.
package mss

import (
	"errors"
	"fmt"
	"strconv"
)

// Status codes of TS 102 204 (its annex of MSS status codes).
const (
	RequestOK              = 100
	WrongParam             = 101
	MissingParam           = 102
	WrongDataLength        = 103
	UnauthorizedAccess     = 104
	UnknownClient          = 105
	InappropriateData      = 107
	UnsupportedProfile     = 109
	ExpiredTransaction     = 208
	OTAError               = 209
	UserCancel             = 401
	PINNrBlocked           = 402
	CardBlocked            = 403
	NoKeyFound             = 404
	Signature              = 500
	ValidSignature         = 502
	InvalidSignature       = 503
	OutstandingTransaction = 504
	InternalError          = 900
)

var statusMessages = map[int]string{
	RequestOK: "REQUEST_OK", WrongParam: "WRONG_PARAM", MissingParam: "MISSING_PARAM",
	WrongDataLength: "WRONG_DATA_LENGTH", UnauthorizedAccess: "UNAUTHORIZED_ACCESS", UnknownClient: "UNKNOWN_CLIENT",
	InappropriateData: "INAPPROPRIATE_DATA", UnsupportedProfile: "UNSUPPORTED_PROFILE",
	ExpiredTransaction: "EXPIRED_TRANSACTION", OTAError: "OTA_ERROR", UserCancel: "USER_CANCEL",
	PINNrBlocked: "PIN_NR_BLOCKED", CardBlocked: "CARD_BLOCKED", NoKeyFound: "NO_KEY_FOUND",
	Signature: "SIGNATURE", ValidSignature: "VALID_SIGNATURE", InvalidSignature: "INVALID_SIGNATURE",
	OutstandingTransaction: "OUTSTANDING_TRANSACTION", InternalError: "INTERNAL_ERROR",
}

// StatusMessage is a code's name in TS 102 204 ("USER_CANCEL").
func StatusMessage(code int) string {
	if m, ok := statusMessages[code]; ok {
		return m
	}
	return "UNKNOWN_STATUS"
}

// Messaging modes of MSS_Signature.
const (
	// ModeSynch: the MSSP answers when the SIM has (or the time is out).
	ModeSynch = "synch"
	// ModeAsynchClientServer: the MSSP answers 100 REQUEST_OK with its
	// transaction id at once; the AP asks with MSS_StatusQuery.
	ModeAsynchClientServer = "asynchClientServer"
)

// The SIM applet's signature profiles: how the person consents.
const (
	ProfileClickOK = "urn:mcfed:mss:profile:sim-click-ok" // an OK on the phone: LoA 2
	ProfilePIN     = "urn:mcfed:mss:profile:sim-pin"      // the SIM's PIN: LoA 3
)

// APInfo identifies the application provider and its transaction.
type APInfo struct {
	APID      string `json:"AP_ID"`
	APPwd     string `json:"AP_PWD,omitempty"`
	APTransID string `json:"AP_TransID"`
	Instant   string `json:"Instant"` // RFC 3339
}

// MSSPInfo names the MSSP.
type MSSPInfo struct {
	MSSPID MSSPID `json:"MSSP_ID"`
}

type MSSPID struct {
	URI string `json:"URI"`
}

// MobileUser is the subscriber, by number ("+447400111222").
type MobileUser struct {
	MSISDN string `json:"MSISDN"`
}

// Data is DataToBeSigned or DataToBeDisplayed.
type Data struct {
	Data     string `json:"Data"`
	Encoding string `json:"Encoding,omitempty"` // "UTF-8"
	MimeType string `json:"MimeType,omitempty"` // "text/plain"
}

// SignatureReq is MSS_SignatureReq.
type SignatureReq struct {
	APInfo            APInfo     `json:"AP_Info"`
	MSSPInfo          MSSPInfo   `json:"MSSP_Info"`
	MobileUser        MobileUser `json:"MobileUser"`
	DataToBeSigned    Data       `json:"DataToBeSigned"`
	DataToBeDisplayed *Data      `json:"DataToBeDisplayed,omitempty"`
	SignatureProfile  string     `json:"SignatureProfile"`
	MessagingMode     string     `json:"MessagingMode"`
	// TimeOut is how long the MSSP waits for the SIM, in seconds.
	TimeOut string `json:"TimeOut,omitempty"`
}

// StatusReq is MSS_StatusReq: how a transaction stands.
type StatusReq struct {
	APInfo      APInfo   `json:"AP_Info"`
	MSSPInfo    MSSPInfo `json:"MSSP_Info"`
	MSSPTransID string   `json:"MSSP_TransID"`
}

// Status is a response's status.
type Status struct {
	StatusCode    StatusCode `json:"StatusCode"`
	StatusMessage string     `json:"StatusMessage,omitempty"`
}

type StatusCode struct {
	Value string `json:"Value"`
}

// NewStatus is the status of code.
func NewStatus(code int) Status {
	return Status{StatusCode: StatusCode{Value: strconv.Itoa(code)}, StatusMessage: StatusMessage(code)}
}

// Code is the status's code, 0 when it is none.
func (s Status) Code() int {
	c, _ := strconv.Atoi(s.StatusCode.Value)
	return c
}

// Signature is MSS_Signature: the SIM key's signature, base64.
type MSSSignature struct {
	Base64Signature string `json:"Base64Signature"`
}

// SignatureResp is MSS_SignatureResp, and MSS_StatusResp, which has the
// same members.
type SignatureResp struct {
	APInfo           APInfo        `json:"AP_Info"`
	MSSPInfo         MSSPInfo      `json:"MSSP_Info"`
	MSSPTransID      string        `json:"MSSP_TransID"`
	MobileUser       MobileUser    `json:"MobileUser"`
	MSSSignature     *MSSSignature `json:"MSS_Signature,omitempty"`
	SignatureProfile string        `json:"SignatureProfile,omitempty"`
	Status           Status        `json:"Status"`
}

// Fault is the answer to a request that failed, with its status code as
// subcode ("_401") and name as reason, as TS 102 204's SOAP fault.
type Fault struct {
	Code   FaultCode `json:"Code"`
	Reason string    `json:"Reason"`
	Detail string    `json:"Detail,omitempty"`
}

type FaultCode struct {
	Value   string       `json:"Value"` // "env:Sender" or "env:Receiver"
	SubCode FaultSubCode `json:"SubCode"`
}

type FaultSubCode struct {
	Value string `json:"Value"` // "_401"
}

// NewFault is the fault of code: the sender's when the request was wrong
// (1xx), else the receiver's.
func NewFault(code int, detail string) *Fault {
	who := "env:Receiver"
	if code < 200 {
		who = "env:Sender"
	}
	return &Fault{Code: FaultCode{Value: who, SubCode: FaultSubCode{Value: "_" + strconv.Itoa(code)}},
		Reason: StatusMessage(code), Detail: detail}
}

// Request is the REST binding's request body: one of its members.
type Request struct {
	SignatureReq *SignatureReq `json:"MSS_SignatureReq,omitempty"`
	StatusReq    *StatusReq    `json:"MSS_StatusReq,omitempty"`
}

// Response is the REST binding's response body: one of its members.
type Response struct {
	SignatureResp *SignatureResp `json:"MSS_SignatureResp,omitempty"`
	StatusResp    *SignatureResp `json:"MSS_StatusResp,omitempty"`
	Fault         *Fault         `json:"Fault,omitempty"`
}

// Error is a request the MSSP answered with a fault, or a final status
// that is no signature: its code says why (UserCancel, PINNrBlocked,
// ExpiredTransaction, OTAError, InvalidSignature, ...).
type Error struct {
	Code   int
	Detail string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("mss: %d %s: %s", e.Code, StatusMessage(e.Code), e.Detail)
	}
	return fmt.Sprintf("mss: %d %s", e.Code, StatusMessage(e.Code))
}

// CodeOf is err's status code when it is an *Error, else 0.
func CodeOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// ErrUnavailable: the MSSP could not be reached, or did not answer in
// time, or answered what is no TS 102 204 message.
var ErrUnavailable = errors.New("mss: MSSP unavailable")
