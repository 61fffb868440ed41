package directory

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Conn is a bound connection to one directory server. It is not safe for
// concurrent use.
type Conn struct {
	l       *ldap.Conn
	raw     net.Conn
	timeout time.Duration
	url     string
	baseDN  string
	spn     string
	bind    BindMethod
}

// BaseDN is where searches start: Config.BaseDN, or the domain partition.
func (c *Conn) BaseDN() string { return c.baseDN }

// URL is the server as bound to (scheme://host:port).
func (c *Conn) URL() string { return c.url }

// SPN is the service principal a Kerberos bind authenticated to; "" for a
// simple bind.
func (c *Conn) SPN() string { return c.spn }

// Close unbinds and closes the connection.
func (c *Conn) Close() error {
	if c == nil || c.l == nil {
		return nil
	}
	return c.l.Close()
}

// Dial connects to cfg.URL, reads the RootDSE and binds. Each step is
// bounded by cfg.Timeout and by ctx.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	ep, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	timeout := cfg.timeout()
	raw, err := dialStep(ctx, timeout, ep, cfg)
	if err != nil {
		return nil, err
	}
	l := ldap.NewConn(raw, ep.tls)
	l.Start()
	c := &Conn{l: l, raw: raw, timeout: timeout, url: ep.display, bind: cfg.Bind.Method}
	if err := c.setup(ctx, ep, cfg); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// dialStep is the TCP connect and, for ldaps://, the TLS handshake.
func dialStep(ctx context.Context, timeout time.Duration, ep endpoint, cfg Config) (net.Conn, error) {
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	raw, err := d.DialContext(sctx, "tcp", ep.addr)
	if err != nil {
		return nil, fmt.Errorf("directory: connect to %s: %w", ep.addr, err)
	}
	if !ep.tls {
		return raw, nil
	}
	tc := tls.Client(raw, &tls.Config{
		ServerName:         ep.host,
		RootCAs:            cfg.RootCAs,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // the user's explicit choice, documented on Config
		MinVersion:         tls.VersionTLS12,
	})
	if err := tc.HandshakeContext(sctx); err != nil {
		raw.Close()
		return nil, fmt.Errorf("directory: TLS with %s (%s): %w", ep.host, ep.addr, err)
	}
	return tc, nil
}

func (c *Conn) setup(ctx context.Context, ep endpoint, cfg Config) error {
	// The RootDSE is readable before binding, on AD and Samba alike: it
	// names the DC (for the SPN when the URL holds an address) and the
	// partitions.
	root, err := c.rootDSE(ctx)
	if err != nil {
		return err
	}
	switch cfg.Bind.Method {
	case BindSimple:
		err = c.do(ctx, func() error { return c.l.Bind(cfg.Bind.DN, cfg.Bind.Password) })
		if err != nil {
			return &BindError{Method: "simple", URL: ep.display, Err: err}
		}
	default:
		host := ep.host
		if net.ParseIP(host) != nil {
			if root.dnsHostName == "" {
				return &BindError{Method: "kerberos", URL: ep.display, Err: errors.New("the URL names an address and the RootDSE has no dnsHostName: give the DC's host name, the SPN is ldap/<host name>")}
			}
			host = root.dnsHostName
		}
		c.spn = "ldap/" + strings.ToLower(host)
		// go-ldap's GSSAPIClient has no context: the adapter carries the
		// bind step's, which bounds the KDC exchanges made inside it.
		bctx, cancel := context.WithTimeout(ctx, c.timeout)
		defer cancel()
		a := &saslAdapter{ctx: bctx, krb: cfg.Bind.Kerberos}
		err = c.do(bctx, func() error { return c.l.GSSAPIBind(a, c.spn, "") })
		if err != nil {
			be := &BindError{Method: "kerberos", URL: ep.display, SPN: c.spn, Err: err, TLS: ep.tls,
				StrongAuthRequired: ldap.IsErrorWithCode(err, ldap.LDAPResultStrongAuthRequired)}
			if a.krbErr != nil {
				be.Err = a.krbErr
			}
			return be
		}
	}
	c.baseDN = cfg.BaseDN
	if c.baseDN == "" {
		c.baseDN = root.defaultNC
	}
	if c.baseDN == "" {
		return &ConfigError{Field: "BaseDN", Err: fmt.Errorf("%s names no defaultNamingContext: give a base DN", ep.display)}
	}
	return nil
}

type rootDSE struct {
	dnsHostName, defaultNC, configNC string
}

func (c *Conn) rootDSE(ctx context.Context) (rootDSE, error) {
	req := ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(c.timeout/time.Second), false,
		"(objectClass=*)", []string{"dnsHostName", "defaultNamingContext", "configurationNamingContext"}, nil)
	var res *ldap.SearchResult
	err := c.do(ctx, func() (err error) {
		res, err = c.l.Search(req)
		return err
	})
	if err != nil {
		return rootDSE{}, fmt.Errorf("directory: reading the RootDSE of %s: %w", c.url, err)
	}
	if len(res.Entries) == 0 {
		return rootDSE{}, fmt.Errorf("directory: %s returned no RootDSE", c.url)
	}
	e := res.Entries[0]
	return rootDSE{
		dnsHostName: e.GetAttributeValue("dnsHostName"),
		defaultNC:   e.GetAttributeValue("defaultNamingContext"),
		configNC:    e.GetAttributeValue("configurationNamingContext"),
	}, nil
}

// do runs one network step: go-ldap's request timeout is the step's
// bound (or what is left of ctx's deadline), and a ctx cancelled while
// the step runs closes the connection, which ends the step.
func (c *Conn) do(ctx context.Context, step func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := c.timeout
	if dl, ok := ctx.Deadline(); ok {
		// A little past ctx's deadline, so that ctx ending closes the
		// connection first and the error says which bound was hit.
		if left := time.Until(dl) + 50*time.Millisecond; left < t {
			t = left
		}
	}
	c.l.SetTimeout(t)
	stop := context.AfterFunc(ctx, func() { c.raw.Close() })
	err := step()
	if !stop() || (err != nil && ctx.Err() != nil) {
		// ctx ended during the step: say so rather than "connection
		// closed" or go-ldap's own timeout, which was set to ctx's
		// deadline.
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}
