//go:build interop

package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/interop/mitrealm"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// mitRealm is an MIT Kerberos realm LAB.TEST created by the test in a
// temporary directory, served by krb5kdc on a free loopback port. Its
// clients request and accept AES only, as on Windows Server 2008+ domains
// where RC4 is disabled.
type mitRealm struct {
	*mitrealm.Realm
	t        testing.TB
	dir      string
	addr     string // host:port of krb5kdc, TCP and UDP
	krb5Conf string // the clients' krb5.conf (probe, kinit, kvno)
	env      []string
	logFile  string
}

// newMITRealm creates the database, the client principal HUB02$
// (pre-authentication required, as Active Directory does) and
// SMTPSVC/hub01.lab.test, and starts krb5kdc.
func newMITRealm(t testing.TB) *mitRealm {
	t.Helper()
	requireTools(t, "krb5-kdc", "krb5kdc", "kdb5_util")
	requireTools(t, "krb5-admin-server", "kadmin.local")
	requireTools(t, "krb5-user", "kinit", "klist", "kvno")
	dir := t.TempDir()
	realm, err := mitrealm.Create(mitrealm.Options{
		Realm: realmName, Dir: dir, Addr: "127.0.0.1:" + strconv.Itoa(freePort(t)),
		Env: []string{
			"KRB5CCNAME=FILE:" + filepath.Join(dir, "default.ccache"),
			"KRB5_KTNAME=FILE:" + filepath.Join(dir, "default.keytab"),
			"KRB5_TRACE=" + filepath.Join(dir, "trace.log"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := &mitRealm{Realm: realm, t: t, dir: dir, addr: realm.Addr, krb5Conf: realm.Krb5Conf, env: realm.Env, logFile: realm.LogFile}
	onFailure(t, "krb5kdc log", fileText(r.logFile))
	onFailure(t, "MIT client trace (KRB5_TRACE)", fileText(filepath.Join(dir, "trace.log")))
	r.kadmin("addprinc -randkey +requires_preauth " + clientName)
	r.kadmin("addprinc -randkey " + xexpsSPN)
	// MIT has no SPN aliases: the sending server's SMTPSVC name, for
	// ExchangeAuth's reverse ticket, is a principal of its own.
	r.kadmin("addprinc -randkey " + senderSPN)
	r.start()
	return r
}

// start runs krb5kdc and waits until it listens; the test's end stops it.
func (r *mitRealm) start() {
	r.t.Helper()
	if err := r.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { r.stop() })
}

// stop stops krb5kdc by its PID.
func (r *mitRealm) stop() {
	r.t.Helper()
	if err := r.Stop(); err != nil {
		r.t.Error(err)
	}
}

// kadmin runs one kadmin.local query.
func (r *mitRealm) kadmin(query string) string {
	r.t.Helper()
	out, err := r.Kadmin(query)
	if err != nil {
		r.t.Fatal(err)
	}
	return out
}

// ktadd exports the current keys of a principal to a new keytab (mode
// 0600), giving the principal new random keys and key version first.
func (r *mitRealm) ktadd(name, principal string, opts ...string) string {
	r.t.Helper()
	path := filepath.Join(r.dir, name)
	if err := r.Ktadd(path, principal, opts...); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// kinit makes a ccache with MIT kinit from a keytab and returns its path.
func (r *mitRealm) kinit(keytabPath, principal string) string {
	r.t.Helper()
	cc := filepath.Join(r.dir, fmt.Sprintf("ccache-%d", time.Now().UnixNano()))
	mustRun(r.t, r.env, "", tool(r.t, "kinit"), "-c", "FILE:"+cc, "-k", "-t", keytabPath, principal)
	return cc
}

// mitLab is a realm, the client keytab and the fake hub keyed with the
// exported SMTPSVC keytab.
type mitLab struct {
	realm        *mitRealm
	clientKeytab string
	hubKeytab    string
}

func newMITLab(t *testing.T) *mitLab {
	t.Helper()
	r := newMITRealm(t)
	l := &mitLab{
		realm:        r,
		clientKeytab: r.ktadd("client.keytab", clientName),
		hubKeytab:    r.ktadd("hub01.keytab", xexpsSPN),
	}
	// The sending server's keytab holds its SMTPSVC key too (ktadd appends).
	r.ktadd("client.keytab", senderSPN)
	return l
}

func (l *mitLab) keytabSettings() kerberos.Settings {
	return kerberos.Settings{Krb5Conf: l.realm.krb5Conf, Keytab: l.clientKeytab, Principal: clientPrin}
}

// TestMITKDC runs the probe, with the fake connector as hub01, against a
// real MIT KDC: it proves the probe's AS/TGS exchanges, its reading of MIT
// keytabs and ccaches and its KRB-ERROR handling against an implementation
// we did not write, and that the fake connector accepts MIT-issued tickets.
func TestMITKDC(t *testing.T) {
	t.Run("ok/keytab", func(t *testing.T) {
		l := newMITLab(t)
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab)})
		r := h.probe(t, l.keytabSettings())
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if r.Kerberos == nil || r.Kerberos.EType == nil || *r.Kerberos.EType != "aes256-cts-hmac-sha1-96" || r.Kerberos.TicketKVNO == nil || *r.Kerberos.TicketKVNO != 2 {
			t.Errorf("kerberos = %+v; want an aes256 ticket of kvno 2 (MIT's first ktadd)", r.Kerberos)
		}
		if k := r.Observation.Kerberos; k == nil || k.Transport != "udp" {
			t.Errorf("kerberos observation %+v; want transport udp (MIT and gokrb5 try UDP first)", k)
		}
		if !strings.Contains(fileText(l.realm.logFile)(), "ISSUE: authtime") {
			t.Errorf("krb5kdc did not log an issued ticket")
		}
		// Both ExchangeAuth legs with MIT-issued tickets: the hub's reverse
		// ticket to SMTPSVC/hub02.lab.test decrypted with the sender's keytab.
		if a := r.Observation.Auth; a == nil || a.Mechanism != "EXCHANGEAUTH" || a.Reverse == nil || !a.Reverse.Verified {
			t.Errorf("auth = %+v; want ExchangeAuth with a verified reverse leg", a)
		}
		if log := fileText(l.realm.logFile)(); !strings.Contains(log, senderSPN) {
			t.Errorf("krb5kdc issued no ticket for %s (the reverse leg)", senderSPN)
		}
	})
	t.Run("ok/keytab-over-tcp", func(t *testing.T) {
		l := newMITLab(t)
		// udp_preference_limit = 1: every request goes over TCP, with
		// RFC 4120 7.2.2's 4-octet length prefix.
		conf, err := os.ReadFile(l.realm.krb5Conf)
		if err != nil {
			t.Fatal(err)
		}
		tcpConf := filepath.Join(l.realm.dir, "krb5-tcp.conf")
		if err := os.WriteFile(tcpConf, []byte(strings.Replace(string(conf), "[libdefaults]\n", "[libdefaults]\n udp_preference_limit = 1\n", 1)), 0o600); err != nil {
			t.Fatal(err)
		}
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab)})
		ks := l.keytabSettings()
		ks.Krb5Conf = tcpConf
		r := h.probe(t, ks)
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if k := r.Observation.Kerberos; k == nil || k.Transport != "tcp" {
			t.Errorf("kerberos observation %+v; want transport tcp", k)
		}
	})
	t.Run("ok/ccache-from-mit-kinit", func(t *testing.T) {
		l := newMITLab(t)
		cc := l.realm.kinit(l.clientKeytab, clientPrin)
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab)})
		r := h.probe(t, kerberos.Settings{Krb5Conf: l.realm.krb5Conf, CCache: cc})
		expectVerdict(t, r, verdict.VerdictOK, 0)
		if r.Kerberos == nil || r.Kerberos.Client == nil || *r.Kerberos.Client != clientPrin {
			t.Errorf("kerberos = %+v; want client %s read from the ccache", r.Kerberos, clientPrin)
		}
	})
	t.Run("clock-skew/hub-7m-ahead", func(t *testing.T) {
		l := newMITLab(t)
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab), Clock: clock.Offset{By: 7 * time.Minute}})
		r := h.probe(t, l.keytabSettings())
		expectVerdict(t, r, verdict.VerdictClockSkew, 2)
		if s := r.Clocks.ServerVsKDC; s == nil || *s < 400 || *s > 440 {
			t.Errorf("clocks.server_vs_kdc_seconds = %v, want about +420", s)
		}
	})
	t.Run("spn-unknown/delprinc", func(t *testing.T) {
		l := newMITLab(t)
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab)})
		l.realm.kadmin("delprinc -force " + xexpsSPN)
		r := h.probe(t, l.keytabSettings())
		expectVerdict(t, r, verdict.VerdictSPNUnknown, 2)
		if r.Kerberos == nil || r.Kerberos.ErrorName == nil || *r.Kerberos.ErrorName != "KDC_ERR_S_PRINCIPAL_UNKNOWN" {
			t.Errorf("kerberos = %+v; want error KDC_ERR_S_PRINCIPAL_UNKNOWN", r.Kerberos)
		}
	})
	t.Run("key-mismatch/cpw-randkey-after-export", func(t *testing.T) {
		l := newMITLab(t)
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab)})
		// The password change the receiving hub never heard of: the KDC
		// now issues kvno 3, the hub holds kvno 2.
		l.realm.kadmin("cpw -randkey " + xexpsSPN)
		r := h.probe(t, l.keytabSettings())
		expectVerdict(t, r, verdict.VerdictKeyMismatch, 2)
		if r.Kerberos == nil || r.Kerberos.TicketKVNO == nil || *r.Kerberos.TicketKVNO != 3 {
			t.Errorf("kerberos = %+v; want a ticket of kvno 3", r.Kerberos)
		}
		if !strings.Contains(h.log.String(), "event 1035") {
			t.Errorf("the fake hub did not log event 1035")
		}
	})
	t.Run("etype-unsupported/service-rc4-only", func(t *testing.T) {
		l := newMITLab(t)
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab)})
		// The service account restricted to RC4 (msDS-SupportedEncryptionTypes
		// = RC4 on a Windows DC): an RC4 key only, and RC4 as the only
		// session key type it supports. MIT otherwise assumes every service
		// supports aes256 session keys and would issue the ticket.
		l.realm.kadmin("cpw -randkey -e rc4-hmac:normal " + xexpsSPN)
		l.realm.kadmin("set_string " + xexpsSPN + " session_enctypes rc4-hmac")
		r := h.probe(t, l.keytabSettings())
		expectVerdict(t, r, verdict.VerdictETypeUnsupported, 2)
		if r.Kerberos == nil || r.Kerberos.ErrorName == nil || *r.Kerberos.ErrorName != "KDC_ERR_ETYPE_NOSUPP" {
			t.Errorf("kerberos = %+v; want error KDC_ERR_ETYPE_NOSUPP", r.Kerberos)
		}
		// MIT kvno with the same AES-only krb5.conf agrees.
		cc := l.realm.kinit(l.clientKeytab, clientPrin)
		res := run(t, l.realm.env, "", tool(t, "kvno"), "-c", "FILE:"+cc, xexpsSPN)
		if res.code == 0 || !strings.Contains(res.stderr, "KDC has no support for encryption type") {
			t.Errorf("MIT kvno: %s\nwant a failure \"KDC has no support for encryption type\"", res)
		}
	})
	t.Run("kdc-unreachable/krb5kdc-stopped", func(t *testing.T) {
		l := newMITLab(t)
		h := startHub(t, hubOptions{Krb5Conf: l.realm.krb5Conf, Principal: xexpsSPN + "@" + realmName, Keytab: loadKeytab(t, l.hubKeytab)})
		l.realm.stop()
		r := h.probe(t, l.keytabSettings())
		expectVerdict(t, r, verdict.VerdictKDCUnreachable, 2)
	})
}
