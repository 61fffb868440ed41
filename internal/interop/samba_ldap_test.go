//go:build interop

// Samba 4.17 gives its self-signed certificate a random serial number that
// is negative about half the time, which Go refuses to parse (even with
// verification off) unless x509negativeserial is set; certificates issued
// by a CA (AD CS) have positive serials.
//go:debug x509negativeserial=1

package interop

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/directory"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// sambaLDAPAddr is this test's own DC address (TestSambaAD uses another).
const sambaLDAPAddr = "127.0.0.89"

// allowSASLOverTLS restarts samba with "ldap server require strong auth =
// allow_sasl_over_tls". Samba 4.17's default ("yes") demands a SASL
// signing or sealing layer even inside TLS, which neither go-ldap nor
// exauth's initiator implements; Windows DCs, whatever their LDAP signing
// policy, accept a GSSAPI bind without a security layer over LDAPS, and
// so does this setting (it still refuses such binds on plain ldap://).
func (d *sambaDomain) allowSASLOverTLS(t *testing.T) {
	t.Helper()
	d.samba.stop(t)
	conf, err := os.ReadFile(d.conf)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(conf), "[global]\n", "[global]\n\tldap server require strong auth = allow_sasl_over_tls\n", 1)
	if err := os.WriteFile(d.conf, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	// The DC's ldap/ SPN is not written by provisioning but by
	// samba_spnupdate, which samba runs some seconds after it starts: a
	// bind before that gets KDC_ERR_S_PRINCIPAL_UNKNOWN. Registering it
	// now (spnupdate then finds it present) takes the race away.
	if !strings.Contains(strings.ToLower(d.tool("spn", "list", "DC1$")), "ldap/dc1.lab.test\n") {
		d.tool("spn", "add", "ldap/dc1.lab.test", "DC1$")
	}
	d.start()
	waitListening(t, d.samba, d.addr+":636", func() string { return d.samba.out.String() })
}

// ldbModify applies LDIF to the DC's database with ldbmodify, as an
// administrator on the DC would; it returns the tool's result.
func (d *sambaDomain) ldbModify(t *testing.T, ldif string, args ...string) result {
	t.Helper()
	path := filepath.Join(d.dir, "change-"+randomSecret()[:6]+".ldif")
	if err := os.WriteFile(path, []byte(ldif), 0o600); err != nil {
		t.Fatal(err)
	}
	return run(t, d.env, "", tool(t, "ldbmodify"), append(append([]string{"-H", filepath.Join(d.dir, "private", "sam.ldb")}, args...), path)...)
}

