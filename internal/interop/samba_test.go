//go:build interop

package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exauth/exauth/smtpprobe"
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
		{"spn", "add", xexpsSPN, "HUB01$"},
		{"spn", "add", senderSPN, "HUB02$"},
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
	return startHub(d.t, hubOptions{Keytab: loadKeytab(d.t, keytab), Krb5Conf: d.krb5Conf, Principal: "HUB01$@" + realmName})
}

// TestSambaAD runs the probe against Active Directory's own KDC: the
// verdicts exauth gives for a real domain's behaviour (RC4 service tickets
// when msDS-SupportedEncryptionTypes is unset, AD's computer-account
// salts, key versions that move with each password change).
func TestSambaAD(t *testing.T) {
	d := newSambaDomain(t, sambaAddr)
	hub01, hub02 := d.keytab("HUB01$"), d.keytab("HUB02$")
	keytabCreds := smtpprobe.KerberosSettings{Krb5Conf: d.krb5Conf, Keytab: hub02, Principal: "HUB02$@" + realmName}

	t.Run("ok/keytab", func(t *testing.T) {
		r := d.hub(hub01).probe(t, keytabCreds)
		expectVerdict(t, r, verdict.VerdictOK, 0)
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
		r := d.hub(hub01).probe(t, smtpprobe.KerberosSettings{Krb5Conf: d.krb5Conf, Principal: "HUB02$@" + realmName, Password: hub02Password})
		expectVerdict(t, r, verdict.VerdictOK, 0)
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
		hub02 = d.keytab("HUB02$")
		creds := keytabCreds
		creds.Keytab = hub02
		d.tool("user", "disable", "HUB02$")
		defer d.tool("user", "enable", "HUB02$")
		r := d.hub(hub01).probe(t, creds)
		expectVerdict(t, r, verdict.VerdictAuthRejected, 2)
	})
	t.Run("auth-rejected/wrong-realm", func(t *testing.T) {
		creds := smtpprobe.KerberosSettings{Krb5Conf: d.krb5Conf, Principal: "HUB02$@WRONG.TEST", Password: hub02Password, KDC: d.addr}
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
