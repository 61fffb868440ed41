package smtpprobe

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/fielderr"
	"github.com/exauth/exauth/internal/netobs"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// Settings are one probe's settings as plain data: what a command line, a
// lab plan or an exporter module says. Settings.Config is the one path
// from them to a probe Config, so that every front end reads password
// files, CA files and the environment the same way and refuses the same
// mistakes. Errors are *FieldError naming the field; front ends translate
// field names into their own spelling (a flag, a YAML key).
type Settings struct {
	Host               string // HOST[:PORT]
	Connect            string // dial this instead of resolving Host
	SPN                string
	EHLO               string
	Mech               verdict.Mech
	TLS                verdict.TLSMode
	CAFile             string // PEM trust anchors; "" = the system roots
	RequireTrustedCert bool
	Timeout            time.Duration
	ShowSecrets        bool
	Credentials        kerberos.Credentials
	// LDAP says whether the probe reads Active Directory where the verdict
	// needs it: "off" or "" never, "auto" the realm's domain controllers
	// (DNS, then the KDC that answered), or an ldaps:// or ldap:// URL.
	LDAP string
	// LDAPInsecureSkipVerify accepts any ldaps:// certificate (a lab DC's
	// self-signed one); the Kerberos bind still authenticates the server.
	LDAPInsecureSkipVerify bool
	// LDAPEveryProbe reads the directory after a probe that passed too
	// (DirectorySettings.EveryProbe): a monitor's setting.
	LDAPEveryProbe bool
}

// FieldError is an invalid setting (fielderr.Error): Field is the Go
// field's name ("PasswordFile", "Mech"), so that a command line or a
// configuration file can name its own spelling of it.
type FieldError = fielderr.Error

// SpellFields rewrites a *FieldError in err with the front end's own name
// for the field (spelling maps Go field names to flags or file keys);
// other errors, and fields spelling does not name, are returned as they are.
func SpellFields(err error, spelling map[string]string) error { return fielderr.Spell(err, spelling) }

// ParseLDAP reads an LDAP setting: "" or "off" is nil (never read the
// directory), "auto" finds the domain controllers, and ldaps:// or ldap://
// URLs, comma-separated, name the servers (the first that binds answers;
// with more than one, the key version is compared across all of them).
func ParseLDAP(v string) (*DirectorySettings, error) {
	switch l := strings.TrimSpace(v); l {
	case "", "off":
		return nil, nil
	case "auto":
		return &DirectorySettings{}, nil
	}
	d := &DirectorySettings{}
	for _, l := range strings.Split(v, ",") {
		l = strings.TrimSpace(l)
		lower := strings.ToLower(l)
		if !strings.HasPrefix(lower, "ldaps://") && !strings.HasPrefix(lower, "ldap://") {
			return nil, fmt.Errorf("%q: want auto, off, or ldaps:// or ldap:// URLs (comma-separated)", l)
		}
		if u, err := url.Parse(l); err != nil || u.Host == "" {
			return nil, fmt.Errorf("%q is not an LDAP URL with a host", l)
		}
		d.URLs = append(d.URLs, l)
	}
	return d, nil
}

// Config builds the probe's Config, with k as its Kerberos side (NewKerberos
// of the credential settings, or one shared between many probes) and clk as
// this host's clock (nil: the system clock).
func (s Settings) Config(k kerberos.Side, clk clock.Clock) (Config, error) {
	cfg := Config{
		Host: s.Host, Connect: s.Connect, SPN: s.SPN, EHLOName: s.EHLO,
		Mech: s.Mech, TLS: s.TLS,
		RequireTrustedCert: s.RequireTrustedCert, Timeout: s.Timeout,
		ShowSecrets: s.ShowSecrets, Clock: clk, Kerberos: k,
	}
	if s.CAFile != "" {
		pool, err := netobs.LoadCAFile(s.CAFile)
		if err != nil {
			return cfg, &FieldError{Field: "CAFile", Err: err}
		}
		cfg.RootCAs = pool
	}
	d, err := ParseLDAP(s.LDAP)
	if err != nil {
		return cfg, &FieldError{Field: "LDAP", Err: err}
	}
	cfg.Directory = d
	if d != nil {
		d.RootCAs, d.InsecureSkipVerify, d.EveryProbe = cfg.RootCAs, s.LDAPInsecureSkipVerify, s.LDAPEveryProbe
	}
	return cfg, cfg.Validate()
}
