package fakekdc

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/clock"
)

// kdcMIT runs MIT krb5 client programs against a fake KDC, each with its own
// krb5.conf and credential cache in a temporary directory.
type kdcMIT struct {
	t   *testing.T
	dir string
	env []string
}

func newKDCMIT(t *testing.T, k *KDC) *kdcMIT {
	t.Helper()
	for _, tool := range []string{"kinit", "kvno", "klist"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip("kinit not installed (apt-get install krb5-user)")
		}
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, k.Krb5Conf(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"KRB5_CONFIG="+conf,
		"KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"),
		"KRB5_KTNAME=FILE:"+filepath.Join(dir, "none.keytab"),
		"KRB5_TRACE=/dev/stderr",
		"LC_ALL=C",
	)
	return &kdcMIT{t: t, dir: dir, env: env}
}

// check runs an MIT tool and fails the test unless it exits with wantCode
// and its output or trace contains wantOut. It returns stdout.
func (m *kdcMIT) check(step string, wantCode int, wantOut string, stdin, name string, args ...string) string {
	m.t.Helper()
	code, out, trace := m.run(stdin, name, args...)
	if code != wantCode || !strings.Contains(out+trace, wantOut) {
		m.t.Fatalf("%s: %s %s: exit %d (want %d), output lacks %q\nstdout:\n%s\nstderr:\n%s",
			step, name, strings.Join(args, " "), code, wantCode, wantOut, out, trace)
	}
	return out
}

// writeKeytab exports a keytab from the KDC into the test directory.
func (m *kdcMIT) writeKeytab(kt *keytab.Keytab, name string) string {
	m.t.Helper()
	b, err := kt.Marshal()
	if err != nil {
		m.t.Fatal(err)
	}
	p := filepath.Join(m.dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		m.t.Fatal(err)
	}
	return p
}

// run runs an MIT tool and returns its exit code, stdout and stderr (with
// KRB5_TRACE, stderr is the library's trace of every KDC exchange).
func (m *kdcMIT) run(stdin string, name string, args ...string) (int, string, string) {
	m.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = m.env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			m.t.Fatalf("%s: %v", name, err)
		}
		code = ee.ExitCode()
	}
	return code, out.String(), errb.String()
}

// TestKDC_MITInterop checks that MIT kinit (from a keytab and with a
// password on stdin), kvno and klist accept the fake KDC and its krb5.conf,
// and that MIT's own ticket verification (kvno -k) agrees with the keys the
// KDC exports, including the stale-keytab and wrong-account faults.
func TestKDC_MITInterop(t *testing.T) {
	kdcLeakCheck(t)
	k := startKDC(t, Config{})
	m := newKDCMIT(t, k)
	clientKT, err := k.Keytab("HUB02$", 0)
	if err != nil {
		t.Fatal(err)
	}
	clientPath := m.writeKeytab(clientKT, "client.keytab")
	serviceKT, err := k.Keytab("HUB01$", 0)
	if err != nil {
		t.Fatal(err)
	}
	servicePath := m.writeKeytab(serviceKT, "service.keytab")
	staleKT, err := k.Keytab("HUB01$", 2)
	if err != nil {
		t.Fatal(err)
	}
	stalePath := m.writeKeytab(staleKT, "stale.keytab")

	check := m.check

	check("keytab login", 0, "", "", "kinit", "-k", "-t", clientPath, "HUB02$@LAB.TEST")
	check("service ticket", 0, "SMTPSVC/hub01.lab.test@LAB.TEST: kvno = 3", "", "kvno", testSPN)
	out := check("list", 0, "Etype (skey, tkt): aes256-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96", "", "klist", "-e")
	for _, want := range []string{"Default principal: HUB02$@LAB.TEST", "krbtgt/LAB.TEST@LAB.TEST", "SMTPSVC/hub01.lab.test@LAB.TEST"} {
		if !strings.Contains(out, want) {
			t.Errorf("klist -e lacks %q:\n%s", want, out)
		}
	}
	// MIT decrypts the ticket with the receiving hub's keytab, as the hub
	// would; a keytab one key version behind cannot.
	check("service keytab", 0, "keytab entry valid", "", "kvno", "-k", servicePath, testSPN)
	check("stale keytab", 1, "keytab entry invalid", "", "kvno", "-k", stalePath, testSPN)
	check("missing SPN", 1, "not found in Kerberos database", "", "kvno", "SMTPSVC/hub09.lab.test")

	check("destroy", 0, "", "", "kdestroy")
	check("password login", 0, "", "hub02-password\n", "kinit", "HUB02$@LAB.TEST")
	check("service ticket after password login", 0, "kvno = 3", "", "kvno", "SMTP/hub01.lab.test")
	check("wrong password", 1, "Password incorrect", "wrong\n", "kinit", "HUB02$@LAB.TEST")
	if s := k.Stats(); s.ASRequests < 4 || s.TGSRequests < 4 {
		t.Errorf("Stats = %+v: the MIT tools did not reach the KDC as expected", s)
	}
}

