package sspicred_test

import (
	"context"
	"testing"
	"time"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakecas/castest"
	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/sspicred"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// The HTTP probe's Negotiate runs on the same SSPI side: a Client Access
// server that accepts the ticket and proves itself is ok, one whose SPN
// is missing is spn-unknown.
func TestHTTPProbe_SSPISide(t *testing.T) {
	env := castest.New(t, "HTTP/cas02.lab.test")
	for _, tc := range []struct {
		host string
		cfg  fakecas.Config
		want verdict.Verdict
	}{
		{"cas02.lab.test", fakecas.Config{Keytab: env.Keytab(t, "CAS02$", 3)}, verdict.VerdictOK},
		{"cas03.lab.test", fakecas.Config{Keytab: env.Keytab(t, "CAS02$", 3), Service: "*"}, verdict.VerdictSPNUnknown},
	} {
		t.Run(tc.host, func(t *testing.T) {
			tc.cfg.Host = tc.host
			srv := env.Start(t, tc.cfg, false)
			krb := kerberos.New(kerberos.Settings{Krb5Conf: env.Krb5Conf, Keytab: env.ClientKeytab, Principal: env.Principal})
			r := httpprobe.Probe(context.Background(), httpprobe.Config{
				URL: "https://" + tc.host + "/owa", Connect: srv.Addr(), RootCAs: env.CA.Pool(), Timeout: 20 * time.Second,
				Kerberos: sspicred.New(&gokrb5SSPI{id: hub02, krb: krb}),
			})
			if r.Verdict != tc.want {
				t.Fatalf("verdict %s: %s", r.Verdict, r.Summary)
			}
			if tc.want == verdict.VerdictOK && (r.Observation.HTTP == nil || !r.Observation.HTTP.Mutual) {
				t.Errorf("ok without mutual authentication: %+v", r.Observation.HTTP)
			}
		})
	}
}

// Client Access server scenarios reach the same verdict on the SSPI side
// as with a keytab, the KDC's clock sampled where SSPI hides it.
func TestHTTPProbe_SSPISideMatchesGokrb5Side(t *testing.T) {
	for _, name := range []string{"cas-healthy", "cas-spn-missing", "cas-key-mismatch", "cas-clock-skew"} {
		t.Run(name, func(t *testing.T) {
			lab := startLab(t, name)
			cfg := lab.HTTPProbeConfig()
			want := httpprobe.Probe(context.Background(), cfg)
			side := sspicred.New(&gokrb5SSPI{id: hub02, krb: cfg.Kerberos.(*kerberos.Client)})
			side.Krb5 = krbclient.ConfigFor(lab.Realm, "tcp/"+lab.KDC.TCPAddr())
			cfg.Kerberos = side
			got := httpprobe.Probe(context.Background(), cfg)
			if got.Verdict != want.Verdict {
				t.Fatalf("SSPI side: %s (%s); keytab side: %s (%s)", got.Verdict, got.Summary, want.Verdict, want.Summary)
			}
		})
	}
}
