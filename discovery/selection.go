package discovery

import (
	"bytes"
	_ "embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/nyaruka/phonenumbers"

	"github.com/mcfed/mcfed/internal/e164"
	"github.com/mcfed/mcfed/registry"
)

// The operator-selection page: where a person whose operator discovery could
// not tell picks their country, then their operator, or types their number.
// It is plain server-rendered HTML with inline styles and no script, so it
// works on any phone browser and loads nothing from anywhere else. It ends
// with 302 Redirect_URL?mcc_mnc=MCC_MNC[&subscriber_id=...], which the SDKs
// turn into a discovery call with Selected-MCC/MNC.

//go:embed selection.html
var selectionHTML string

var selectionTemplate = template.Must(template.New("selection").Parse(selectionHTML))

type selectionPage struct {
	Expired        bool
	Error          string
	SPName         string
	Action         string // where the forms post
	Session        string
	Countries      []countryChoice
	Country        *countryChoice // the country whose operators are listed
	OtherCountries string         // link back to the country list, when there are several
	Operators      []operatorChoice
	Number         string // what the person typed, shown again on an error
}

type countryChoice struct {
	Code, Flag, Dial, Link string
}

type operatorChoice struct {
	ID, Name string
}

// selectionContext is a checked session and the SP it belongs to.
type selectionContext struct {
	id   string
	sess session
	sp   *registry.ServiceProvider
}

var errSelectionGone = errors.New("this sign-in can no longer be completed: the service's registration has changed")

// openSelection checks a session_id and that its SP may still use it: the
// SP may have been suspended, or the Redirect_URL removed, since discovery.
func (s *Service) openSelection(id string) (*selectionContext, error) {
	sess, err := s.sessions.open(id, s.now())
	if err != nil {
		return nil, err
	}
	sp := s.reg.ServiceProvider(sess.clientID)
	if sp == nil || sp.Status != registry.StatusActive || !registeredRedirect(sp, []byte(sess.redirectURL)) {
		return nil, errSelectionGone
	}
	return &selectionContext{id: strings.Clone(id), sess: sess, sp: sp}, nil
}

// handleSelectionPage serves GET .../operator-selection?session_id=...[&country=CC].
func (s *Service) handleSelectionPage(c *fiber.Ctx) error {
	sc, err := s.openSelection(c.Query("session_id"))
	if err != nil {
		return s.renderExpired(c, err)
	}
	return s.renderSelection(c, http.StatusOK, sc, c.Query("country"), "", "")
}

// handleSelectionChoice serves the page's forms: an operator picked, or a
// number typed.
func (s *Service) handleSelectionChoice(c *fiber.Ctx) error {
	sc, err := s.openSelection(c.FormValue("session_id"))
	if err != nil {
		return s.renderExpired(c, err)
	}
	country := c.FormValue("country")
	if typed := strings.TrimSpace(c.FormValue("msisdn")); typed != "" {
		return s.chooseByNumber(c, sc, country, typed)
	}
	op := s.reg.Operator(c.FormValue("operator"))
	if !s.routable(op, sc.sp) || len(op.Networks) == 0 {
		return s.renderSelection(c, http.StatusBadRequest, sc, country, "", "Please choose one of the operators listed.")
	}
	return s.finishSelection(c, sc, op, "")
}

// chooseByNumber resolves a typed number, international or (once a country
// is chosen) national, and seals it for the operator, as discovery would.
func (s *Service) chooseByNumber(c *fiber.Ctx, sc *selectionContext, country, typed string) error {
	n, err := parseTypedNumber(typed, country)
	if err != nil {
		msg := "That is not a valid mobile number. Type it with its country code, for example +44 7911 123456."
		var ne *e164.Error
		if errors.As(err, &ne) {
			msg = "That is not a valid mobile number (" + ne.Reason + "). Type it with its country code, for example +44 7911 123456."
		}
		return s.renderSelection(c, http.StatusBadRequest, sc, country, typed, msg)
	}
	res, ok := s.reg.Resolve(n)
	if !ok || !s.routable(res.Operator, sc.sp) || len(res.Operator.Networks) == 0 {
		return s.renderSelection(c, http.StatusNotFound, sc, country, typed,
			"No operator offering this service serves that number.")
	}
	op := res.Operator
	sub := ""
	if pub, err := s.keys.get(op); err == nil {
		if sub, err = Seal(pub, n); err != nil {
			return s.renderSelection(c, http.StatusInternalServerError, sc, country, typed,
				"Something went wrong on our side. Please try again.")
		}
	}
	return s.finishSelection(c, sc, op, sub)
}

