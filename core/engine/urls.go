package engine

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// privateNames are host names that never lead to a provider: the machine
// itself and names that only mean something inside a network.
var privateNames = []string{"localhost", "local", "internal", "localdomain", "home.arpa"}

// cgnat is the carrier-grade NAT range (RFC 6598), private in all but name.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicHTTPS says why raw is not an https URL on a public host, "" when it
// is. A provider URL receives the integration's credentials with every
// call: pointed at loopback, a link-local address (the cloud's metadata
// service) or a private network, it would make the server carry them, and
// its requests, to wherever an admin's console session aims it.
//
// The host is judged as written: a public name that resolves to a private
// address is not caught here.
func publicHTTPS(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return "is not a URL"
	}
	if u.Scheme != "https" {
		return "must be an https URL"
	}
	if u.User != nil {
		return "must not carry a user name or password"
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.WithZone("").Unmap()
		switch {
		case a.IsLoopback(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(), a.IsPrivate(), a.IsUnspecified(),
			a.IsMulticast(), a.IsInterfaceLocalMulticast(), cgnat.Contains(a),
			a.Is4() && a.As4()[0] == 0, a.Is6() && a.As16()[0] == 0xfe && a.As16()[1]&0xc0 == 0xc0: // 0.0.0.0/8, fec0::/10
			return fmt.Sprintf("points at %s, a loopback, link-local or private address", a)
		}
		return ""
	}
	for _, n := range privateNames {
		if host == n || strings.HasSuffix(host, "."+n) {
			return fmt.Sprintf("points at %s, which is not a public host", host)
		}
	}
	labels := strings.Split(host, ".")
	last := labels[len(labels)-1]
	switch {
	case len(labels) < 2:
		// A bare name resolves through the search domains: an
		// intranet host.
		return fmt.Sprintf("points at %s, which is not a public host name", host)
	case last == "" || last[0] < 'a' || last[0] > 'z':
		// Numbers the resolver would read as an address (127.1,
		// 0x7f.0.0.1, 2130706433): no top-level domain starts with a digit.
		return fmt.Sprintf("points at %s, which is not a host name or an address", host)
	}
	return ""
}
