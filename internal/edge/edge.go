// Package edge knows how requests reach the server: directly, or through reverse proxies
// the administrator trusts (trusted_proxies), and under which public address
// (public_url). The adapters ask it for the client's address (login throttling, logs)
// and whether the browser speaks HTTPS to us (Secure cookies, HSTS).
package edge

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// Config is how the server is reached. The zero Config trusts no proxy: the client is
// the connection's peer and HTTPS means the server holds the TLS key.
type Config struct {
	// HTTPSOnly: public_url is https://, every browser request arrives over HTTPS
	// (through a TLS-terminating proxy).
	HTTPSOnly bool
	// Proxies whose X-Forwarded-For and X-Forwarded-Proto are believed.
	Proxies []netip.Prefix
}

// Parse reads public_url ("" or an http(s) URL) and trusted_proxies (addresses or CIDR
// prefixes).
func Parse(publicURL string, trustedProxies []string) (Config, error) {
	var c Config
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("public_url %q: want the server's address as browsers use it, e.g. https://wapt.example.org", publicURL)
		}
		c.HTTPSOnly = u.Scheme == "https"
	}
	for _, p := range trustedProxies {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if pre, err := netip.ParsePrefix(p); err == nil {
			c.Proxies = append(c.Proxies, pre.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return c, fmt.Errorf("trusted_proxies %q: want IP addresses or CIDR prefixes such as 10.0.0.0/8", p)
		}
		c.Proxies = append(c.Proxies, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return c, nil
}

func peer(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	return a.Unmap(), err == nil
}

func (c Config) trusted(a netip.Addr) bool {
	for _, p := range c.Proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP is the client's address: the peer, or, when the peer is a trusted proxy, the
// right-most address of X-Forwarded-For that is not a trusted proxy.
func (c Config) ClientIP(r *http.Request) string {
	a, ok := peer(r)
	if !ok {
		return r.RemoteAddr
	}
	if !c.trusted(a) {
		return a.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		h = h.Unmap()
		if !c.trusted(h) {
			return h.String()
		}
		a = h
	}
	return a.String()
}

// HTTPS says whether the client reached us over HTTPS: the connection is TLS,
// public_url is https://, or a trusted proxy says so (X-Forwarded-Proto: https).
func (c Config) HTTPS(r *http.Request) bool {
	if r.TLS != nil || c.HTTPSOnly {
		return true
	}
	a, ok := peer(r)
	return ok && c.trusted(a) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// HSTS is the Strict-Transport-Security value the server sends over HTTPS.
const HSTS = "max-age=31536000"
