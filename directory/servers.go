package directory

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
)

// Servers lists the directory servers to try for a domain, most likely
// first, as ldaps:// URLs, each once: the domain controllers DNS names
// (DomainControllers), then kdc — a KDC's address as krb5.conf writes it
// ("dc1.contoso.com", "tcp/10.0.0.5:88"), since on Active Directory every
// KDC is a domain controller. ldaps://, because domain controllers that
// require LDAP signing refuse a GSSAPI bind without a security layer on
// ldap:// and accept it inside TLS. domain "" skips DNS.
func Servers(ctx context.Context, resolver *net.Resolver, domain, kdc string) ([]string, error) {
	var urls []string
	seen := map[string]bool{}
	add := func(host string) {
		if host != "" && !seen[strings.ToLower(host)] {
			seen[strings.ToLower(host)] = true
			urls = append(urls, "ldaps://"+hostForURL(host))
		}
	}
	var dnsErr error
	if domain != "" {
		dcs, err := DomainControllers(ctx, resolver, strings.ToLower(domain))
		dnsErr = err
		for _, dc := range dcs {
			add(dc)
		}
	}
	add(kdcHost(kdc))
	if len(urls) == 0 {
		if dnsErr != nil {
			return nil, fmt.Errorf("directory: no directory server found: %w", dnsErr)
		}
		return nil, errors.New("directory: no directory server found: no domain and no KDC to start from")
	}
	return urls, nil
}

// kdcHost is the host of a KDC address: without a tcp/ or udp/ prefix and
// without its port.
func kdcHost(kdc string) string {
	kdc = strings.TrimSpace(kdc)
	if _, rest, ok := strings.Cut(kdc, "/"); ok {
		kdc = rest
	}
	if h, _, err := net.SplitHostPort(kdc); err == nil {
		return h
	}
	return strings.Trim(kdc, "[]")
}

// hostForURL brackets an IPv6 address.
func hostForURL(host string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]"
	}
	return host
}

// DialFirst binds to the first of urls that accepts, with cfg otherwise
// unchanged. A configuration error, or the context ending, stops at once;
// when every server fails, the error lists each one's reason, the first
// server's first.
func DialFirst(ctx context.Context, cfg Config, urls []string) (*Conn, error) {
	var errs []error
	for _, u := range urls {
		cfg.URL = u
		conn, err := Dial(ctx, cfg)
		if err == nil {
			return conn, nil
		}
		var ce *ConfigError
		if errors.As(err, &ce) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("directory: no directory server to dial")
	}
	return nil, errors.Join(errs...)
}
