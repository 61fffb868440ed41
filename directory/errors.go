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
	// StrongAuthRequired: the server wants signing/sealing or TLS
	// (LDAP result 8); the remedy is ldaps://.
	StrongAuthRequired bool
	Err                error
}

func (e *BindError) Error() string {
	s := fmt.Sprintf("directory: %s bind to %s", e.Method, e.URL)
	if e.SPN != "" {
		s += " (SPN " + e.SPN + ")"
	}
	s += ": " + e.Err.Error()
	if e.StrongAuthRequired {
		s += " — the server requires LDAP signing or TLS: use ldaps://"
	}
	return s
}

func (e *BindError) Unwrap() error { return e.Err }