// TestKDC_MITFaults replays KDC-side faults to MIT clients: UDP when MIT is
// told to prefer it, a duplicate SPN answered with the other account's key,
// and a KDC clock ten minutes ahead.
func TestKDC_MITFaults(t *testing.T) {
	kdcLeakCheck(t)
	t.Run("udp first", func(t *testing.T) {
		k := startKDC(t, Config{})
		m := newKDCMIT(t, k)
		conf := strings.Replace(string(k.Krb5Conf()), " udp_preference_limit = 1\n", "", 1)
		if err := os.WriteFile(filepath.Join(m.dir, "krb5.conf"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		kt, err := k.Keytab("HUB02$", 0)
		if err != nil {
			t.Fatal(err)
		}
		m.check("kinit over UDP", 0, "Sending initial UDP request to dgram "+k.UDPAddr(), "", "kinit", "-k", "-t", m.writeKeytab(kt, "client.keytab"), "HUB02$@LAB.TEST")
	})
	t.Run("duplicate SPN, wrong account", func(t *testing.T) {
		k := startKDC(t, Config{
			Accounts: append(testAccounts(), Account{Name: "OLDHUB$", Password: "oldhub", KVNO: 7, SPNs: []string{testSPN}}),
			Faults:   Faults{DuplicateSPN: DuplicateSPNWrongAccount},
		})
		m := newKDCMIT(t, k)
		kt, err := k.Keytab("HUB02$", 0)
		if err != nil {
			t.Fatal(err)
		}
		hub, err := k.Keytab("HUB01$", 0)
		if err != nil {
			t.Fatal(err)
		}
		m.check("kinit", 0, "", "", "kinit", "-k", "-t", m.writeKeytab(kt, "client.keytab"), "HUB02$@LAB.TEST")
		// The client gets a ticket; the receiving hub cannot use it.
		m.check("hub keytab", 1, "SMTPSVC/hub01.lab.test@LAB.TEST: kvno = 7, keytab entry invalid", "", "kvno", "-k", m.writeKeytab(hub, "hub.keytab"), testSPN)
	})
	t.Run("kdc clock 10m ahead", func(t *testing.T) {
		// MIT adjusts its pre-authentication timestamp by the stime of the
		// PREAUTH_REQUIRED error (kdc_timesync), so a client-vs-KDC offset
		// does not stop MIT the way it stops gokrb5 (see
		// TestKDC_GokrbClientFailures); the skew Exchange suffers from is
		// the receiving hub's.
		k := startKDC(t, Config{Clock: clock.Offset{By: 10 * time.Minute}})
		m := newKDCMIT(t, k)
		kt, err := k.Keytab("HUB02$", 0)
		if err != nil {
			t.Fatal(err)
		}
		m.check("kinit", 0, "", "", "kinit", "-k", "-t", m.writeKeytab(kt, "client.keytab"), "HUB02$@LAB.TEST")
		m.check("kvno", 0, "kvno = 3", "", "kvno", testSPN)
	})
}
