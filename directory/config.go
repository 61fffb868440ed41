package directory

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// DefaultTimeout bounds each network step when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Config says which directory server to read and how to bind to it.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port] (ports 389 and
	// 636 by default). The host names the server: the TLS server name and,
	// for a Kerberos bind, the SPN ldap/<host>. When it is an IP address
	// the SPN's host comes from the RootDSE's dnsHostName instead.
	URL string
	// Connect, when set, is the host:port dialled instead of the URL's
	// host (a DC reached through an address that DNS does not know); the
	// URL's host still names the server.
	Connect string
	// BaseDN is where searches start; "" means the RootDSE's
	// defaultNamingContext (the domain partition).
	BaseDN string
	Bind   Bind
	// RootCAs are the trust anchors for ldaps://; nil means the system's.
	RootCAs *x509.CertPool
	// InsecureSkipVerify accepts any server certificate. It is for labs
	// whose DC certificate no CA issued; the bind still authenticates the
	// server with Kerberos, but a simple bind's password would go to
	// whoever answers.
	InsecureSkipVerify bool
	// Timeout bounds each network step (connect, TLS handshake, bind,
	// each search request or page); 0 means DefaultTimeout.
	Timeout time.Duration
}

// BindMethod is how Dial authenticates.
type BindMethod int

const (
	// BindKerberos is SASL GSSAPI with Bind.Kerberos (the default).
	BindKerberos BindMethod = iota
	// BindSimple is an LDAP simple bind with Bind.DN and Bind.Password,
	// allowed only over ldaps://.
	BindSimple
)

func (m BindMethod) String() string {
	switch m {
	case BindKerberos:
		return "kerberos"
	case BindSimple:
		return "simple"
	}
	return fmt.Sprintf("BindMethod(%d)", int(m))
}

// Bind is the identity Dial binds as.
type Bind struct {
	Method BindMethod
	// Kerberos supplies the GSSAPI initiator (BindKerberos).
	Kerberos Kerberos
	// DN and Password are a simple bind's (BindSimple). DN may also be a
	// user principal name (user@domain), which AD accepts.
	DN       string
	Password string
}

// String describes the bind without its password.
func (b Bind) String() string {
	if b.Method == BindSimple {
		return "simple bind as " + b.DN
	}
	return b.Method.String()
}

// GoString keeps the password out of %#v too.
func (b Bind) GoString() string { return "directory.Bind{" + b.String() + "}" }

// endpoint is a validated Config's server.
type endpoint struct {
	tls     bool
	host    string // as in the URL, brackets removed
	addr    string // host:port to dial
	display string // the URL as given, for messages
}

// validate checks the Config without touching the network.
func (c Config) validate() (endpoint, error) {
	var ep endpoint
	if c.URL == "" {
		return ep, &ConfigError{Field: "URL", Err: errors.New("no server: want ldap://HOST or ldaps://HOST")}
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return ep, &ConfigError{Field: "URL", Err: fmt.Errorf("%q is not a URL: want ldap://HOST or ldaps://HOST", c.URL)}
	}
	port := ""
	switch strings.ToLower(u.Scheme) {
	case "ldap":
		port = "389"
	case "ldaps":
		ep.tls, port = true, "636"
	default:
		return ep, &ConfigError{Field: "URL", Err: fmt.Errorf("%q: want an ldap:// or ldaps:// URL", c.URL)}
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return ep, &ConfigError{Field: "URL", Err: fmt.Errorf("%q: want only a scheme, a host and a port (the base DN is a separate setting)", c.URL)}
	}
	ep.host = u.Hostname()
	if ep.host == "" {
		return ep, &ConfigError{Field: "URL", Err: fmt.Errorf("%q has no host", c.URL)}
	}
	if p := u.Port(); p != "" {
		port = p
	}
	ep.addr = net.JoinHostPort(ep.host, port)
	ep.display = u.Scheme + "://" + ep.addr
	if c.Connect != "" {
		h, p, err := net.SplitHostPort(c.Connect)
		if err != nil || h == "" || p == "" {
			return ep, &ConfigError{Field: "Connect", Err: fmt.Errorf("%q: want HOST:PORT", c.Connect)}
		}
		ep.addr = c.Connect
	}
	if c.Timeout < 0 {
		return ep, &ConfigError{Field: "Timeout", Err: fmt.Errorf("%s is negative", c.Timeout)}
	}
	switch c.Bind.Method {
	case BindKerberos:
		if c.Bind.Kerberos == nil {
			return ep, &ConfigError{Field: "Bind", Err: errors.New("a Kerberos bind needs Kerberos credentials")}
		}
	case BindSimple:
		if !ep.tls {
			return ep, &ConfigError{Field: "Bind", Err: fmt.Errorf("a simple bind sends the password in the clear: refused over %s, use ldaps://", ep.display)}
		}
		if c.Bind.DN == "" || c.Bind.Password == "" {
			return ep, &ConfigError{Field: "Bind", Err: errors.New("a simple bind needs a DN and a password")}
		}
	default:
		return ep, &ConfigError{Field: "Bind", Err: fmt.Errorf("unknown method %v", c.Bind.Method)}
	}
	return ep, nil
}

func (c Config) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}
