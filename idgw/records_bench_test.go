package idgw

import (
	"encoding/json"
	"testing"
	"time"
)

// loginRequest is an authorization request as the load SDKs send one:
// what a login's session and grant records carry.
func loginRequest() *AuthRequest {
	return &AuthRequest{ClientID: "loadgen-sp-3", RedirectURI: "https://sp.example/callback", Scopes: []string{"openid"},
		State: "st-2f8a1c0d9e7b", Nonce: "n-7c1e5a9b3d2f", Version: "mc_v2.0", RequestedVersion: "mc_v2_0", ACR: []int{2},
		LoginHint: "ENCR_MSISDN:0a1b2c3d4e5f60718293a4b5c6d7e8f9", LoginHintKind: HintEncrMSISDN, MSISDN: 447400123456,
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CorrelationID: "corr-5d1b2a",
		ReceivedAt: time.Date(2026, 12, 8, 1, 2, 3, 4, time.UTC)}
}

// BenchmarkGrantRecord encodes and decodes a login's grant record, as
// the code endpoint writes it and the token endpoint reads it.
func BenchmarkGrantRecord(b *testing.B) {
	r := grantRecord{Req: loginRequest(), MSISDN: 447400123456, Subject: subjectRecord{PCR: "", Holder: make([]byte, 32)},
		ACR: 2, AMR: []string{"OTP", "SMS"}, AuthTime: time.Now(), SID: "c2lkLXNpZC1zaWQtc2lkLXNpZC1zaWQtc2lk"}
	enc, _ := json.Marshal(r)
	b.ReportMetric(float64(len(enc)), "bytes")
	b.ReportAllocs()
	for b.Loop() {
		buf, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		var back grantRecord
		if err := json.Unmarshal(buf, &back); err != nil {
			b.Fatal(err)
		}
	}
}