// ldapDial binds to the domain's DC over ldaps:// as HUB02$ with an
// exported keytab, through exauth's own Kerberos client.
func (d *sambaDomain) ldapDial(t *testing.T) *directory.Conn {
	t.Helper()
	krb5, err := krbclient.LoadKrb5Conf(d.krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := krbclient.FromKeytab(d.keytab("HUB02$"), clientPrin)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := krbclient.New(krbclient.Config{Krb5: krb5}, creds)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := directory.Dial(ctx, directory.Config{
		URL: "ldaps://dc1.lab.test", Connect: d.addr + ":636",
		// Samba's self-signed certificate names the DC only in its
		// Common Name, which Go does not match host names against (it
		// wants a SAN): skip the check; the Kerberos bind's mutual
		// authentication proves the server holds ldap/dc1.lab.test's key.
		InsecureSkipVerify: true,
		Bind:               directory.Bind{Kerberos: directory.FromKrbClient(kc)},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestSambaLDAP reads a real AD (Samba's) through the directory package
// and the exauth spn command, bound with Kerberos as HUB02$: SPN holders,
// an account's key version, encryption types and state as they change,
// and a duplicated SPN.
func TestSambaLDAP(t *testing.T) {
	d := newSambaDomain(t, sambaLDAPAddr)
	d.allowSASLOverTLS(t)
	c := d.ldapDial(t)
	ctx := context.Background()
	if c.SPN() != "ldap/dc1.lab.test" || c.BaseDN() != "DC=lab,DC=test" {
		t.Errorf("bound with SPN %q, base %q; want ldap/dc1.lab.test, DC=lab,DC=test", c.SPN(), c.BaseDN())
	}
	hub02Keytab := d.keytab("HUB02$")
	cliEnv := baseEnv() // cmd/exauth sets x509negativeserial itself (go:debug)
	cli := func(want int, args ...string) map[string]any {
		t.Helper()
		args = append([]string{"spn", "--json", "--ldap", "ldaps://" + d.addr, "--insecure-skip-verify",
			"--krb5-conf", d.krb5Conf, "--keytab", hub02Keytab, "--principal", clientPrin}, args...)
		res := run(t, cliEnv, "", exauthBinary(t), args...)
		var out map[string]any
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || res.code != want {
			t.Fatalf("exauth %s: exit %d (want %d), %v\n%s", strings.Join(args, " "), res.code, want, err, res)
		}
		return out
	}
	account := func() *directory.Account {
		t.Helper()
		a, err := c.Account(ctx, "HUB01$")
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	t.Run("holders", func(t *testing.T) {
		holders, err := c.SPNHolders(ctx, strings.ToUpper(xexpsSPN))
		if err != nil {
			t.Fatal(err)
		}
		if len(holders) != 1 || holders[0].SAMAccountName != "HUB01$" || holders[0].DN != "CN=HUB01,CN=Computers,DC=lab,DC=test" {
			t.Fatalf("holders of %s: %+v, want HUB01$ (AD compares SPNs case-insensitively)", xexpsSPN, holders)
		}
		none, err := c.SPNHolders(ctx, "SMTPSVC/nobody.lab.test")
		if err != nil || len(none) != 0 {
			t.Errorf("holders of an unknown SPN: %+v, %v", none, err)
		}
		out := cli(0, xexpsSPN)
		if hs, _ := out["holders"].([]any); out["status"] != "ok" || len(hs) != 1 || hs[0].(map[string]any)["sam_account_name"] != "HUB01$" {
			t.Errorf("exauth spn --json: %v", out)
		}
		if out := cli(2, "SMTPSVC/nobody.lab.test"); out["status"] != "missing" {
			t.Errorf("unknown SPN: %v", out)
		}
		if _, err := c.Account(ctx, "NOBODY$"); !errors.Is(err, directory.ErrNoSuchAccount) {
			t.Errorf("Account(NOBODY$) = %v, want ErrNoSuchAccount", err)
		}
	})

	t.Run("kvno", func(t *testing.T) {
		before := account()
		if before.KeyVersion == nil || before.SupportedEncryptionTypes != nil || before.Disabled {
			t.Fatalf("HUB01$: %+v; want a kvno, msDS-SupportedEncryptionTypes unset, enabled", before)
		}
		d.tool("user", "setpassword", "HUB01$", "--newpassword=Hub01-Changed!"+randomSecret()[:8])
		after := account()
		if after.KeyVersion == nil || *after.KeyVersion <= *before.KeyVersion {
			t.Errorf("kvno %v after a password change, was %d", after.KeyVersion, *before.KeyVersion)
		}
	})

	t.Run("enctypes", func(t *testing.T) {
		r := d.ldbModify(t, "dn: CN=HUB01,CN=Computers,DC=lab,DC=test\nchangetype: modify\nreplace: msDS-SupportedEncryptionTypes\nmsDS-SupportedEncryptionTypes: 24\n")
		if r.code != 0 {
			t.Fatalf("ldbmodify: %s", r)
		}
		a := account()
		if a.SupportedEncryptionTypes == nil || *a.SupportedEncryptionTypes != 24 {
			t.Errorf("msDS-SupportedEncryptionTypes %v, want 24", a.SupportedEncryptionTypes)
		}
		if got := strings.Join(a.EncryptionTypeNames(), ","); got != "aes128-cts-hmac-sha1-96,aes256-cts-hmac-sha1-96" {
			t.Errorf("enctype names %s", got)
		}
	})

	// The probe, through the fake hub holding HUB01$'s current keys, with
	// the directory as evidence (smtpprobe.DirectorySettings).
	probeWithDirectory := func(t *testing.T, hubKeytab string, ds smtpprobe.DirectorySettings) *verdict.Report {
		t.Helper()
		h := d.hub(hubKeytab)
		return probe(t, smtpprobe.Config{
			Host: hubHost, Connect: h.srv.Addr(), RootCAs: h.pki.pool,
			Kerberos:  kerberos.New(kerberos.Settings{Krb5Conf: d.krb5Conf, Keytab: hub02Keytab, Principal: clientPrin}),
			Directory: &ds,
		})
	}
	probeWithLDAP := func(t *testing.T, hubKeytab string, dcs ...string) *verdict.Report {
		t.Helper()
		if dcs == nil {
			dcs = []string{"ldaps://" + d.addr}
		}
		return probeWithDirectory(t, hubKeytab, smtpprobe.DirectorySettings{URLs: dcs, InsecureSkipVerify: true})
	}
	t.Run("probe/ok-directory-not-read", func(t *testing.T) {
		r := probeWithLDAP(t, d.keytab("HUB01$"))
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if r.Directory != nil {
			t.Errorf("directory read for a probe that passed: %+v", r.Directory)
		}
	})
	// A monitor's setting (a plan's or exporter module's ldap_every_probe):
	// the directory is read after a probe that passed too, each DC's key
	// version with it, and DCs that agree give no key-version-differs.
	t.Run("probe/ok-every-probe-reads-directory", func(t *testing.T) {
		r := probeWithDirectory(t, d.keytab("HUB01$"), smtpprobe.DirectorySettings{
			URLs: []string{"ldaps://" + d.addr, "ldaps://" + d.addr + ":636"}, InsecureSkipVerify: true, EveryProbe: true})
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if r.Directory == nil || r.Directory.Err != "" {
			t.Fatalf("directory not read for a probe that passed, with EveryProbe: %+v", r.Directory)
		}
		if kv := r.Directory.KeyVersions; len(kv) != 2 || kv[0].KeyVersion == nil || kv[1].KeyVersion == nil || *kv[0].KeyVersion != *kv[1].KeyVersion {
			t.Errorf("key versions by DC: %+v; want two that agree", kv)
		}
		if slices.Contains(r.Warnings, verdict.WarningKeyVersionDiffers) {
			t.Errorf("warnings %v for DCs that agree", r.Warnings)
		}
	})
	t.Run("probe/spn-missing", func(t *testing.T) {
		d.tool("spn", "delete", xexpsSPN, "HUB01$")
		defer d.tool("spn", "add", xexpsSPN, "HUB01$")
		r := probeWithLDAP(t, d.keytab("HUB01$"))
		expectVerdict(t, r, verdict.VerdictSPNMissing, 2)
		if r.Directory == nil || r.Directory.Err != "" || len(r.Directory.Holders) != 0 || r.Directory.Sender == nil || r.Directory.Sender.Name != "HUB02$" {
			t.Errorf("directory %+v; want no holder and the sender HUB02$", r.Directory)
		}
		// The same through the command line, with --ldap.
		h := d.hub(d.keytab("HUB01$"))
		res := run(t, cliEnv, "", exauthBinary(t), "probe", "--json", "--connect", h.srv.Addr(), "--ehlo", "hub02.lab.test",
			"--krb5-conf", d.krb5Conf, "--keytab", hub02Keytab, "--principal", clientPrin,
			"--ldap", "ldaps://"+d.addr, "--ldap-insecure-skip-verify", hubHost)
		var out struct {
			Verdict   string
			Directory *struct {
				Server  string
				Holders []any
			}
		}
		if err := json.Unmarshal([]byte(res.stdout), &out); err != nil || res.code != 2 || out.Verdict != "spn-missing" || out.Directory == nil || out.Directory.Holders == nil || len(out.Directory.Holders) != 0 {
			t.Errorf("exauth probe --ldap: exit %d, %+v, %v\n%s", res.code, out, err, res)
		}
	})

	t.Run("probe/key-mismatch-directory-evidence", func(t *testing.T) {
		stale := d.keytab("HUB01$")
		d.tool("user", "setpassword", "HUB01$", "--newpassword=Hub01-Again!"+randomSecret()[:8])
		// The one DC under two URLs stands in for two DCs: the key
		// version is read from each (they agree, as one DC must).
		r := probeWithLDAP(t, stale, "ldaps://"+d.addr, "ldaps://"+d.addr+":636")
		expectVerdict(t, r, verdict.VerdictKeyMismatch, 2)
		if kv := r.Directory.KeyVersions; len(kv) != 2 || kv[0].KeyVersion == nil || kv[1].KeyVersion == nil || *kv[0].KeyVersion != *kv[1].KeyVersion {
			t.Errorf("key versions by DC: %+v; want two that agree", kv)
		}
		if !slices.ContainsFunc(r.Evidence, func(e string) bool {
			return strings.Contains(e, "has "+xexpsSPN+" on HUB01$ (CN=HUB01,CN=Computers,DC=lab,DC=test)")
		}) {
			t.Errorf("no evidence naming the SPN's holder:\n%s", reportText(r))
		}
	})

	t.Run("disabled", func(t *testing.T) {
		d.tool("user", "disable", "HUB01$")
		defer d.tool("user", "enable", "HUB01$")
		if a := account(); !a.Disabled {
			t.Errorf("HUB01$ not disabled after samba-tool user disable: %+v", a)
		}
		// Samba still issues tickets for the disabled account's SPN, but
		// the hub, as HUB01$, cannot log in for its reverse ticket:
		// ExchangeAuth is refused while X-EXPS GSSAPI works, and the
		// directory names the disabled account as the cause.
		r := probeWithLDAP(t, d.keytab("HUB01$"))
		expectVerdict(t, r, verdict.VerdictAuthTemporaryFailure, 2)
		if !strings.Contains(r.Summary, "HUB01$ disabled") {
			t.Errorf("summary %q does not name the disabled account", r.Summary)
		}
	})

	t.Run("duplicate", func(t *testing.T) {
		if dups, err := c.Duplicates(ctx, nil); err != nil || len(dups) != 0 {
			t.Fatalf("Duplicates before: %+v, %v", dups, err)
		}
		if out := cli(0, "--duplicates"); len(out["duplicates"].([]any)) != 0 {
			t.Errorf("exauth spn --duplicates: %v", out)
		}
		d.duplicateSPN(t, "CN=HUB02,CN=Computers,DC=lab,DC=test", xexpsSPN)
		dups, err := c.Duplicates(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(dups) != 1 || !strings.EqualFold(dups[0].SPN, xexpsSPN) || len(dups[0].Accounts) != 2 ||
			dups[0].Accounts[0].SAMAccountName != "HUB01$" || dups[0].Accounts[1].SAMAccountName != "HUB02$" {
			t.Fatalf("Duplicates: %+v; want %s on HUB01$ and HUB02$", dups, xexpsSPN)
		}
		// The KDC answers a duplicate as it does a missing SPN; the
		// directory tells them apart and names both holders.
		r := probeWithLDAP(t, d.keytab("HUB01$"))
		// Samba, like Windows, answers KDC_ERR_S_PRINCIPAL_UNKNOWN.
		expectVerdict(t, r, verdict.VerdictSPNDuplicate, 2)
		if !strings.Contains(r.Summary, "HUB01$") || !strings.Contains(r.Summary, "HUB02$") {
			t.Errorf("summary %q does not name both holders", r.Summary)
		}
		if dups, err := c.Duplicates(ctx, []string{"HTTP"}); err != nil || len(dups) != 0 {
			t.Errorf("Duplicates(HTTP): %+v, %v", dups, err)
		}
		if out := cli(2, xexpsSPN); out["status"] != "duplicated" || len(out["holders"].([]any)) != 2 {
			t.Errorf("exauth spn on a duplicated SPN: %v", out)
		}
		out := cli(2, "--duplicates", "--class", "SMTPSVC")
		ds, _ := out["duplicates"].([]any)
		if len(ds) != 1 || len(ds[0].(map[string]any)["accounts"].([]any)) != 2 {
			t.Errorf("exauth spn --duplicates: %v", out)
		}
		// Text output: each SPN with its holders' DNs and names.
		res := run(t, cliEnv, "", exauthBinary(t), "spn", "--duplicates", "--ldap", "ldaps://"+d.addr, "--insecure-skip-verify",
			"--krb5-conf", d.krb5Conf, "--keytab", hub02Keytab, "--principal", clientPrin)
		if res.code != 2 || !strings.Contains(res.stdout, "CN=HUB01,CN=Computers,DC=lab,DC=test (HUB01$)") || !strings.Contains(res.stdout, "CN=HUB02,CN=Computers,DC=lab,DC=test (HUB02$)") {
			t.Errorf("exauth spn --duplicates (text): %s", res)
		}
	})

}

// duplicateSPN adds spn to the object dn although another account holds
// it. Samba's samldb module refuses that on every path that loads it
// (LDAP, samba-tool, ldbmodify on sam.ldb, even with the relax control:
// "spn ... would cause a conflict"), so this writes to the domain
// partition's own ldb file, below the module stack, as a replication
// conflict or an older DC would have left it. The ldb backend still
// maintains its indexes, so LDAP searches find the value.
func (d *sambaDomain) duplicateSPN(t *testing.T, dn, spn string) {
	t.Helper()
	part := filepath.Join(d.dir, "private", "sam.ldb.d", "DC=LAB,DC=TEST.ldb")
	path := filepath.Join(d.dir, "duplicate-spn.ldif")
	ldif := "dn: " + dn + "\nchangetype: modify\nadd: servicePrincipalName\nservicePrincipalName: " + spn + "\n"
	if err := os.WriteFile(path, []byte(ldif), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, d.env, "", tool(t, "ldbmodify"), "-H", part, path)
}
