//go:build interop

package interop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

const (
	fakeClientPassword = "hub02-password"
	fakeHubPassword    = "hub01-password-v3"
)

// fakeKDCLab is our fake KDC with one encryption type for every account
// and for the krb5.conf it writes, and MIT client tools pointed at it.
type fakeKDCLab struct {
	kdc      *fakekdc.KDC
	dir      string
	krb5Conf string
	ccache   string
	env      []string
	log      *syncBuffer
}

func newFakeKDCLab(t *testing.T, etype int32) *fakeKDCLab {
	t.Helper()
	requireTools(t, "krb5-user", "kinit", "kvno", "klist")
	l := &fakeKDCLab{dir: t.TempDir(), log: &syncBuffer{}}
	k, err := fakekdc.Start(fakekdc.Config{
		Realm: realmName,
		Accounts: []fakekdc.Account{
			{Name: clientName, Password: fakeClientPassword, ETypes: []int32{etype}, SPNs: []string{senderSPN}},
			{Name: "HUB01$", Password: fakeHubPassword, KVNO: 3, ETypes: []int32{etype},
				SPNs: []string{xexpsSPN, "SMTP/" + hubHost}},
		},
		ClientETypes: []int32{etype},
		Logf:         l.log.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	onFailure(t, "fake KDC log", l.log.String)
	l.kdc = k
	l.krb5Conf = filepath.Join(l.dir, "krb5.conf")
	if err := os.WriteFile(l.krb5Conf, k.Krb5Conf(), 0o600); err != nil {
		t.Fatal(err)
	}
	l.ccache = filepath.Join(l.dir, "ccache")
	trace := filepath.Join(l.dir, "trace.log")
	l.env = baseEnv(
		"KRB5_CONFIG="+l.krb5Conf,
		"KRB5CCNAME=FILE:"+l.ccache,
		"KRB5_KTNAME=FILE:"+filepath.Join(l.dir, "none.keytab"),
		"KRB5_TRACE="+trace,
	)
	onFailure(t, "MIT client trace (KRB5_TRACE)", fileText(trace))
	return l
}

func (l *fakeKDCLab) keytab(t *testing.T, account, name string) string {
	t.Helper()
	kt, err := l.kdc.Keytab(account, 0)
	if err != nil {
		t.Fatal(err)
	}
	return writeKeytab(t, kt, filepath.Join(l.dir, name))
}

// TestFakeKDCWithMITClients logs in with MIT kinit to our fake KDC (with
// a password on stdin and from a keytab, AES256 and AES128), gets a
// service ticket with kvno, lists it with klist -e, and hands the ccache
// MIT wrote to the probe, which must read it and authenticate to the fake
// hub. fakeserver/kdc_mit_test.go covers kinit/kvno faults; this test is
// the ccache -> probe path and the AES128 etype.
func TestFakeKDCWithMITClients(t *testing.T) {
	for _, et := range []struct {
		name string
		id   int32
	}{
		{"aes256-cts-hmac-sha1-96", etypeID.AES256_CTS_HMAC_SHA1_96},
		{"aes128-cts-hmac-sha1-96", etypeID.AES128_CTS_HMAC_SHA1_96},
	} {
		for _, login := range []string{"password", "keytab"} {
			t.Run(et.name+"/"+login, func(t *testing.T) {
				l := newFakeKDCLab(t, et.id)
				kinit := tool(t, "kinit")
				if login == "password" {
					// MIT kinit reads the password from stdin when it is
					// not a terminal.
					mustRun(t, l.env, fakeClientPassword+"\n", kinit, clientPrin)
				} else {
					mustRun(t, l.env, "", kinit, "-k", "-t", l.keytab(t, clientName, "client.keytab"), clientPrin)
				}
				if res := mustRun(t, l.env, "", tool(t, "kvno"), xexpsSPN); !strings.Contains(res.stdout, xexpsSPN+"@"+realmName+": kvno = 3") {
					t.Errorf("kvno: %s\nwant kvno = 3", res)
				}
				res := mustRun(t, l.env, "", tool(t, "klist"), "-e")
				for _, want := range []string{
					"Default principal: " + clientPrin,
					"krbtgt/" + realmName + "@" + realmName,
					xexpsSPN + "@" + realmName,
					"Etype (skey, tkt): " + et.name + ", " + et.name,
				} {
					if !strings.Contains(res.stdout, want) {
						t.Errorf("klist -e lacks %q:\n%s", want, res.stdout)
					}
				}
				// MIT decrypts the service ticket with the hub's keytab.
				hubKeytab := l.keytab(t, "HUB01$", "hub01.keytab")
				if res := mustRun(t, l.env, "", tool(t, "kvno"), "-k", hubKeytab, xexpsSPN); !strings.Contains(res.stdout, "keytab entry valid") {
					t.Errorf("kvno -k: %s\nwant keytab entry valid", res)
				}

				// ExchangeAuth's reverse ticket: MIT's kvno gets a ticket for
				// the sending server's own SPN and decrypts it with that
				// account's keytab, as the probe does in the reverse leg.
				clientKeytab := l.keytab(t, clientName, "client-keys.keytab")
				if res := mustRun(t, l.env, "", tool(t, "kvno"), "-k", clientKeytab, senderSPN); !strings.Contains(res.stdout, "keytab entry valid") {
					t.Errorf("kvno -k %s: %s\nwant keytab entry valid", senderSPN, res)
				}

				h := startHub(t, hubOptions{Keytab: loadKeytab(t, hubKeytab), Capabilities: capsWithAuthGSSAPI(), Krb5Conf: l.krb5Conf, Principal: "HUB01$@" + realmName})
				r := h.probe(t, kerberos.Settings{Krb5Conf: l.krb5Conf, CCache: l.ccache})
				expectVerdict(t, r, verdict.VerdictOK, 0)
				if r.Kerberos == nil || r.Kerberos.EType == nil || *r.Kerberos.EType != et.name {
					t.Errorf("kerberos = %+v; want etype %s", r.Kerberos, et.name)
				}
				if r.Kerberos == nil || r.Kerberos.Client == nil || *r.Kerberos.Client != clientPrin {
					t.Errorf("kerberos = %+v; want client %s from MIT's ccache", r.Kerberos, clientPrin)
				}
				// The same ccache over AUTH GSSAPI (RFC 4752, with the
				// security-layer step), SPN SMTP/hub01.lab.test.
				r = probe(t, smtpprobe.Config{
					Host: hubHost, Connect: h.srv.Addr(), RootCAs: h.pki.pool, Mech: verdict.MechAUTH,
					Kerberos: kerberos.New(kerberos.Settings{Krb5Conf: l.krb5Conf, CCache: l.ccache}),
				})
				expectVerdict(t, r, verdict.VerdictOK, 0)
			})
		}
	}
}
