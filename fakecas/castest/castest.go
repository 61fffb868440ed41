// Package castest starts a fake Client Access server and the fake KDC it
// trusts for Go tests, as scenariotest does for hubs: CAS01$ is the
// proxying server (the probe's identity), CAS02$ the target.
package castest

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
)

// Realm is the lab's realm.
const Realm = "LAB.TEST"

// Env is a running lab: a KDC, a CA, and the files a probe needs.
type Env struct {
	KDC *fakekdc.KDC
	CA  *fakeserver.CA
	// Krb5Conf, ClientKeytab (CAS01$'s keys) and CAFile are paths in a
	// temporary directory; Principal is CAS01$@LAB.TEST.
	Krb5Conf, ClientKeytab, CAFile, Principal string
}

// New starts the KDC: CAS01$ with HTTP/cas01.lab.test, and CAS02$ at key
// version 3 (version 2 still exportable, for a stale keytab) with the SPNs
// given (none: a missing SPN). Everything stops when the test ends.
func New(t testing.TB, cas02SPNs ...string) *Env {
	t.Helper()
	kdc, err := fakekdc.Start(fakekdc.Config{Realm: Realm, Accounts: []fakekdc.Account{
		{Name: "CAS01$", SPNs: []string{"HTTP/cas01.lab.test"}},
		{Name: "CAS02$", KVNO: 3, PreviousPasswords: []string{""}, SPNs: cas02SPNs},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kdc.Close() })
	now := time.Now()
	ca, err := fakeserver.NewCA("exauth test CA", now, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	e := &Env{KDC: kdc, CA: ca, Principal: "CAS01$@" + Realm,
		Krb5Conf: filepath.Join(dir, "krb5.conf"), ClientKeytab: filepath.Join(dir, "cas01.keytab"), CAFile: filepath.Join(dir, "ca.pem")}
	kt, err := e.Keytab(t, "CAS01$", 0).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for path, data := range map[string][]byte{e.Krb5Conf: kdc.Krb5Conf(), e.ClientKeytab: kt, e.CAFile: ca.PEM()} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// Keytab exports an account's keys of a key version (0: current).
func (e *Env) Keytab(t testing.TB, account string, kvno int) *keytab.Keytab {
	t.Helper()
	kt, err := e.KDC.Keytab(account, kvno)
	if err != nil {
		t.Fatal(err)
	}
	return kt
}

// Start starts a fake CAS with cfg. Host defaults to cas02.lab.test, the
// keys to CAS02$'s current ones, and the certificate to one the lab's CA
// issues for Host; Untrusted issues it from another CA instead.
func (e *Env) Start(t testing.TB, cfg fakecas.Config, untrusted bool) *fakecas.Server {
	t.Helper()
	if cfg.Host == "" {
		cfg.Host = "cas02.lab.test"
	}
	if cfg.Keytab == nil {
		cfg.Keytab = e.Keytab(t, "CAS02$", 0)
	}
	if cfg.Certificate == nil && cfg.GetCertificate == nil {
		now := time.Now()
		issuer := e.CA
		if untrusted {
			other, err := fakeserver.NewCA("somebody else's CA", now, 24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			issuer = other
		}
		cert, err := issuer.Issue([]string{cfg.Host}, now.Add(-time.Hour), now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificate = &cert
	}
	srv, err := fakecas.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
