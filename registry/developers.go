package registry

import (
	"net/mail"
	"slices"

	memdb "github.com/hashicorp/go-memdb"
)

// The catalogue's developers and APIs (issue 20, Mobile Connect's
// architecture): a developer is the organisation that owns SPs (its apps),
// with whom to talk to and its standing; an API is what a product opens at
// an operator's gateway (userinfo, premiuminfo, KYC match, the network APIs
// to come), with the request limit each SP has there. Both are
// federation-wide, written by the federation's admins like scopes and
// products.

// Developer is an organisation that owns SPs. Suspending it suspends every
// SP it owns (ServiceProvider.Developer) wherever SPs are looked up, without
// touching their records: activating it again gives each SP back the
// standing it has of its own.
type Developer struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Contacts []Contact `json:"contacts,omitempty"`
	Status   Status    `json:"status"`
	Meta
}

// Contact is a person or a mailbox at a developer.
type Contact struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
	Phone string `json:"phone,omitempty"`
	Role  string `json:"role,omitempty"` // e.g. technical, billing, security
}

// API is what a product opens at an operator's gateway, by the gateway's
// endpoint name ("userinfo", "premiuminfo", ...), with the request limit
// each SP has there: RatePerSP requests a second on average and BurstPerSP
// at once, counted per SP at each gateway node. An endpoint without an API
// record keeps the gateway's default limit.
type API struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Products are the catalogue's products that open the API.
	Products   []string `json:"products,omitempty"`
	RatePerSP  float64  `json:"rate_per_sp"`
	BurstPerSP int      `json:"burst_per_sp"`
	Meta
}

// Bounds of an API's limits: a rate below one request a minute or above
// the gateway's ceiling is a mistake.
const (
	minAPIRate  = 1.0 / 60
	maxAPIRate  = 100000
	maxAPIBurst = 1000000
)

func applyPutDeveloper(tx *writeTxn, body []byte) error {
	var d Developer
	if err := decodeJSON(body, &d); err != nil {
		return err
	}
	if err := checkID("developer id", d.ID); err != nil {
		return err
	}
	if err := checkName("developer name", d.Name); err != nil {
		return err
	}
	if d.Status == "" {
		d.Status = StatusActive
	}
	if err := checkStatus(d.Status); err != nil {
		return err
	}
	if len(d.Contacts) > 20 {
		return invalidf("a developer has at most 20 contacts")
	}
	for i, c := range d.Contacts {
		if a, err := mail.ParseAddress(c.Email); err != nil || a.Address != c.Email {
			return invalidf("contacts[%d].email %q is not an e-mail address", i, c.Email)
		}
		if len(c.Name) > 200 || len(c.Phone) > 32 || len(c.Role) > 64 {
			return invalidf("contacts[%d]: name is at most 200 characters, phone 32, role 64", i)
		}
	}
	return put(tx, tableDevelopers, get[Developer](tx.Txn, tableDevelopers, d.ID), &d)
}

func applyDeleteDeveloper(tx *writeTxn, body []byte) error {
	var k Key
	if err := decodeJSON(body, &k); err != nil {
		return err
	}
	if n := count(tx.Txn, tableSPs, "developer", k.Key); n > 0 {
		return conflictf("developer %s owns %d service providers: delete them or give them another developer first", k.Key, n)
	}
	return deleteByKey[Developer](tx, body, tableDevelopers, "developer")
}

func applyPutAPI(tx *writeTxn, body []byte) error {
	var a API
	if err := decodeJSON(body, &a); err != nil {
		return err
	}
	if err := checkID("API id", a.ID); err != nil {
		return err
	}
	if err := checkName("API name", a.Name); err != nil {
		return err
	}
	if len(a.Description) > 1000 {
		return invalidf("API description is longer than 1000 characters")
	}
	if a.RatePerSP < minAPIRate || a.RatePerSP > maxAPIRate {
		return invalidf("rate_per_sp %g: use a rate from %.4f (one a minute) to %d requests a second", a.RatePerSP, minAPIRate, maxAPIRate)
	}
	if a.BurstPerSP < 1 || a.BurstPerSP > maxAPIBurst {
		return invalidf("burst_per_sp %d: use 1 to %d requests", a.BurstPerSP, maxAPIBurst)
	}
	if len(a.Products) > 64 || slices.Contains(a.Products, "") {
		return invalidf("products: at most 64 product ids, none empty")
	}
	for _, p := range a.Products {
		if get[Product](tx.Txn, tableProducts, p) == nil {
			return notFoundf("product %q is not in the catalogue", p)
		}
	}
	return put(tx, tableAPIs, get[API](tx.Txn, tableAPIs, a.ID), &a)
}

func applyDeleteAPI(tx *writeTxn, body []byte) error {
	return deleteByKey[API](tx, body, tableAPIs, "API")
}

// Developer returns the developer with id, or nil.
func (r *Registry) Developer(id string) *Developer {
	return get[Developer](r.db.Txn(false), tableDevelopers, id)
}

// Developers lists the developers a page at a time.
func (r *Registry) Developers(after string, limit int) Page[Developer] {
	return list(r.db, tableDevelopers, func(d *Developer) string { return d.ID }, after, limit, nil)
}

// API returns the API with id, or nil.
func (r *Registry) API(id string) *API { return get[API](r.db.Txn(false), tableAPIs, id) }

// APIs lists the catalogue's APIs a page at a time.
func (r *Registry) APIs(after string, limit int) Page[API] {
	return list(r.db, tableAPIs, func(a *API) string { return a.ID }, after, limit, nil)
}

func developersTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableDevelopers, Indexes: map[string]*memdb.IndexSchema{"id": idIndex("ID")}}
}

func apisTable() *memdb.TableSchema {
	return &memdb.TableSchema{Name: tableAPIs, Indexes: map[string]*memdb.IndexSchema{
		"id":      idIndex("ID"),
		"product": {Name: "product", AllowMissing: true, Indexer: &memdb.StringSliceFieldIndex{Field: "Products"}},
	}}
}
