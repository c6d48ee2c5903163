package handset_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcfed/mcfed/operator/handset"
	"github.com/mcfed/mcfed/operator/mss"
	"github.com/mcfed/mcfed/operator/mssp"
	"github.com/mcfed/mcfed/operator/ota"
)

// TestSIMPromptOnThePageAndAPI: a command packet from the MSSP puts the
// SIM's prompt (the SP, the binding message, the PIN field) on the
// number's page and JSON API; a wrong PIN through the page's form keeps
// the prompt and says so; the right one through the JSON API signs, and
// the signed answer reaches the MSSP's side sealed with the SIM's OTA key.
func TestSIMPromptOnThePageAndAPI(t *testing.T) {
	h := handset.New(handset.Options{})
	base := serve(t, h)
	card, err := h.AddSIM(msisdn, handset.SIMConfig{PIN: "2468"})
	if err != nil {
		t.Fatal(err)
	}
	var answers [][]byte
	h.ConnectMSSP(func(_ string, p []byte) { answers = append(answers, p) })
	dtbs := mss.Challenge{Profile: mss.ProfilePIN, SPName: "Corner Shop", Message: "Blue bicycle", Nonce: "n1"}.Encode()
	cmd, _ := json.Marshal(mssp.Command{Txn: "M1", DTBS: dtbs})
	if err := h.SendToSIM(msisdn, ota.Seal(card.OTAKey, ota.ToSIM, 1, msisdn, cmd)); err != nil {
		t.Fatal(err)
	}
	page := func() string {
		resp, err := http.Get(base + "/handset/" + msisdn)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if p := page(); !strings.Contains(p, "Corner Shop") || !strings.Contains(p, "Blue bicycle") || !strings.Contains(p, `name="pin"`) {
		t.Fatalf("the page does not show the PIN prompt:\n%s", p)
	}
	resp, err := http.PostForm(base+"/handset/"+msisdn+"/sim/answer", url.Values{"action": {"pin"}, "pin": {"0000"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if p := page(); !strings.Contains(p, "wrong PIN: 2 tries left") {
		t.Fatalf("the page after a wrong PIN:\n%s", p)
	}
	resp, err = http.Post(base+"/handset/"+msisdn+"/sim", "application/json", strings.NewReader(`{"action": "pin", "pin": "2468"}`))
	if err != nil {
		t.Fatal(err)
	}
	var res handset.SIMResult
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if resp.StatusCode != 200 || res.Status != "signed" {
		t.Fatalf("the right PIN: %d %+v", resp.StatusCode, res)
	}
	if len(answers) != 1 {
		t.Fatalf("%d answers reached the MSSP", len(answers))
	}
	_, payload, err := ota.Open(card.OTAKey, ota.FromSIM, 0, msisdn, answers[0])
	var a mssp.Answer
	if err != nil || json.Unmarshal(payload, &a) != nil || a.Status != mssp.AnswerSigned || a.Txn != "M1" {
		t.Fatalf("the SIM's answer: %+v %v", a, err)
	}
	if err := mss.Verify(card.PublicKey, []byte(dtbs), a.Signature); err != nil {
		t.Fatalf("the SIM's signature: %v", err)
	}
	resp, err = http.Get(base + "/handset/" + msisdn + "/sim")
	if err != nil {
		t.Fatal(err)
	}
	var none struct{ Prompt *handset.SIMPrompt }
	json.NewDecoder(resp.Body).Decode(&none)
	resp.Body.Close()
	if none.Prompt != nil {
		t.Fatalf("the prompt stays after the answer: %+v", none.Prompt)
	}
}
