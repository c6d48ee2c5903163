package handset_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcfed/mcfed/operator/handset"
)

// TestPushedPasskeyLogin: a login pushed to a phone without a passkey is
// refused (404); once the phone holds one, the push shows on the number's
// page and JSON API with the SP and the binding message; confirming signs
// an assertion for the request's challenge and the gateway's origin and
// posts it to the finish URL; "not me" posts to the decline URL instead;
// either way the prompt goes.
func TestPushedPasskeyLogin(t *testing.T) {
	h := handset.New(handset.Options{})
	base := serve(t, h)
	posted := make(chan *http.Request, 2)
	bodies := make(chan []byte, 2)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posted <- r
		bodies <- b
		w.WriteHeader(http.StatusNoContent)
	}))
	defer gw.Close()
	b64 := base64.RawURLEncoding.EncodeToString
	credID := "none-yet" // the phone holds no credential yet
	push := func(id string) *http.Response {
		t.Helper()
		opts := `{"publicKey":{"challenge":"` + b64([]byte("challenge-"+id)) + `","rpId":"localhost","allowCredentials":[{"type":"public-key","id":"` + credID + `"}]}}`
		p := handset.FIDOPush{MSISDN: "+" + msisdn, ID: id, Operator: "Demo Mobil DE", SPName: "Corner Shop", Message: "Order 42",
			Options: json.RawMessage(opts), Origin: "http://localhost:8080", Finish: gw.URL + "/finish?c=" + id,
			Decline: gw.URL + "/decline?c=" + id, Expires: time.Now().Add(time.Minute)}
		b, _ := json.Marshal(p)
		resp, err := http.Post(base+"/handset/push", "application/json", strings.NewReader(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}

	if resp := push("early"); resp.StatusCode != 404 {
		t.Fatalf("a push to a phone without a passkey: %d", resp.StatusCode)
	}
	creation := `{"publicKey":{"challenge":"` + b64([]byte("reg")) + `","rp":{"id":"localhost"},"user":{"id":"` + b64([]byte("handle")) + `"}}}`
	att, err := h.CreatePasskey(msisdn, []byte(creation), "http://localhost:8080")
	if err != nil {
		t.Fatal(err)
	}
	var cred struct{ ID string }
	json.Unmarshal(att, &cred)
	credID = cred.ID

	if resp := push("p1"); resp.StatusCode != 202 {
		t.Fatalf("the push: %d", resp.StatusCode)
	}
	resp, err := http.Get(base + "/handset/" + msisdn)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `id="fido-prompt"`) || !strings.Contains(string(page), "Corner Shop") || !strings.Contains(string(page), "Order 42") {
		t.Fatalf("the page does not show the pushed login:\n%s", page)
	}
	res, err := h.AnswerFIDO(context.Background(), msisdn, handset.FIDOConfirm)
	if err != nil || res.Status != "signed" {
		t.Fatalf("confirming: %+v %v", res, err)
	}
	r, body := <-posted, <-bodies
	if r.URL.Path != "/finish" || r.URL.Query().Get("c") != "p1" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("the assertion went to %s (%s)", r.URL, r.Header.Get("Content-Type"))
	}
	var assertion struct {
		ID       string
		Response struct{ ClientDataJSON string }
	}
	json.Unmarshal(body, &assertion)
	cd, _ := base64.RawURLEncoding.DecodeString(assertion.Response.ClientDataJSON)
	var client struct{ Type, Challenge, Origin string }
	json.Unmarshal(cd, &client)
	if assertion.ID != credID || client.Type != "webauthn.get" || client.Challenge != b64([]byte("challenge-p1")) || client.Origin != "http://localhost:8080" {
		t.Fatalf("the assertion: id %s, client data %+v", assertion.ID, client)
	}
	if _, ok := h.FIDOPrompt(msisdn); ok {
		t.Fatal("the prompt stays after the answer")
	}

	push("p2")
	res, err = h.AnswerFIDO(context.Background(), msisdn, handset.FIDODecline)
	if r := <-posted; err != nil || res.Status != "declined" || r.URL.Path != "/decline" || r.URL.Query().Get("c") != "p2" {
		t.Fatalf("declining: %+v %v, posted to %s", res, err, r.URL)
	}
	<-bodies
	if _, err := h.AnswerFIDO(context.Background(), msisdn, handset.FIDOConfirm); err != handset.ErrNoFIDOPush {
		t.Fatalf("answering with no prompt: %v", err)
	}
}
