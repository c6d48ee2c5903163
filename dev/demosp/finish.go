package demosp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcfed/mcfed/internal/jose"
)

// spOutcome is what the result page shows.
type spOutcome struct {
	Operator, Issuer, Alg, Kid string
	Product                    product
	ACR                        string
	Claims, UserInfo           []spClaim
	PremiumInfo                []spClaim // read when the product's answers are there
	IDToken                    string    // compact, as received
	Header                     string    // the ID token's JOSE header, JSON
}

type spClaim struct{ Name, Value string }

// finish exchanges the code and checks the ID token as an OIDC relying
// party must (Core §3.1.3.7): signature by a key of the issuer's JWKS, iss,
// aud, azp, exp and nonce.
func (s *SP) finish(ctx context.Context, l *spLogin, code string) (spOutcome, *failure) {
	const title = "The login could not be completed"
	if code == "" {
		return spOutcome{}, upstream(title, "the operator's callback has neither code nor error")
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {s.CallbackURL()},
		"code_verifier": {l.verifier}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.op.Token, strings.NewReader(form.Encode()))
	if err != nil {
		return spOutcome{}, upstream(title, "%v", err)
	}
	// As the SDKs send it: the generated credentials need no form-encoding.
	req.SetBasicAuth(l.op.ClientID, l.op.Secret)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	status, err := s.doJSON(req, &tok)
	switch {
	case err != nil:
		return spOutcome{}, upstream(title, "token endpoint: %v", err)
	case status != http.StatusOK || tok.IDToken == "" || tok.AccessToken == "":
		return spOutcome{}, upstream(title, "token endpoint answered %d: %s %s", status, tok.Error, tok.Description)
	}

	jwks, err := s.get(ctx, l.op.JWKS, "")
	if err != nil {
		return spOutcome{}, upstream(title, "the operator's JWKS: %v", err)
	}
	payload, hdr, err := jose.VerifyJWKS(tok.IDToken, jwks, jose.RS256)
	if err != nil {
		return spOutcome{}, upstream(title, "the ID token does not verify: %v", err)
	}
	claims, err := checkIDToken(payload, l, time.Now())
	if err != nil {
		return spOutcome{}, upstream(title, "the ID token is not for this login: %v", err)
	}

	info, err := s.get(ctx, l.op.UserInfo, tok.AccessToken)
	if err != nil {
		return spOutcome{}, upstream(title, "userinfo: %v", err)
	}
	userinfo, err := claimRows(info)
	if err != nil {
		return spOutcome{}, upstream(title, "userinfo: %v", err)
	}
	out := spOutcome{Operator: l.op.Name, Issuer: l.op.Issuer, Alg: string(hdr.Alg), Kid: hdr.Kid,
		Product: l.choices.Product, ACR: l.choices.ACR, Claims: claims, UserInfo: userinfo, IDToken: tok.IDToken}
	if h, _, ok := strings.Cut(tok.IDToken, "."); ok {
		if b, err := base64.RawURLEncoding.DecodeString(h); err == nil {
			out.Header = string(b)
		}
	}
	if l.choices.Product.Premium {
		if l.op.PremiumInfo == "" {
			return spOutcome{}, upstream(title, "discovery gave no premiuminfo endpoint")
		}
		info, err := s.get(ctx, l.op.PremiumInfo, tok.AccessToken)
		if err != nil {
			return spOutcome{}, upstream(title, "premiuminfo: %v", err)
		}
		if out.PremiumInfo, err = claimRows(info); err != nil {
			return spOutcome{}, upstream(title, "premiuminfo: %v", err)
		}
	}
	return out, nil
}

// checkIDToken checks the claims of a verified ID token and returns them
// as rows for the page.
func checkIDToken(payload []byte, l *spLogin, now time.Time) ([]spClaim, error) {
	var c struct {
		Iss   string          `json:"iss"`
		Aud   json.RawMessage `json:"aud"`
		Azp   string          `json:"azp"`
		Exp   int64           `json:"exp"`
		Nonce string          `json:"nonce"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, err
	}
	var aud []string
	if err := json.Unmarshal(c.Aud, &aud); err != nil {
		var one string
		if json.Unmarshal(c.Aud, &one) != nil {
			return nil, errors.New("aud is neither a string nor an array")
		}
		aud = []string{one}
	}
	switch {
	case c.Iss != l.op.Issuer:
		return nil, fmt.Errorf("iss %q is not the operator's issuer %q", c.Iss, l.op.Issuer)
	case !slices.Contains(aud, l.op.ClientID):
		return nil, fmt.Errorf("aud %v does not name the SP", aud)
	case c.Azp != "" && c.Azp != l.op.ClientID:
		return nil, fmt.Errorf("azp %q is another client", c.Azp)
	case now.Unix() >= c.Exp:
		return nil, errors.New("it has expired")
	case c.Nonce != l.nonce:
		return nil, errors.New("the nonce differs from the one this login sent")
	}
	return claimRows(payload)
}

// get fetches a JSON document (with a bearer token when given).
func (s *SP) get(ctx context.Context, u, bearer string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %d %s", u, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	return b, nil
}

// claimRows lists a JSON object's members in name order; times (exp, iat,
// auth_time) also read as dates.
func claimRows(obj []byte) ([]spClaim, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, err
	}
	rows := make([]spClaim, 0, len(m))
	for name, raw := range m {
		v := string(raw)
		var str string
		var num int64
		switch {
		case json.Unmarshal(raw, &str) == nil:
			v = str
		case (name == "exp" || name == "iat" || name == "auth_time") && json.Unmarshal(raw, &num) == nil:
			v = fmt.Sprintf("%d (%s)", num, time.Unix(num, 0).UTC().Format(time.RFC3339))
		}
		rows = append(rows, spClaim{Name: name, Value: v})
	}
	slices.SortFunc(rows, func(a, b spClaim) int { return strings.Compare(a.Name, b.Name) })
	return rows, nil
}
