package httpprobe_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

const realm = "LAB.TEST"

// lab is a fake KDC with CAS01$ (the proxying server, whose identity the
// probe uses) and CAS02$ (the target), and a CA both trust.
type lab struct {
	kdc      *fakekdc.KDC
	ca       *fakeserver.CA
	krb5Conf string
	cas01    string // CAS01$'s keytab file
}

func newLab(t *testing.T, cas02SPNs ...string) *lab {
	t.Helper()
	kdc, err := fakekdc.Start(fakekdc.Config{Realm: realm, Accounts: []fakekdc.Account{
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
	l := &lab{kdc: kdc, ca: ca, krb5Conf: filepath.Join(dir, "krb5.conf"), cas01: filepath.Join(dir, "cas01.keytab")}
	if err := os.WriteFile(l.krb5Conf, kdc.Krb5Conf(), 0o600); err != nil {
		t.Fatal(err)
	}
	kt, err := kdc.Keytab("CAS01$", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.cas01, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return l
}

func (l *lab) keytab(t *testing.T, account string, kvno int) *keytab.Keytab {
	t.Helper()
	kt, err := l.kdc.Keytab(account, kvno)
	if err != nil {
		t.Fatal(err)
	}
	return kt
}

// cas02 starts the target with the options given.
func (l *lab) cas02(t *testing.T, host string, trusted bool, cfg fakecas.Config) *fakecas.Server {
	t.Helper()
	now := time.Now()
	issuer := l.ca
	if !trusted {
		other, err := fakeserver.NewCA("somebody else's CA", now, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		issuer = other
	}
	cert, err := issuer.Issue([]string{host}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host, cfg.Certificate = host, &cert
	srv, err := fakecas.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func (l *lab) probe(t *testing.T, url string, srv *fakecas.Server) *verdict.Report {
	t.Helper()
	cfg := httpprobe.Config{
		URL: url, Connect: srv.Addr(), RootCAs: l.ca.Pool(), Timeout: 20 * time.Second,
		Kerberos: smtpprobe.NewKerberos(smtpprobe.KerberosSettings{Krb5Conf: l.krb5Conf, Keytab: l.cas01, Principal: "CAS01$@" + realm}),
	}
	return httpprobe.Probe(context.Background(), cfg)
}

func TestProbe(t *testing.T) {
	l := newLab(t, "HTTP/cas02.lab.test")
	current, stale := l.keytab(t, "CAS02$", 3), l.keytab(t, "CAS02$", 2)
	for _, c := range []struct {
		name    string
		url     string
		trusted bool
		cfg     fakecas.Config
		want    verdict.Verdict
		summary string
	}{
		{"healthy", "https://cas02.lab.test/owa", true, fakecas.Config{Keytab: current}, verdict.VerdictOK, "accepted Kerberos for HTTP/cas02.lab.test"},
		{"ews", "https://cas02.lab.test/EWS/Exchange.asmx", true, fakecas.Config{Keytab: current}, verdict.VerdictOK, "accepted Kerberos"},
		{"ntlm-only", "https://cas02.lab.test/owa", true, fakecas.Config{Keytab: current, Providers: []fakecas.Provider{fakecas.ProviderNTLM}}, verdict.VerdictNTLMOnly, "offers NTLM but not Negotiate"},
		// The certificate names no address, so TLS fails first (event
		// 43); the evidence says Kerberos would fail next (event 71).
		{"internalurl-ip", "https://127.0.0.1/owa", true, fakecas.Config{Keytab: current}, verdict.VerdictCertUntrusted, "not trusted"},
		{"untrusted-cert", "https://cas02.lab.test/owa", false, fakecas.Config{Keytab: current}, verdict.VerdictCertUntrusted, "AllowInternalUntrustedCerts=0"},
		{"stale-key", "https://cas02.lab.test/owa", true, fakecas.Config{Keytab: stale}, verdict.VerdictKeyMismatch, "401 with clocks in step"},
		{"clock-skew", "https://cas02.lab.test/owa", true, fakecas.Config{Keytab: current, ClockOffset: 7 * time.Minute}, verdict.VerdictClockSkew, ""},
		{"spn-missing", "https://cas03.lab.test/owa", true, fakecas.Config{Keytab: current, Service: "*"}, verdict.VerdictSPNUnknown, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			host := strings.TrimPrefix(c.url, "https://")
			host, _, _ = strings.Cut(host, "/")
			srv := l.cas02(t, host, c.trusted, c.cfg)
			r := l.probe(t, c.url, srv)
			if r.Verdict != c.want || !strings.Contains(r.Summary, c.summary) {
				t.Fatalf("verdict %s: %s\n%s; want %s containing %q", r.Verdict, r.Summary, strings.Join(r.Evidence, "\n"), c.want, c.summary)
			}
			t.Logf("%s: %s", r.Verdict, r.Summary)
			if c.name == "internalurl-ip" && !strings.Contains(strings.Join(r.Evidence, "\n"), "names an IP address") {
				t.Errorf("no evidence about the IP address: %q", r.Evidence)
			}
			if r.Verdict == verdict.VerdictOK && (r.Observation.HTTP == nil || !r.Observation.HTTP.Mutual) {
				t.Errorf("ok without mutual authentication: %+v", r.Observation.HTTP)
			}
		})
	}
}

func TestProbe_NoCredentialsAndBadURL(t *testing.T) {
	l := newLab(t, "HTTP/cas02.lab.test")
	srv := l.cas02(t, "cas02.lab.test", true, fakecas.Config{Keytab: l.keytab(t, "CAS02$", 3)})
	r := httpprobe.Probe(context.Background(), httpprobe.Config{URL: "https://cas02.lab.test/owa", Connect: srv.Addr(), RootCAs: l.ca.Pool()})
	if r.Verdict != verdict.VerdictNoCredentials {
		t.Errorf("without credentials: %s: %s", r.Verdict, r.Summary)
	}
	for _, u := range []string{"http://cas02.lab.test/owa", "https:///owa", "::"} {
		if _, err := httpprobe.ParseURL(u); err == nil {
			t.Errorf("ParseURL(%q): want an error", u)
		}
	}
}

// A peer whose Negotiate reply is not a Kerberos token in SPNEGO broke the
// protocol; no key is blamed. Nothing it sends makes the probe panic.
func TestProbe_HostileNegotiateReplies(t *testing.T) {
	l := newLab(t, "HTTP/cas02.lab.test")
	now := time.Now()
	cert, err := l.ca.Issue([]string{"cas02.lab.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, reply string
		want        verdict.Verdict
	}{
		{"not base64", "Negotiate !!!", verdict.VerdictProtocolError},
		{"not SPNEGO", "Negotiate oQMKAQA=", verdict.VerdictProtocolError}, // a NegTokenResp without a token
		{"garbage", "Negotiate " + "AAAA", verdict.VerdictProtocolError},   // a bare token that is no AP-REP
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") == "" {
					w.Header().Add("WWW-Authenticate", "Negotiate")
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("WWW-Authenticate", c.reply)
				w.WriteHeader(http.StatusOK)
			}))
			srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
			srv.StartTLS()
			defer srv.Close()
			r := httpprobe.Probe(context.Background(), httpprobe.Config{
				URL: "https://cas02.lab.test/owa", Connect: srv.Listener.Addr().String(), RootCAs: l.ca.Pool(), Timeout: 10 * time.Second,
				Kerberos: smtpprobe.NewKerberos(smtpprobe.KerberosSettings{Krb5Conf: l.krb5Conf, Keytab: l.cas01, Principal: "CAS01$@" + realm}),
			})
			if r.Verdict != c.want {
				t.Errorf("verdict %s: %s; want %s", r.Verdict, r.Summary, c.want)
			}
		})
	}
}
