//go:build interop

package interop

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// sambaDomain is a throw-away Active Directory domain LAB.TEST served by
// Samba's AD DC (its KDC is Samba's AD-aware Heimdal) on one loopback
// address only, with the computer accounts of two Exchange hubs.
type sambaDomain struct {
	t        testing.TB
	addr     string // the DC's address: KDC on :88, LDAP on :389, LDAPS on :636
	dir      string
	conf     string // smb.conf
	krb5Conf string // the clients' krb5.conf
	env      []string
	samba    *proc
}

// sambaAddr is the loopback address TestSambaAD's domain listens on: its
// own, so that it neither needs free ports (Samba's KDC and LDAP have fixed
// ones) nor collides with anything on 127.0.0.1. Another test provisions
// its domain on another address, so that two domains never share one.
const sambaAddr = "127.0.0.88"

// Passwords of the throw-away domain's accounts (random passwords would do
// as well; the password test needs to know one).
const (
	sambaAdminPassword = "Adm1n-Passw0rd!exauth"
	hub01Password      = "Hub01-Passw0rd!exauth"
	hub02Password      = "Hub02-Passw0rd!exauth"
)

// newSambaDomain provisions the domain (samba-tool domain provision, about
// 6 s), creates HUB01$ and HUB02$ with their SMTPSVC SPNs and passwords,
// and starts samba in the foreground, stopped by PID when the test ends.
func newSambaDomain(t *testing.T, addr string) *sambaDomain {
	t.Helper()
	requireTools(t, "samba-ad-dc", "samba", "samba-tool")
	if os.Getuid() != 0 {
		t.Skip("Samba AD DC binds the KDC and LDAP ports: run as root (CI does)")
	}
	dir := t.TempDir()
	d := &sambaDomain{t: t, addr: addr, dir: dir, conf: filepath.Join(dir, "etc", "smb.conf"), krb5Conf: filepath.Join(dir, "krb5.conf")}
	d.env = baseEnv("KRB5_CONFIG="+d.krb5Conf, "KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"))
	mustRun(t, d.env, "", tool(t, "samba-tool"), "domain", "provision",
		"--realm="+realmName, "--domain=LAB", "--server-role=dc", "--dns-backend=SAMBA_INTERNAL",
		"--adminpass="+sambaAdminPassword, "--targetdir="+dir, "--host-name=dc1", "--host-ip="+d.addr,
		"--option=interfaces = "+d.addr+"/8", "--option=bind interfaces only = yes")
	if err := os.WriteFile(d.krb5Conf, []byte("[libdefaults]\n default_realm = "+realmName+"\n dns_lookup_kdc = false\n rdns = false\n[realms]\n "+realmName+" = {\n  kdc = "+d.addr+"\n }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"computer", "create", "HUB01"},
		{"computer", "create", "HUB02"},
		// As Exchange registers them: SMTPSVC/ for X-EXPS and SMTP/ for
		// AUTH GSSAPI on each transport server's own account.
		{"spn", "add", xexpsSPN, "HUB01$"},
		{"spn", "add", "SMTP/hub01.lab.test", "HUB01$"},
		{"spn", "add", senderSPN, "HUB02$"},
		{"spn", "add", "SMTP/hub02.lab.test", "HUB02$"},
		{"user", "setpassword", "HUB01$", "--newpassword=" + hub01Password},
		{"user", "setpassword", "HUB02$", "--newpassword=" + hub02Password},
	} {
		d.tool(c...)
	}
	d.start()
	return d
}

// tool runs samba-tool on the domain's own database.
func (d *sambaDomain) tool(args ...string) string {
	d.t.Helper()
	return mustRun(d.t, d.env, "", tool(d.t, "samba-tool"), append(args, "-s", d.conf)...).stdout
}

func (d *sambaDomain) start() {
	d.t.Helper()
	d.samba = startProc(d.t, d.env, tool(d.t, "samba"), "-i", "-M", "single", "-s", d.conf)
	waitListening(d.t, d.samba, d.addr+":88", func() string { return d.samba.out.String() })
	onFailure(d.t, "samba output", d.samba.out.String)
}

// keytab exports an account's current keys (samba-tool domain
// exportkeytab), as an administrator would for a lab hub.
func (d *sambaDomain) keytab(account string) string {
	d.t.Helper()
	path := filepath.Join(d.dir, strings.ToLower(strings.TrimSuffix(account, "$"))+"-"+randomSecret()[:6]+".keytab")
	d.tool("domain", "exportkeytab", path, "--principal="+account)
	return path
}

// hub is the fake connector as HUB01, holding keys exported from the
// domain and getting its reverse tickets from the domain's KDC.
func (d *sambaDomain) hub(keytab string) *hub {
	d.t.Helper()
	return d.hubWith(loadKeytab(d.t, keytab))
}

