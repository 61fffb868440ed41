//go:build interop

package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// postfixSPN is the principal Cyrus SASL accepts for Postfix: the
// service name is smtpd_sasl_service ("smtp", lower case) and MIT
// principal names are case-sensitive, so it is not exauth's default
// SMTP/<host> for AUTH.
const postfixSPN = "smtp/" + hubHost

// postfix is a Postfix instance of the test's own: its configuration
// directory, queue and log in a temporary directory, master(8) in the
// foreground, smtpd on a free loopback port.
type postfix struct {
	dir, conf string
	keytab    string // the keytab Cyrus SASL / MIT GSSAPI accept with
	maillog   string
	addr      string
	pki       *testPKI
	master    *proc
	uid, gid  int
}

// startPostfix configures Postfix for AUTH GSSAPI over STARTTLS through
// Cyrus SASL, keyed with keytabPath, and starts it.
func startPostfix(t *testing.T, realm *mitRealm, keytabPath string) *postfix {
	t.Helper()
	requireTools(t, "postfix", "postfix", "master")
	if os.Geteuid() != 0 {
		t.Skip("Postfix's master(8) must start as root (run the interop suite as root, as CI does)")
	}
	pfUser, err := user.Lookup("postfix")
	if err != nil {
		t.Skipf("no postfix user (%v): apt-get install postfix", err)
	}
	if m, _ := filepath.Glob("/usr/lib/*/sasl2/libgssapiv2.so*"); len(m) == 0 {
		t.Skip("Cyrus SASL GSSAPI plugin not installed: apt-get install libsasl2-modules-gssapi-mit sasl2-bin")
	}
	uid, _ := strconv.Atoi(pfUser.Uid)
	gid, _ := strconv.Atoi(pfUser.Gid)

	// Postfix's daemons run as the postfix user and must traverse the
	// directory; t.TempDir is 0700 root.
	dir, err := os.MkdirTemp("", "exauth-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) }) // runs after master stops (cleanups are LIFO)
	p := &postfix{dir: dir, conf: filepath.Join(dir, "conf"), maillog: filepath.Join(dir, "maillog"),
		keytab: filepath.Join(dir, "smtp.keytab"), uid: uid, gid: gid}
	p.addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	for _, d := range []string{dir, p.conf, filepath.Join(p.conf, "sasl"), filepath.Join(dir, "queue"), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(filepath.Join(dir, "data"), uid, gid); err != nil {
		t.Fatal(err)
	}
	onFailure(t, "Postfix maillog", fileText(p.maillog))
	p.installKeytab(t, keytabPath)

	// TLS: a certificate for hub01.lab.test from a CA made for the test.
	p.pki = newTestPKI(t)
	write := func(path string, data []byte, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "cert.pem"), p.pki.certPEM, 0o644)
	// smtpd reads its key as root before it drops privileges.
	write(filepath.Join(dir, "key.pem"), p.pki.keyPEM, 0o600)

	// The acceptor's krb5.conf. ignore_acceptor_hostname: Cyrus asks
	// GSS-API for "smtp@<this machine's hostname>", which is not
	// hub01.lab.test; MIT then accepts any smtp/* key in the keytab.
	write(filepath.Join(dir, "krb5.conf"), []byte(fmt.Sprintf(`[libdefaults]
 default_realm = %s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 rdns = false
 dns_canonicalize_hostname = false
 ignore_acceptor_hostname = true
[realms]
 %s = {
  kdc = %s
 }
`, realmName, realmName, realm.addr)), 0o644)

	write(filepath.Join(p.conf, "main.cf"), []byte(fmt.Sprintf(`compatibility_level = 3.6
myhostname = %[2]s
mydomain = lab.test
mydestination =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
queue_directory = %[1]s/queue
data_directory = %[1]s/data
# maillog_file must start with one of maillog_file_prefixes (default
# /var, /dev/stdout); otherwise every postfix command fails silently.
maillog_file_prefixes = %[1]s
maillog_file = %[3]s
mail_owner = postfix
setgid_group = postdrop
alias_maps =
alias_database =
smtpd_banner = $myhostname ESMTP Postfix (exauth interop)
smtpd_tls_security_level = may
smtpd_tls_cert_file = %[1]s/cert.pem
smtpd_tls_key_file = %[1]s/key.pem
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_service = smtp
smtpd_sasl_security_options = noanonymous
# Debian's Postfix reads Cyrus's smtpd.conf from $config_directory/sasl
# and ignores other values of this parameter; upstream Postfix uses it.
cyrus_sasl_config_path = %[4]s/sasl
# master(8) clears the environment of its daemons: the keytab and the
# krb5.conf reach Cyrus's GSSAPI plugin only through import_environment.
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C LC_ALL=C KRB5_KTNAME=FILE:%[5]s KRB5_CONFIG=%[1]s/krb5.conf
`, dir, hubHost, p.maillog, p.conf, p.keytab)), 0o644)
	// chroot off (column 5): the daemons read files under dir.
	write(filepath.Join(p.conf, "master.cf"), []byte(fmt.Sprintf(`%s inet n - n - - smtpd
anvil     unix  -       -       n       -       1       anvil
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
rewrite   unix  -       -       n       -       -       trivial-rewrite
cleanup   unix  n       -       n       -       0       cleanup
proxymap  unix  -       -       n       -       -       proxymap
`, p.addr)), 0o644)
	// Cyrus SASL: GSSAPI only. The "keytab:" option only works with
	// Heimdal; with MIT, KRB5_KTNAME names the keytab.
	write(filepath.Join(p.conf, "sasl", "smtpd.conf"), []byte("mech_list: GSSAPI\nlog_level: 7\n"), 0o644)

	env := baseEnv("MAIL_CONFIG=" + p.conf)
	// postfix check creates the queue directories and checks ownership.
	if res := run(t, env, "", tool(t, "postfix"), "-c", p.conf, "check"); res.code != 0 {
		t.Fatalf("postfix -c %s check: %s", p.conf, res)
	}
	// master -d stays in the foreground: the test knows its PID and
	// stops it with SIGTERM, upon which master stops its children.
	p.master = startProc(t, env, tool(t, "master"), "-c", p.conf, "-d")
	waitListening(t, p.master, p.addr, fileText(p.maillog))
	return p
}

// installKeytab copies a keytab to where Postfix reads it, owned by the
// postfix user with mode 0600, atomically (MIT reads the keytab on every
// authentication, so a running smtpd sees the change).
func (p *postfix) installKeytab(t *testing.T, src string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p.installKeytabBytes(t, b)
}

func (p *postfix) installKeytabBytes(t *testing.T, b []byte) {
	t.Helper()
	tmp := p.keytab + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, p.uid, p.gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p.keytab); err != nil {
		t.Fatal(err)
	}
}

