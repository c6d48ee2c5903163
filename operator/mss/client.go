package mss

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ClientConfig is how an AP reaches its MSSP over the REST binding.
type ClientConfig struct {
	// URL is the MSSP's REST service URL (http or https).
	URL string
	// APID and APPassword identify the operator's gateway to the MSSP.
	APID, APPassword string
	// MSSPID is the MSSP's URI, sent in MSSP_Info.
	MSSPID string
	// Timeout bounds each call (default 5 s): an MSSP that does not
	// answer in it is unavailable, and the gateway falls back.
	Timeout time.Duration
	// HTTPClient is the transport (default: one with Timeout).
	HTTPClient *http.Client
	// Now is the clock of the Instant (tests); default time.Now.
	Now func() time.Time
}

// DefaultTimeout bounds an MSSP call.
const DefaultTimeout = 5 * time.Second

// maxResponse bounds what is read of an MSSP's answer.
const maxResponse = 64 << 10

// Client speaks TS 102 204 to an MSSP over the REST/JSON binding. It is
// safe for concurrent use.
type Client struct {
	cfg  ClientConfig
	http *http.Client
}

// NewClient checks cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mss: MSSP URL %q: want http(s)://host/path", cfg.URL)
	}
	if cfg.APID == "" {
		return nil, errors.New("mss: an AP_ID is required")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, http: cfg.HTTPClient}
	if c.http == nil {
		c.http = &http.Client{Timeout: cfg.Timeout}
	}
	return c, nil
}

// NewTransID draws an AP_TransID (TS 102 204 wants an NCName: a letter
// first).
func NewTransID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return "A" + hex.EncodeToString(b)
}

func (c *Client) apInfo(transID string) APInfo {
	return APInfo{APID: c.cfg.APID, APPwd: c.cfg.APPassword, APTransID: transID,
		Instant: c.cfg.Now().UTC().Format(time.RFC3339)}
}

// Signature sends MSS_SignatureReq (its AP_Info and MSSP_Info filled
// here; AP_TransID kept when set). In the asynchronous mode the answer is
// 100 REQUEST_OK with the MSSP_TransID; in the synchronous one, the
// signature. A fault is an *Error; no answer in time, ErrUnavailable.
func (c *Client) Signature(ctx context.Context, req SignatureReq) (SignatureResp, error) {
	trans := req.APInfo.APTransID
	if trans == "" {
		trans = NewTransID()
	}
	req.APInfo, req.MSSPInfo = c.apInfo(trans), MSSPInfo{MSSPID{c.cfg.MSSPID}}
	if req.MessagingMode == ModeSynch {
		// The MSSP holds the answer until the SIM has answered.
		if s, err := timeOutOf(req.TimeOut); err == nil && s > 0 {
			ctx2, cancel := context.WithTimeout(ctx, s+c.cfg.Timeout)
			defer cancel()
			ctx = ctx2
		}
	}
	resp, err := c.do(ctx, Request{SignatureReq: &req}, req.MessagingMode == ModeSynch)
	if err != nil {
		return SignatureResp{}, err
	}
	if resp.SignatureResp == nil {
		return SignatureResp{}, fmt.Errorf("%w: the answer holds no MSS_SignatureResp", ErrUnavailable)
	}
	return *resp.SignatureResp, nil
}

// StatusQuery sends MSS_StatusReq for the MSSP's transaction: 504
// OUTSTANDING_TRANSACTION while the SIM has not answered, then the
// signature (500, 502), or an *Error with why there is none.
func (c *Client) StatusQuery(ctx context.Context, msspTransID string) (SignatureResp, error) {
	req := StatusReq{APInfo: c.apInfo(NewTransID()), MSSPInfo: MSSPInfo{MSSPID{c.cfg.MSSPID}}, MSSPTransID: msspTransID}
	resp, err := c.do(ctx, Request{StatusReq: &req}, false)
	if err != nil {
		return SignatureResp{}, err
	}
	if resp.StatusResp == nil {
		return SignatureResp{}, fmt.Errorf("%w: the answer holds no MSS_StatusResp", ErrUnavailable)
	}
	return *resp.StatusResp, nil
}

func timeOutOf(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
		return 0, err
	}
	return time.Duration(n) * time.Second, nil
}

// do POSTs one request; long says the answer may take the SIM's time (the
// synchronous mode), past the client's timeout.
func (c *Client) do(ctx context.Context, body Request, long bool) (Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return Response{}, err
	}
	if !long {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.Timeout)
		defer cancel()
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.URL, bytes.NewReader(b))
	if err != nil {
		return Response{}, err
	}
	hreq.Header.Set("Content-Type", "application/json;charset=UTF-8")
	hreq.Header.Set("Accept", "application/json")
	client := c.http
	if long {
		client = &http.Client{Transport: c.http.Transport} // the context bounds it
	}
	hresp, err := client.Do(hreq)
	if err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer hresp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponse))
	if err != nil {
		return Response{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var resp Response
	if err := json.Unmarshal(raw, &resp); err != nil || !strings.Contains(hresp.Header.Get("Content-Type"), "json") {
		return Response{}, fmt.Errorf("%w: HTTP %d, not a TS 102 204 JSON answer", ErrUnavailable, hresp.StatusCode)
	}
	if resp.Fault != nil {
		code := 0
		fmt.Sscanf(strings.TrimPrefix(resp.Fault.Code.SubCode.Value, "_"), "%d", &code)
		if code == 0 {
			code = InternalError
		}
		return Response{}, &Error{Code: code, Detail: resp.Fault.Detail}
	}
	return resp, nil
}