// hubWith is hub with the keys given: a subset of an exported keytab, as a
// server with RC4 disabled, or an AES-only keytab, holds.
func (d *sambaDomain) hubWith(kt *keytab.Keytab) *hub {
	d.t.Helper()
	return startHub(d.t, hubOptions{Keytab: kt, Krb5Conf: d.krb5Conf, Principal: "HUB01$@" + realmName})
}

// keysOf is the keytab at path with only the entries of the etypes given.
func keysOf(t testing.TB, path string, etypes ...int32) *keytab.Keytab {
	t.Helper()
	kt := loadKeytab(t, path)
	kept := kt.Entries[:0]
	for _, e := range kt.Entries {
		if slices.Contains(etypes, e.Key.KeyType) {
			kept = append(kept, e)
		}
	}
	if len(kept) == 0 {
		t.Fatalf("%s holds no key of etypes %v", path, etypes)
	}
	kt.Entries = kept
	return kt
}

// setEncTypes sets (or, with value "", clears) the account's
// msDS-SupportedEncryptionTypes, which samba-tool has no verb for: with
// ldbmodify on the DC's own database, as an administrator would with
// Set-ADComputer -KerberosEncryptionType.
func (d *sambaDomain) setEncTypes(account, value string) {
	d.t.Helper()
	dn := "CN=" + strings.TrimSuffix(account, "$") + ",CN=Computers,DC=lab,DC=test"
	ldif := "dn: " + dn + "\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: " + value + "\n"
	if value == "" {
		ldif = "dn: " + dn + "\nchangetype: modify\ndelete: msDS-SupportedEncryptionTypes\n"
	}
	path := filepath.Join(d.dir, "enctypes.ldif")
	if err := os.WriteFile(path, []byte(ldif), 0o600); err != nil {
		d.t.Fatal(err)
	}
	mustRun(d.t, d.env, "", tool(d.t, "ldbmodify"), "-H", filepath.Join(d.dir, "private", "sam.ldb"), path)
}

