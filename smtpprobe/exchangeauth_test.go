package smtpprobe_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// passwordLab is a KDC whose accounts have passwords, as a real domain's
// do, and a hub with credentials of its own for the reverse ticket.
func passwordLab(t *testing.T) (hubAddr, krb5conf string, ca *fakeserver.CA) {
	t.Helper()
	k, err := fakekdc.Start(fakekdc.Config{Realm: "LAB.TEST", Accounts: []fakekdc.Account{
		{Name: "HUB02$", Password: "hub02-password", SPNs: []string{"SMTPSVC/hub02.lab.test"}},
		{Name: "HUB01$", Password: "hub01-password", KVNO: 3, SPNs: []string{"SMTPSVC/hub01.lab.test"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	krb5conf = filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(krb5conf, k.Krb5Conf(), 0o600); err != nil {
		t.Fatal(err)
	}
	hkt, err := k.Keytab("HUB01$", 0)
	if err != nil {
		t.Fatal(err)
	}
	tickets, err := krbclient.New(krbclient.Config{Krb5: krbclient.ConfigFor("LAB.TEST", "tcp/"+k.TCPAddr())}, krbclient.FromKeytabValue(hkt, "HUB01$@LAB.TEST"))
	if err != nil {
		t.Fatal(err)
	}
	srv, ca := hub(t, func(c *fakeserver.Config) {
		c.Authenticator = &fakeserver.KerberosAcceptor{Keytab: hkt, Replay: gssapi.NewReplayCache(), Tickets: tickets}
	})
	return srv.Addr(), krb5conf, ca
}

// With a password, the probe derives the sending account's keys and checks
// the reverse ticket; with a ccache it cannot, and says so.
func TestProbe_ExchangeAuthReverseLegWithPassword(t *testing.T) {
	addr, krb5conf, ca := passwordLab(t)
	cfg := smtpprobe.Config{Host: "hub01.lab.test", Connect: addr, EHLOName: "hub02.lab.test", RootCAs: ca.Pool(),
		Kerberos: kerberos.New(kerberos.Settings{Krb5Conf: krb5conf, Principal: "HUB02$@LAB.TEST", Password: "hub02-password"})}
	r := smtpprobe.Probe(context.Background(), cfg)
	if r.Verdict != verdict.VerdictOK || r.Auth == nil || r.Auth.Mechanism != "EXCHANGEAUTH" || r.Auth.Reverse == nil || !r.Auth.Reverse.Verified {
		t.Fatalf("verdict %s (%s), evidence %q; want ok with a verified reverse leg", r.Verdict, r.Summary, r.Evidence)
	}
	if p := r.Auth.Reverse.Principal; p == nil || *p != "HUB01$@LAB.TEST" {
		t.Errorf("reverse principal %v, want HUB01$@LAB.TEST", p)
	}
}

// A reverse ticket the sending account cannot decrypt (its EHLO name's SPN
// belongs to another account) is the sending side's fault.
func TestProbe_ExchangeAuthReverseLegFails(t *testing.T) {
	addr, krb5conf, ca := passwordLab(t)
	cfg := smtpprobe.Config{Host: "hub01.lab.test", Connect: addr, EHLOName: "hub01.lab.test", RootCAs: ca.Pool(),
		Kerberos: kerberos.New(kerberos.Settings{Krb5Conf: krb5conf, Principal: "HUB02$@LAB.TEST", Password: "hub02-password"})}
	r := smtpprobe.Probe(context.Background(), cfg)
	if r.Verdict != verdict.VerdictReverseAuthFailed {
		t.Fatalf("verdict %s (%s); want reverse-auth-failed", r.Verdict, r.Summary)
	}
}
