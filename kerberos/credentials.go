package kerberos

import (
	"errors"
	"fmt"
	"os"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/fielderr"
	"github.com/exauth/exauth/internal/safetext"
)

// Credentials say where the Kerberos configuration and the
// credentials come from, as kinit's options do.
type Credentials struct {
	Krb5Conf     string // "" = the first file of $KRB5_CONFIG, then /etc/krb5.conf
	Realm        string
	KDC          string
	CCache       string // "" = $KRB5CCNAME, then the default FILE ccache
	Keytab       string // with Principal
	Principal    string
	PasswordFile string // with Principal
	// Password is used when PasswordFile is empty: a secret the caller took
	// from the environment (EXAUTH_PASSWORD), never from a command line;
	// PasswordFrom says where, for the report.
	Password     string
	PasswordFrom string
}

// Given names the settings that are set, as Go field names in the
// struct's order (front ends spell them as flags or file keys): what a
// Windows logon session, which brings its own domain and credentials,
// leaves without a meaning.
func (c Credentials) Given() []string {
	var given []string
	for _, f := range []struct{ name, value string }{
		{"Krb5Conf", c.Krb5Conf}, {"Realm", c.Realm}, {"KDC", c.KDC}, {"CCache", c.CCache},
		{"Keytab", c.Keytab}, {"Principal", c.Principal}, {"PasswordFile", c.PasswordFile}, {"Password", c.Password},
	} {
		if f.value != "" {
			given = append(given, f.name)
		}
	}
	return given
}

// Settings reads the password file and checks that the credential
// settings fit together, as the Settings New takes; getenv reads $KRB5_CONFIG and $KRB5CCNAME (nil:
// os.Getenv) and clk is this host's clock (nil: the system clock).
func (c Credentials) Settings(getenv func(string) string, clk clock.Clock) (Settings, error) {
	ks := Settings{
		Krb5Conf: c.Krb5Conf, Realm: c.Realm, KDC: c.KDC, CCache: c.CCache,
		Keytab: c.Keytab, Principal: c.Principal, Password: c.Password, PasswordFrom: c.PasswordFrom,
		Clock: clk, Getenv: getenv,
	}
	if c.Keytab != "" && c.PasswordFile != "" {
		return ks, &fielderr.Error{Field: "PasswordFile", Err: errors.New("give a keytab or a password file, not both")}
	}
	if c.PasswordFile != "" {
		pw, err := safetext.ReadPasswordFile(c.PasswordFile)
		if err != nil {
			return ks, &fielderr.Error{Field: "PasswordFile", Err: err}
		}
		ks.Password, ks.PasswordFrom = pw, "password file "+c.PasswordFile
	}
	if ks.Password != "" && ks.Principal == "" {
		return ks, &fielderr.Error{Field: "Principal", Err: errors.New("a password needs a principal")}
	}
	if ks.Keytab != "" && ks.Principal == "" {
		return ks, &fielderr.Error{Field: "Principal", Err: errors.New("a keytab needs a principal")}
	}
	// A mistyped keytab path is found here, before any network traffic.
	if ks.Keytab != "" {
		f, err := os.Open(ks.Keytab)
		if err != nil {
			return ks, &fielderr.Error{Field: "Keytab", Err: err}
		}
		st, err := f.Stat()
		f.Close()
		if err == nil && st.IsDir() {
			return ks, &fielderr.Error{Field: "Keytab", Err: fmt.Errorf("%s is a directory", ks.Keytab)}
		}
	}
	return ks, nil
}
