package mssp_test

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/mssp"
)

// TestSynchronousAndAsynchronousModes: in the synchronous mode the MSSP
// answers MSS_Signature once the SIM has signed (500 SIGNATURE, a
// signature that verifies with the SIM's key); in the asynchronous one at
// once (100 REQUEST_OK), then MSS_StatusQuery says 504 until the SIM
// answers, then 502 VALID_SIGNATURE. Wrong AP credentials are 104, an
// unknown number 404, an unknown profile 109.
func TestSynchronousAndAsynchronousModes(t *testing.T) {
	hs := handset.New(handset.Options{})
	srv, err := mssp.Listen("127.0.0.1:0", mssp.Config{APID: "ap", APPassword: "pw", Link: hs})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	hs.ConnectMSSP(srv.FromSIM)
	card, _ := hs.AddSIM("+447400111222", handset.SIMConfig{})
	if err := srv.Enrol("+447400111222", card.PublicKey, card.OTAKey); err != nil {
		t.Fatal(err)
	}
	client, _ := mss.NewClient(mss.ClientConfig{URL: srv.URL(), APID: "ap", APPassword: "pw"})
	ctx := context.Background()
	dtbs := mss.Challenge{Profile: mss.ProfileClickOK, SPName: "Shop", Nonce: "n1"}.Encode()
	req := mss.SignatureReq{MobileUser: mss.MobileUser{MSISDN: "+447400111222"}, DataToBeSigned: mss.Data{Data: dtbs},
		SignatureProfile: mss.ProfileClickOK, MessagingMode: mss.ModeSynch, TimeOut: "10"}

	go func() {
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := hs.WaitForSIMPrompt(wctx, "+447400111222"); err == nil {
			hs.AnswerSIM("+447400111222", handset.SIMAnswerOK, "")
		}
	}()
	resp, err := client.Signature(ctx, req)
	if err != nil || resp.Status.Code() != mss.Signature || resp.MSSSignature == nil {
		t.Fatalf("synchronous: %+v %v", resp, err)
	}
	sig, _ := base64.StdEncoding.DecodeString(resp.MSSSignature.Base64Signature)
	if err := mss.Verify(card.PublicKey, []byte(dtbs), sig); err != nil {
		t.Fatalf("the synchronous signature: %v", err)
	}

	req.MessagingMode = mss.ModeAsynchClientServer
	resp, err = client.Signature(ctx, req)
	if err != nil || resp.Status.Code() != mss.RequestOK || resp.MSSPTransID == "" {
		t.Fatalf("asynchronous: %+v %v", resp, err)
	}
	if st, err := client.StatusQuery(ctx, resp.MSSPTransID); err != nil || st.Status.Code() != mss.OutstandingTransaction {
		t.Fatalf("before the answer: %+v %v", st, err)
	}
	if _, err := hs.AnswerSIM("+447400111222", handset.SIMAnswerOK, ""); err != nil {
		t.Fatal(err)
	}
	if st, err := client.StatusQuery(ctx, resp.MSSPTransID); err != nil || st.Status.Code() != mss.ValidSignature || st.MSSSignature == nil {
		t.Fatalf("after the answer: %+v %v", st, err)
	}

	bad, _ := mss.NewClient(mss.ClientConfig{URL: srv.URL(), APID: "ap", APPassword: "wrong"})
	if _, err := bad.Signature(ctx, req); mss.CodeOf(err) != mss.UnauthorizedAccess {
		t.Fatalf("wrong AP password: %v", err)
	}
	unknown := req
	unknown.MobileUser.MSISDN = "+447400111333"
	if _, err := client.Signature(ctx, unknown); mss.CodeOf(err) != mss.NoKeyFound {
		t.Fatalf("a number without a SIM: %v", err)
	}
	profile := req
	profile.SignatureProfile = "urn:other"
	var e *mss.Error
	if _, err := client.Signature(ctx, profile); !errors.As(err, &e) || e.Code != mss.UnsupportedProfile {
		t.Fatalf("an unknown profile: %v", err)
	}
}
