package datagateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultHTTPTimeout bounds a CRM lookup when HTTPSource.Timeout is zero.
const DefaultHTTPTimeout = 5 * time.Second

// maxCRMBody bounds what is read of a CRM answer.
const maxCRMBody = 1 << 20

// HTTPSource reads attributes from an operator's CRM over HTTP: a GET of
// URLTemplate with the subscriber's number put in, answered with a JSON
// object.
//
// URLTemplate placeholders: {msisdn} becomes the number's digits
// (447400123456), {e164} the number with its plus, escaped (%2B447400123456).
// One of them must appear.
//
// The answer may be a flat object in the names of Record's JSON form
// (given_name, family_name, email, email_verified, phone_number, birthdate,
// address{street_address, locality, region, postal_code, country, formatted},
// national_identifier, sim_swap_at, last_port_at, ...), or shaped like the
// provisioning API's subscriber ({"status":…, "attributes":{…},
// "sim_swap_at":…}), so that another mcfed node's admin API can serve as a
// CRM. The flat premiuminfo address fields (street_address, city, state,
// postal_code, country) are read when there is no address object. Times are
// RFC 3339; email_verified may be a boolean or "true"/"false". A status of
// "suspended" is ErrSuspended, "deleted" ErrNotFound. Unknown fields are
// ignored. Without a phone_number, the MSISDN is the phone number.
//
// 404 and 410 are ErrNotFound; any other failure (transport, timeout, a
// status other than 2xx, a body that is not such a JSON object) is an error
// wrapping the cause, for the gateway to answer 503. Errors name the CRM's
// host, never the number.
type HTTPSource struct {
	URLTemplate string
	// Timeout bounds each lookup; DefaultHTTPTimeout when zero.
	Timeout time.Duration
	// Client makes the requests; http.DefaultClient when nil.
	Client *http.Client
	// Header is added to each request (an Authorization header, an API
	// key).
	Header map[string]string
}

// NewHTTPSource checks urlTemplate (an http or https URL with a {msisdn} or
// {e164} placeholder) and returns a source with the default client.
func NewHTTPSource(urlTemplate string, timeout time.Duration) (*HTTPSource, error) {
	s := &HTTPSource{URLTemplate: urlTemplate, Timeout: timeout}
	if _, err := s.url(1); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *HTTPSource) url(msisdn uint64) (*url.URL, error) {
	t := s.URLTemplate
	if !strings.Contains(t, "{msisdn}") && !strings.Contains(t, "{e164}") {
		return nil, errors.New("datagateway: CRM URL template has no {msisdn} or {e164} placeholder")
	}
	digits := strconv.FormatUint(msisdn, 10)
	raw := strings.NewReplacer("{msisdn}", digits, "{e164}", "%2B"+digits).Replace(t)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("datagateway: CRM URL template is not an http(s) URL")
	}
	return u, nil
}

// Attributes looks the subscriber up in the CRM.
func (s *HTTPSource) Attributes(ctx context.Context, msisdn uint64) (Record, error) {
	u, err := s.url(msisdn)
	if err != nil {
		return Record{}, err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Record{}, fmt.Errorf("datagateway: CRM %s: %w", u.Host, err)
	}
	req.Header.Set("Accept", "application/json")
	for k, v := range s.Header {
		req.Header.Set(k, v)
	}
	client := s.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The *url.Error repeats the URL, and with it the number: keep only
		// its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Record{}, fmt.Errorf("datagateway: CRM %s: %w", u.Host, err)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
		resp.Body.Close()
	}()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return Record{}, fmt.Errorf("CRM %s: %w", u.Host, ErrNotFound)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return Record{}, fmt.Errorf("datagateway: CRM %s: unexpected status %d", u.Host, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCRMBody+1))
	if err != nil {
		return Record{}, fmt.Errorf("datagateway: CRM %s: reading answer: %w", u.Host, err)
	}
	if len(body) > maxCRMBody {
		return Record{}, fmt.Errorf("datagateway: CRM %s: answer larger than %d bytes", u.Host, maxCRMBody)
	}
	r, err := decodeCRM(body)
	if err != nil {
		return Record{}, fmt.Errorf("datagateway: CRM %s: %w", u.Host, err)
	}
	if r.PhoneNumber == "" {
		r.PhoneNumber = "+" + strconv.FormatUint(msisdn, 10)
	}
	return r, nil
}

// crmAttrs are the attribute fields a CRM answer may carry, at its top
// level or under "attributes".
type crmAttrs struct {
	Title                string   `json:"title"`
	GivenName            string   `json:"given_name"`
	MiddleName           string   `json:"middle_name"`
	FamilyName           string   `json:"family_name"`
	Email                string   `json:"email"`
	EmailVerified        flexBool `json:"email_verified"`
	PhoneNumber          string   `json:"phone_number"`
	PhoneNumberAlternate string   `json:"phone_number_alternate"`
	Birthdate            string   `json:"birthdate"`
	Address              *Address `json:"address"`
	NationalIdentifier   string   `json:"national_identifier"`
	// The flat premiuminfo spelling of the address.
	StreetAddress string `json:"street_address"`
	City          string `json:"city"`
	State         string `json:"state"`
	PostalCode    string `json:"postal_code"`
	Country       string `json:"country"`
}

type crmDoc struct {
	crmAttrs
	Status     string     `json:"status"`
	Attributes *crmAttrs  `json:"attributes"`
	SIMSwapAt  *time.Time `json:"sim_swap_at"`
	LastPortAt *time.Time `json:"last_port_at"`
}

// flexBool reads a JSON boolean or the strings "true" and "false".
type flexBool bool

func (b *flexBool) UnmarshalJSON(d []byte) error {
	switch strings.ToLower(string(bytes.Trim(d, `"`))) {
	case "true":
		*b = true
	case "false", "null", "":
		*b = false
	default:
		return fmt.Errorf("email_verified: %s is not a boolean", d)
	}
	return nil
}

func decodeCRM(body []byte) (Record, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return Record{}, errors.New("answer is not a JSON object")
	}
	var d crmDoc
	if err := json.Unmarshal(body, &d); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Record{}, fmt.Errorf("answer's %s is not a JSON %s", te.Field, te.Type)
		}
		return Record{}, fmt.Errorf("answer is not a subscriber record: %w", err)
	}
	switch strings.ToLower(d.Status) {
	case "", "active":
	case "suspended":
		return Record{}, ErrSuspended
	case "deleted":
		return Record{}, ErrNotFound
	default:
		return Record{}, fmt.Errorf("answer has an unknown status %q", d.Status)
	}
	a := d.crmAttrs
	if d.Attributes != nil {
		a = *d.Attributes
	}
	r := Record{
		Title:                a.Title,
		GivenName:            a.GivenName,
		MiddleName:           a.MiddleName,
		FamilyName:           a.FamilyName,
		Email:                a.Email,
		EmailVerified:        bool(a.EmailVerified),
		PhoneNumber:          a.PhoneNumber,
		PhoneNumberAlternate: a.PhoneNumberAlternate,
		Birthdate:            a.Birthdate,
		NationalIdentifier:   a.NationalIdentifier,
	}
	if a.Address != nil {
		r.Address = *a.Address
	} else {
		r.Address = Address{StreetAddress: a.StreetAddress, Locality: a.City, Region: a.State,
			PostalCode: a.PostalCode, Country: a.Country}
	}
	if d.SIMSwapAt != nil {
		r.SIMSwapAt = d.SIMSwapAt.UTC()
	}
	if d.LastPortAt != nil {
		r.LastPortAt = d.LastPortAt.UTC()
	}
	return r, nil
}
