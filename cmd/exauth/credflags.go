package main

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/exauth/exauth/internal/sspicred"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
)

// credentialFlags are the Kerberos configuration and credential flags that
// probe and spn share: the same names, meanings and precedence, so that
// one set of credentials serves both commands.
type credentialFlags struct {
	cred                                                      string
	krb5Conf, realm, kdc, ccache, keytab, princ, passwordFile string
}

// Credential sources (--cred).
const (
	credSSPI     = "sspi"
	credKeytab   = "keytab"
	credCCache   = "ccache"
	credPassword = "password"
)

func (f *credentialFlags) register(c *command) {
	c.StringVar(&f.cred, "cred", "", "credential `SOURCE`: sspi|keytab|ccache|password (default: keytab or password when given, else on Windows sspi — the logon session, as SYSTEM the computer account — else the ccache)")
	c.StringVar(&f.krb5Conf, "krb5-conf", "", "krb5.conf `FILE` (default $KRB5_CONFIG, then /etc/krb5.conf; on Windows %ProgramData%\\MIT\\Kerberos5\\krb5.ini)")
	c.StringVar(&f.realm, "realm", "", "Kerberos `REALM` (overrides krb5.conf's default_realm)")
	c.StringVar(&f.kdc, "kdc", "", "KDC `HOST[:PORT]` for the realm")
	c.StringVar(&f.ccache, "ccache", "", "credentials cache `FILE` (default $KRB5CCNAME, then /tmp/krb5cc_UID; on Windows none: exauth reads FILE ccaches only)")
	c.StringVar(&f.keytab, "keytab", "", "authenticate from keytab `FILE` (with --principal), like kinit -k -t")
	c.StringVar(&f.princ, "principal", "", "client principal `NAME`, e.g. HUB02$@CONTOSO.COM")
	c.StringVar(&f.passwordFile, "password-file", "", "read the password for --principal from `FILE` (or set EXAUTH_PASSWORD)")
}

// settings are the flags as kerberos.Credentials. Explicit flags
// beat the environment: a password left in EXAUTH_PASSWORD must not
// override --ccache, --keytab or --password-file, nor --cred sspi or
// ccache.
func (f credentialFlags) settings(e env) kerberos.Credentials {
	cs := kerberos.Credentials{
		Krb5Conf: f.krb5Conf, Realm: f.realm, KDC: f.kdc, CCache: f.ccache,
		Keytab: f.keytab, Principal: f.princ, PasswordFile: f.passwordFile,
	}
	explicit := f.cred == credSSPI || f.cred == credCCache
	if pw := e.getenv("EXAUTH_PASSWORD"); pw != "" && !explicit && f.ccache == "" && f.keytab == "" && f.passwordFile == "" {
		cs.Password, cs.PasswordFrom = pw, "the environment's EXAUTH_PASSWORD"
	}
	return cs
}

// source is the credential source the flags choose. The precedence
// (docs/windows.md): --cred; else --keytab; else a password
// (--password-file, then EXAUTH_PASSWORD); else --ccache; else, on Windows,
// the logon session (SSPI), which is where a Windows administrator's
// and a computer account's Kerberos credentials live; else the default
// ccache.
func (f credentialFlags) source(e env) (string, error) {
	goos := e.goos
	if goos == "" {
		goos = runtime.GOOS
	}
	pw := f.passwordFile != "" || e.getenv("EXAUTH_PASSWORD") != ""
	switch f.cred {
	case "":
		switch {
		case f.keytab != "":
			return credKeytab, nil
		case f.passwordFile != "" || (pw && f.ccache == ""):
			return credPassword, nil
		case f.ccache != "":
			return credCCache, nil
		case goos == "windows":
			return credSSPI, nil
		}
		return credCCache, nil
	case credSSPI:
		if goos != "windows" {
			return "", errors.New("--cred sspi: " + sspicred.ErrNotWindows.Error())
		}
		if given := f.settings(e).Given(); len(given) > 0 {
			return "", fmt.Errorf("--cred sspi uses the Windows logon session and its domain: %s does not apply", flagOf[given[0]])
		}
	case credKeytab:
		if f.keytab == "" {
			return "", errors.New("--cred keytab needs --keytab FILE and --principal NAME")
		}
	case credPassword:
		if !pw {
			return "", errors.New("--cred password needs --password-file FILE (or EXAUTH_PASSWORD) and --principal NAME")
		}
		if f.keytab != "" || f.ccache != "" {
			return "", errors.New("--cred password: drop --keytab and --ccache")
		}
	case credCCache:
		if f.keytab != "" || f.passwordFile != "" {
			return "", errors.New("--cred ccache: drop --keytab and --password-file")
		}
	default:
		return "", fmt.Errorf("--cred %q: want sspi, keytab, ccache or password", f.cred)
	}
	return f.cred, nil
}

// kerberos is the probe's Kerberos side for the flags: the Windows logon
// session through SSPI, or gokrb5 with a keytab, a ccache or a password.
func (f credentialFlags) kerberos(e env) (kerberos.Side, error) {
	src, err := f.source(e)
	if err != nil {
		return nil, err
	}
	if src == credSSPI {
		return sspicred.LogonSession()
	}
	cs := f.settings(e)
	if src == credCCache {
		cs.Password, cs.PasswordFrom = "", ""
	}
	ks, err := cs.Settings(e.getenv, nil)
	if err != nil {
		return nil, smtpprobe.SpellFields(err, flagOf)
	}
	return kerberos.New(ks), nil
}