func (p *postfix) probeConfig(ks kerberos.Settings) smtpprobe.Config {
	return smtpprobe.Config{
		Host: hubHost, Connect: p.addr, Mech: verdict.MechAUTH, TLS: verdict.TLSStartTLS, SPN: postfixSPN,
		RootCAs: p.pki.pool, Kerberos: kerberos.New(ks),
	}
}

// cliProbe runs `exauth probe --json` against Postfix and returns the exit
// code and the decoded report.
func (p *postfix) cliProbe(t *testing.T, realm *mitRealm, clientKeytab string, extra ...string) (int, map[string]any, result) {
	t.Helper()
	args := append([]string{"probe", hubHost, "--connect", p.addr, "--mech", "auth", "--tls", "starttls",
		"--krb5-conf", realm.krb5Conf, "--keytab", clientKeytab, "--principal", clientPrin,
		"--ca-file", p.pki.caFile, "--json"}, extra...)
	res := run(t, baseEnv(), "", exauthBinary(t), args...)
	var rep map[string]any
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("exauth %s: output is not one JSON object: %v\n%s", strings.Join(args, " "), err, res)
	}
	return res.code, rep, res
}

// TestPostfixCyrusGSSAPI probes Postfix with Cyrus SASL's GSSAPI
// mechanism (MIT GSS-API underneath) over STARTTLS: an RFC 4752 server we
// did not write, security-layer step included.
func TestPostfixCyrusGSSAPI(t *testing.T) {
	realm := newMITRealm(t)
	realm.kadmin("addprinc -randkey " + postfixSPN)
	clientKeytab := realm.ktadd("client.keytab", clientName)
	pf := startPostfix(t, realm, realm.ktadd("smtp.keytab", postfixSPN))
	ks := kerberos.Settings{Krb5Conf: realm.krb5Conf, Keytab: clientKeytab, Principal: clientPrin}

	t.Run("ok", func(t *testing.T) {
		r := probe(t, pf.probeConfig(ks))
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if o := r.Observation; o == nil || o.Auth == nil || !o.Auth.Mutual {
			t.Errorf("Cyrus sent an AP-REP: mutual authentication should be verified")
		}
		if !strings.Contains(strings.Join(r.Capabilities, "\n"), "AUTH GSSAPI") {
			t.Errorf("capabilities after STARTTLS = %q, want AUTH GSSAPI (smtpd_tls_auth_only)", r.Capabilities)
		}
	})
	t.Run("ok/auto-choices", func(t *testing.T) {
		// --mech auto and --tls auto: Postfix offers neither X-EXPS nor
		// X-ANONYMOUSTLS, so the probe picks STARTTLS and AUTH GSSAPI.
		cfg := pf.probeConfig(ks)
		cfg.Mech, cfg.TLS = verdict.MechAuto, verdict.TLSAuto
		r := probe(t, cfg)
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if o := r.Observation; o.TLS == nil || o.TLS.Verb != "STARTTLS" || o.Auth == nil || o.Auth.Verb != "AUTH" {
			t.Errorf("auto chose TLS %+v, auth %+v; want STARTTLS and AUTH", o.TLS, o.Auth)
		}
	})
	t.Run("ok/command-line", func(t *testing.T) {
		code, rep, res := pf.cliProbe(t, realm, clientKeytab, "--spn", postfixSPN)
		if code != 0 || rep["verdict"] != "ok" {
			t.Errorf("exauth probe: verdict %v, exit %d; want ok, 0\n%s", rep["verdict"], code, res)
		}
	})
	t.Run("spn-unknown/default-SMTP-spn", func(t *testing.T) {
		// Without --spn, AUTH uses SMTP/<host> (Exchange's SPN, found
		// case-insensitively by Active Directory); MIT's principal names
		// are case-sensitive, so against an MIT realm the SPN is unknown.
		code, rep, res := pf.cliProbe(t, realm, clientKeytab)
		if code != 2 || rep["verdict"] != "spn-unknown" {
			t.Errorf("exauth probe: verdict %v, exit %d; want spn-unknown, 2\n%s", rep["verdict"], code, res)
		}
	})
	t.Run("auth-rejected/stale-keytab", func(t *testing.T) {
		// The KDC's key changes (kvno 3); Postfix keeps kvno 2. Cyrus
		// answers 535 5.7.8 and sends no GSS-API error token, so the probe
		// can only say the credentials were refused.
		realm.kadmin("cpw -randkey " + postfixSPN)
		r := probe(t, pf.probeConfig(ks))
		expectVerdict(t, r, verdict.VerdictAuthRejected, 2)
		expectFinal(t, r, 535, "5.7.8")
		expectLog(t, pf.maillog, "not found in keytab")
	})
	t.Run("auth-rejected/wrong-key-same-kvno", func(t *testing.T) {
		// A keytab at the KDC's current key version but with another key
		// (a keytab made with the wrong password).
		kt := keytab.New()
		secret := randomSecret()
		for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96} {
			if err := kt.AddEntry(postfixSPN, realmName, secret, time.Now(), 3, et); err != nil {
				t.Fatal(err)
			}
		}
		b, err := kt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		pf.installKeytabBytes(t, b)
		r := probe(t, pf.probeConfig(ks))
		expectVerdict(t, r, verdict.VerdictAuthRejected, 2)
		expectFinal(t, r, 535, "5.7.8")
		expectLog(t, pf.maillog, "SASL GSSAPI authentication failed")
		code, rep, res := pf.cliProbe(t, realm, clientKeytab, "--spn", postfixSPN)
		if code != 2 || rep["verdict"] != "auth-rejected" {
			t.Errorf("exauth probe: verdict %v, exit %d; want auth-rejected, 2\n%s", rep["verdict"], code, res)
		}
	})
	t.Run("ok/keytab-fixed", func(t *testing.T) {
		pf.installKeytab(t, realm.ktadd("smtp-new.keytab", postfixSPN))
		expectVerdict(t, probe(t, pf.probeConfig(ks)), verdict.VerdictOK, 0)
	})
}

func expectFinal(t *testing.T, r *verdict.Report, code int, enhanced string) {
	t.Helper()
	o := r.Observation
	if o == nil || o.Auth == nil || o.Auth.Final == nil {
		t.Errorf("no final AUTH reply recorded")
		return
	}
	if f := o.Auth.Final; f.Code != code || f.Enhanced != enhanced {
		t.Errorf("final AUTH reply %q; want %d %s", f.String(), code, enhanced)
	}
}

// expectLog waits briefly for a log line (postlogd writes asynchronously).
func expectLog(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if strings.Contains(fileText(path)(), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s does not contain %q", path, want)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
