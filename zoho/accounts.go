package zoho

import (
	"net/url"
	"strings"
)

// DataCenters lists Zoho's data centers by the names AccountsURL and
// APIDomainFor take, in the order of Zoho's multi-DC documentation.
func DataCenters() []string { return []string{"us", "eu", "in", "au", "jp", "ca", "cn", "sa"} }

// IsAccountsServer reports whether s is the accounts server of one of Zoho's
// data centers: https, a host of DataCenters' accounts servers, no user,
// port, path beyond "/", query or fragment. The browser flow's redirect
// names the accounts server of the user's account (accounts-server); only
// such a server may be sent the client secret.
func IsAccountsServer(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Port() != "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	for _, dc := range dataCenters {
		if a, _ := url.Parse(dc.accounts); a != nil && strings.EqualFold(a.Host, u.Host) {
			return true
		}
	}
	return false
}

// Editions lists Zoho CRM's editions by the names WithEdition takes, from
// the smallest limits to the largest.
func Editions() []string {
	return []string{"free", "standard", "professional", "enterprise", "ultimate"}
}

// EditionConcurrency returns how many API calls an org of the edition may
// have in flight (docs/zoho-api.md, "Limits"), and false for an unknown
// edition.
func EditionConcurrency(edition string) (int, bool) {
	n, ok := editionConcurrency[edition]
	return n, ok
}
