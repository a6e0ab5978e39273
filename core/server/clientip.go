package server

import (
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// clientIP is the address of whoever made the request: the peer, unless
// the peer is a trusted proxy ([server] trusted_proxies), in which case
// X-Forwarded-For is read from the right, past the trusted proxies, to the
// first address that is not one. Everything left of that was written by
// the client and may be anything, so it is never used. The sign-in limits
// and the logs key on this address.
func (s *Server) clientIP(c *fiber.Ctx) string {
	peer, ok := netip.AddrFromSlice(c.Context().RemoteIP())
	if !ok {
		return c.Context().RemoteIP().String()
	}
	peer = peer.Unmap()
	if !s.trustedProxy(peer) {
		return peer.String()
	}
	var hops []string
	for _, v := range c.Request().Header.PeekAll(fiber.HeaderXForwardedFor) {
		hops = append(hops, strings.Split(string(v), ",")...)
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := forwardedAddr(hops[i])
		if !ok {
			// A trusted proxy writes addresses: this came from further
			// left, where the client writes what it likes.
			break
		}
		client = a
		if !s.trustedProxy(a) {
			break
		}
	}
	return client.String()
}

func (s *Server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.o.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedAddr reads one X-Forwarded-For entry: an address, possibly with
// a port ("203.0.113.7:51234", "[2001:db8::1]:443").
func forwardedAddr(v string) (netip.Addr, bool) {
	v = strings.TrimSpace(v)
	if a, err := netip.ParseAddr(v); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(v); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
