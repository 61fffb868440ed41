package main

import "github.com/exauth/exauth/smtpprobe"

// credentialFlags are the Kerberos configuration and credential flags that
// probe and spn share: the same names, meanings and precedence, so that
// one set of credentials serves both commands.
type credentialFlags struct {
	krb5Conf, realm, kdc, ccache, keytab, princ, passwordFile string
}

func (f *credentialFlags) register(c *command) {
	c.StringVar(&f.krb5Conf, "krb5-conf", "", "krb5.conf `FILE` (default $KRB5_CONFIG, then /etc/krb5.conf; on Windows %ProgramData%\\MIT\\Kerberos5\\krb5.ini)")
	c.StringVar(&f.realm, "realm", "", "Kerberos `REALM` (overrides krb5.conf's default_realm)")
	c.StringVar(&f.kdc, "kdc", "", "KDC `HOST[:PORT]` for the realm")
	c.StringVar(&f.ccache, "ccache", "", "credentials cache `FILE` (default $KRB5CCNAME, then /tmp/krb5cc_UID; on Windows none: exauth reads FILE ccaches only)")
	c.StringVar(&f.keytab, "keytab", "", "authenticate from keytab `FILE` (with --principal), like kinit -k -t")
	c.StringVar(&f.princ, "principal", "", "client principal `NAME`, e.g. HUB02$@CONTOSO.COM")
	c.StringVar(&f.passwordFile, "password-file", "", "read the password for --principal from `FILE` (or set EXAUTH_PASSWORD)")
}

// settings are the flags as smtpprobe.CredentialSettings. Explicit flags
// beat the environment: a password left in EXAUTH_PASSWORD must not
// override --ccache, --keytab or --password-file.
func (f credentialFlags) settings(e env) smtpprobe.CredentialSettings {
	cs := smtpprobe.CredentialSettings{
		Krb5Conf: f.krb5Conf, Realm: f.realm, KDC: f.kdc, CCache: f.ccache,
		Keytab: f.keytab, Principal: f.princ, PasswordFile: f.passwordFile,
	}
	if pw := e.getenv("EXAUTH_PASSWORD"); pw != "" && f.ccache == "" && f.keytab == "" && f.passwordFile == "" {
		cs.Password, cs.PasswordFrom = pw, "the environment's EXAUTH_PASSWORD"
	}
	return cs
}