// TestSambaAD runs the probe against Active Directory's own KDC: the
// verdicts exauth gives for a real domain's behaviour (RC4 service tickets
// when msDS-SupportedEncryptionTypes is unset, AD's computer-account
// salts, key versions that move with each password change).
func TestSambaAD(t *testing.T) {
	d := newSambaDomain(t, sambaAddr)
	hub01 := d.keytab("HUB01$")
	keytabCreds := kerberos.Settings{Krb5Conf: d.krb5Conf, Keytab: d.keytab("HUB02$"), Principal: "HUB02$@" + realmName}

	// An RC4 ticket works but is a warning (exit 1): Windows is removing
	// RC4 from Kerberos.
	rc4Warning := func(t *testing.T, r *verdict.Report) {
		t.Helper()
		expectVerdict(t, r, verdict.VerdictOK, 1)
		if !slices.Equal(r.Warnings, []verdict.Warning{verdict.WarningRC4}) {
			t.Errorf("warnings %v, want [rc4]", r.Warnings)
		}
	}
	t.Run("ok/keytab", func(t *testing.T) {
		r := d.hub(hub01).probe(t, keytabCreds)
		rc4Warning(t, r)
		if a := r.Observation.Auth; a == nil || a.Reverse == nil || !a.Reverse.Verified {
			t.Errorf("auth %+v; want ExchangeAuth's reverse leg verified with AD-issued tickets", a)
		}
		// AD issues RC4 service tickets to accounts without
		// msDS-SupportedEncryptionTypes, whatever the client asked for.
		if r.Kerberos == nil || r.Kerberos.EType == nil || *r.Kerberos.EType != "rc4-hmac" {
			t.Errorf("ticket etype %v, want rc4-hmac (AD's default for service tickets)", r.Kerberos)
		}
	})
	t.Run("ok/password", func(t *testing.T) {
		// The reverse ticket decrypts with keys derived from the password
		// and AD's computer-account salt, LAB.TESThosthub02.lab.test.
		r := d.hub(hub01).probe(t, kerberos.Settings{Krb5Conf: d.krb5Conf, Principal: "HUB02$@" + realmName, Password: hub02Password})
		rc4Warning(t, r)
		if a := r.Observation.Auth; a == nil || a.Reverse == nil || !a.Reverse.Verified {
			t.Errorf("auth %+v; want the reverse leg verified with password-derived keys", a)
		}
	})
	t.Run("spn-unknown/spn-removed", func(t *testing.T) {
		d.tool("spn", "delete", xexpsSPN, "HUB01$")
		defer d.tool("spn", "add", xexpsSPN, "HUB01$")
		r := d.hub(hub01).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictSPNUnknown, 2)
	})
	t.Run("key-mismatch/receiver-password-changed-after-export", func(t *testing.T) {
		stale := hub01
		d.tool("user", "setpassword", "HUB01$", "--newpassword="+hub01Password+"-2")
		hub01 = d.keytab("HUB01$")
		r := d.hub(stale).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictKeyMismatch, 2)
	})
	t.Run("auth-rejected/sender-password-changed", func(t *testing.T) {
		d.tool("user", "setpassword", "HUB02$", "--newpassword="+hub02Password+"-2")
		defer d.tool("user", "setpassword", "HUB02$", "--newpassword="+hub02Password)
		r := d.hub(hub01).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictAuthRejected, 2)
	})
	t.Run("auth-rejected/sender-disabled", func(t *testing.T) {
		// The previous subtest's password reset moved the key version on:
		// the later subtests need the current keys.
		keytabCreds.Keytab = d.keytab("HUB02$")
		d.tool("user", "disable", "HUB02$")
		defer d.tool("user", "enable", "HUB02$")
		r := d.hub(hub01).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictAuthRejected, 2)
	})
	t.Run("key-mismatch/rc4-ticket-to-aes-only-hub", func(t *testing.T) {
		// msDS-SupportedEncryptionTypes unset: AD issues RC4 although the
		// probe asks for AES first, and a hub with AES keys only cannot
		// decrypt it. Over SMTP that is indistinguishable from a stale key
		// (the same 454), so the summary names both.
		r := d.hubWith(keysOf(t, hub01, enctype.AES256CTSHMACSHA196, enctype.AES128CTSHMACSHA196)).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictKeyMismatch, 2)
		if !strings.Contains(r.Summary, "holds no rc4-hmac key") {
			t.Errorf("summary %q does not name the missing RC4 key as a cause", r.Summary)
		}
	})
	t.Run("key-mismatch/aes-ticket-to-rc4-only-hub", func(t *testing.T) {
		d.setEncTypes("HUB01$", "24") // AES128 + AES256
		defer d.setEncTypes("HUB01$", "")
		r := d.hubWith(keysOf(t, hub01, enctype.RC4HMAC)).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictKeyMismatch, 2)
		if r.Kerberos == nil || r.Kerberos.EType == nil || *r.Kerberos.EType != "aes256-cts-hmac-sha1-96" {
			t.Errorf("ticket etype %v, want aes256-cts-hmac-sha1-96 (the account allows AES only)", r.Kerberos)
		}
	})
	t.Run("ok/rc4-only-account", func(t *testing.T) {
		d.setEncTypes("HUB01$", "4") // RC4 only
		defer d.setEncTypes("HUB01$", "")
		r := d.hub(hub01).probe(t, keytabCreds)
		rc4Warning(t, r)
	})
	t.Run("ok/aes-account", func(t *testing.T) {
		// With AES allowed on the account the ticket is AES: no warning.
		d.setEncTypes("HUB01$", "24")
		defer d.setEncTypes("HUB01$", "")
		r := d.hub(hub01).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if len(r.Warnings) != 0 {
			t.Errorf("warnings %v for an AES ticket", r.Warnings)
		}
	})
	t.Run("etype-unsupported/aes-only-account-rc4-only-client", func(t *testing.T) {
		d.setEncTypes("HUB01$", "24")
		defer d.setEncTypes("HUB01$", "")
		conf := filepath.Join(t.TempDir(), "krb5.conf")
		if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = "+realmName+"\n dns_lookup_kdc = false\n default_tgs_enctypes = rc4-hmac\n[realms]\n "+realmName+" = {\n  kdc = "+d.addr+"\n }\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		creds := keytabCreds
		creds.Krb5Conf = conf
		r := d.hub(hub01).probe(t, creds)
		expectVerdict(t, r, verdict.VerdictETypeUnsupported, 2)
	})
	t.Run("auth-rejected/wrong-realm", func(t *testing.T) {
		creds := kerberos.Settings{Krb5Conf: d.krb5Conf, Principal: "HUB02$@WRONG.TEST", Password: hub02Password, KDC: d.addr}
		r := d.hub(hub01).probe(t, creds)
		expectVerdict(t, r, verdict.VerdictAuthRejected, 2)
		if !strings.Contains(r.Summary, "realm is not the KDC's domain") {
			t.Errorf("summary %q does not name the realm as a cause", r.Summary)
		}
	})
	t.Run("kdc-unreachable/samba-stopped", func(t *testing.T) {
		h := d.hub(hub01)
		d.samba.stop(t)
		r := h.probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictKDCUnreachable, 2)
	})
}
