package idgw

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// UnderURL says whether raw is an absolute URL on base's origin, under
// base's path, with no dot segments, doubled slashes, userinfo or control
// characters: the only places an authenticator's pages send a browser to
// (the gateway's continue URL, its own pages). Authenticators check a
// Challenge's ReturnURL with it before they put it in a page.
func UnderURL(base *url.URL, raw string) bool {
	if raw == "" || strings.ContainsAny(raw, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(raw)
	if err != nil || u.User != nil || u.Opaque != "" {
		return false
	}
	if !strings.EqualFold(u.Scheme, base.Scheme) || !strings.EqualFold(u.Host, base.Host) {
		return false
	}
	p := u.Path
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "//") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return base.Path == "" || p == base.Path || strings.HasPrefix(p, base.Path+"/")
}

// ParsePublicURL reads an authenticator's public base URL (the node's
// public URL, under which it mounts its pages): scheme://host[:port][/path],
// http or https, with no user, query or fragment. The error says what is
// wrong with it, for a configuration error naming the setting.
func ParsePublicURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("required (the node's public base URL)")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: want an http or https URL", raw)
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q: want scheme://host[:port][/path] with no user, query or fragment", raw)
	}
	return u, nil
}
