package directory

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// DomainControllers finds the domain controllers of an AD domain as
// Windows' DC locator does: the DNS SRV records
// _ldap._tcp.dc._msdcs.<domain>, in RFC 2782 order (priority, then
// weighted by weight). It returns the DCs' host names without the
// trailing dot, once each; resolver nil means net.DefaultResolver. Without
// a deadline on ctx the lookup is bounded by DefaultTimeout. The
// SRV port (389) is not returned: callers choose ldap:// or ldaps://.
func DomainControllers(ctx context.Context, resolver *net.Resolver, domain string) ([]string, error) {
	domain = strings.TrimSuffix(strings.TrimSpace(domain), ".")
	if domain == "" || strings.ContainsAny(domain, " /\\") {
		return nil, fmt.Errorf("directory: %q is not a DNS domain", domain)
	}
	if resolver == nil {
		resolver = net.DefaultResolver
	}
	// A resolver without a deadline can wait for a dead DNS server's
	// retries; the lookup is one step like any other.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	name := "_ldap._tcp.dc._msdcs." + domain
	_, srvs, err := resolver.LookupSRV(ctx, "", "", name)
	if err != nil {
		return nil, fmt.Errorf("directory: looking up the domain controllers of %s (%s): %w", domain, name, err)
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range srvs {
		h := strings.TrimSuffix(s.Target, ".")
		if h == "" || seen[strings.ToLower(h)] {
			continue
		}
		seen[strings.ToLower(h)] = true
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("directory: %s has no targets", name)
	}
	return out, nil
}
