package directory

import (
	"errors"
	"fmt"
)

// ErrNoSuchAccount is returned (wrapped) by Account when no object has the
// sAMAccountName asked for.
var ErrNoSuchAccount = errors.New("no such account")

// ConfigError says the Config cannot be used; nothing was sent. Field is
// the Config field at fault ("URL", "Bind", ...), so a front end can name
// its own flag for it.
type ConfigError struct {
	Field string
	Err   error
}

func (e *ConfigError) Error() string { return "directory: " + e.Field + ": " + e.Err.Error() }

func (e *ConfigError) Unwrap() error { return e.Err }

// BindError says the bind did not succeed: the Kerberos side could not
// produce a token (no credentials, KDC refused the ldap/ SPN), or the
// server refused the bind.
type BindError struct {
	Method string // "kerberos" or "simple"
	URL    string
	// SPN is the service principal a Kerberos bind asked a ticket for.
	SPN string
	// StrongAuthRequired: the server wants a SASL signing or sealing
	// layer, or TLS (LDAP result 8).
	StrongAuthRequired bool
	// TLS says the bind ran over ldaps://.
	TLS bool
	Err error
}

func (e *BindError) Error() string {
	s := fmt.Sprintf("directory: %s bind to %s", e.Method, e.URL)
	if e.SPN != "" {
		s += " (SPN " + e.SPN + ")"
	}
	s += ": " + e.Err.Error()
	switch {
	case e.StrongAuthRequired && !e.TLS:
		s += " — the server requires LDAP signing or TLS: use ldaps://"
	case e.StrongAuthRequired:
		// Samba's default "ldap server require strong auth = yes" wants a
		// SASL layer even inside TLS; Windows DCs do not.
		s += " — the server wants a SASL signing layer even over TLS, which exauth does not implement (on Samba: ldap server require strong auth = allow_sasl_over_tls, or a simple bind over ldaps://)"
	}
	return s
}

func (e *BindError) Unwrap() error { return e.Err }