// parseTypedNumber reads what a person typed: an international number, or,
// when a country was chosen, a national one ("07911 123456" in GB).
func parseTypedNumber(typed, country string) (uint64, error) {
	n, err := e164.Parse(typed)
	if err == nil || country == "" {
		return n, err
	}
	if cc := phonenumbers.GetCountryCodeForRegion(country); cc != 0 {
		if n2, err2 := e164.Parse("+" + strconv.Itoa(cc) + " " + typed); err2 == nil {
			return n2, nil
		}
	}
	return 0, err
}

// finishSelection sends the person back to the SP with the operator's first
// network, and the sealed number when one was typed.
func (s *Service) finishSelection(c *fiber.Ctx, sc *selectionContext, op *registry.Operator, subscriberID string) error {
	params := []string{"mcc_mnc", url.QueryEscape(op.Networks[0])}
	if subscriberID != "" {
		params = append(params, "subscriber_id", subscriberID)
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Redirect(joinURL(sc.sess.redirectURL, params...), http.StatusFound)
}

// selectable lists the operators a person may pick for sp: active, accepting
// the SP, with a network to name in mcc_mnc; by country, then name.
func (s *Service) selectable(sp *registry.ServiceProvider) []*registry.Operator {
	var ops []*registry.Operator
	after := ""
	for {
		page := s.reg.Operators(after, 500)
		for _, op := range page.Items {
			if s.routable(op, sp) && len(op.Networks) > 0 {
				ops = append(ops, op)
			}
		}
		if page.Next == "" || len(page.Items) == 0 {
			break
		}
		after = page.Next
	}
	slices.SortFunc(ops, func(a, b *registry.Operator) int {
		if c := strings.Compare(a.Country, b.Country); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return ops
}

func (s *Service) renderSelection(c *fiber.Ctx, status int, sc *selectionContext, country, typed, msg string) error {
	page := selectionPage{
		Error:   msg,
		SPName:  sc.sp.Name,
		Action:  s.selectionURL,
		Session: sc.id,
		Number:  typed,
	}
	link := s.selectionURL + "?session_id=" + url.QueryEscape(sc.id)
	ops := s.selectable(sc.sp)
	for _, op := range ops {
		if n := len(page.Countries); n == 0 || page.Countries[n-1].Code != op.Country {
			ch := countryChoice{Code: op.Country, Flag: flag(op.Country), Link: link + "&country=" + url.QueryEscape(op.Country)}
			if cc := phonenumbers.GetCountryCodeForRegion(op.Country); cc != 0 {
				ch.Dial = "+" + strconv.Itoa(cc)
			}
			page.Countries = append(page.Countries, ch)
		}
	}
	if len(page.Countries) == 1 {
		country = page.Countries[0].Code
	} else if len(page.Countries) > 1 {
		page.OtherCountries = link
	}
	for i := range page.Countries {
		if page.Countries[i].Code == country {
			page.Country = &page.Countries[i]
		}
	}
	if page.Country != nil {
		for _, op := range ops {
			if op.Country == page.Country.Code {
				page.Operators = append(page.Operators, operatorChoice{ID: op.ID, Name: op.Name})
			}
		}
	}
	return renderPage(c, status, &page)
}

func (s *Service) renderExpired(c *fiber.Ctx, err error) error {
	return renderPage(c, http.StatusBadRequest, &selectionPage{Expired: true, Error: capitalize(err.Error()) + "."})
}

func renderPage(c *fiber.Ctx, status int, page *selectionPage) error {
	var b bytes.Buffer
	if err := selectionTemplate.Execute(&b, page); err != nil {
		return fiber.NewError(http.StatusInternalServerError, "render the operator-selection page")
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	c.Set(fiber.HeaderCacheControl, "no-store")
	// Nothing from elsewhere, no script, no framing; no Referer, since the
	// page's URL carries the session.
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	return c.Send(b.Bytes())
}

// flag returns the emoji flag of an ISO 3166-1 alpha-2 code (two regional
// indicator symbols): a picture with no image to load.
func flag(code string) string {
	if len(code) != 2 || code[0] < 'A' || code[0] > 'Z' || code[1] < 'A' || code[1] > 'Z' {
		return ""
	}
	return string([]rune{0x1F1E6 + rune(code[0]-'A'), 0x1F1E6 + rune(code[1]-'A')})
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
