package httpprobe_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakecas/castest"
	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

func probe(t *testing.T, env *castest.Env, url string, srv *fakecas.Server) *verdict.Report {
	t.Helper()
	return httpprobe.Probe(context.Background(), httpprobe.Config{
		URL: url, Connect: srv.Addr(), RootCAs: env.CA.Pool(), Timeout: 20 * time.Second,
		Kerberos: kerberos.New(kerberos.Settings{Krb5Conf: env.Krb5Conf, Keytab: env.ClientKeytab, Principal: env.Principal}),
	})
}

func TestProbe(t *testing.T) {
	env := castest.New(t, "HTTP/cas02.lab.test")
	current, stale := env.Keytab(t, "CAS02$", 3), env.Keytab(t, "CAS02$", 2)
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
		// The certificate carries the address, so TLS passes and the
		// address itself is the fault (event 71's first cause).
		{"internalurl-ip", "https://127.0.0.1/owa", true, fakecas.Config{Keytab: current}, verdict.VerdictSPNUnknown, "names an IP address"},
		{"untrusted-cert", "https://cas02.lab.test/owa", false, fakecas.Config{Keytab: current}, verdict.VerdictCertUntrusted, "AllowInternalUntrustedCerts=0"},
		{"stale-key", "https://cas02.lab.test/owa", true, fakecas.Config{Keytab: stale}, verdict.VerdictKeyMismatch, "401 with clocks in step"},
		{"clock-skew", "https://cas02.lab.test/owa", true, fakecas.Config{Keytab: current, ClockOffset: 7 * time.Minute}, verdict.VerdictClockSkew, ""},
		{"spn-missing", "https://cas03.lab.test/owa", true, fakecas.Config{Keytab: current, Service: "*"}, verdict.VerdictSPNUnknown, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
	} {
		t.Run(c.name, func(t *testing.T) {
			host := strings.TrimPrefix(c.url, "https://")
			host, _, _ = strings.Cut(host, "/")
			c.cfg.Host = host
			srv := env.Start(t, c.cfg, !c.trusted)
			r := probe(t, env, c.url, srv)
			if r.Verdict != c.want || !strings.Contains(r.Summary, c.summary) {
				t.Fatalf("verdict %s: %s\n%s; want %s containing %q", r.Verdict, r.Summary, strings.Join(r.Evidence, "\n"), c.want, c.summary)
			}
			t.Logf("%s: %s", r.Verdict, r.Summary)
			if c.name == "stale-key" && !strings.Contains(strings.Join(r.Evidence, "\n"), "cannot use its own keys at all") {
				t.Errorf("no evidence that a server without usable keys answers alike: %q", r.Evidence)
			}
			if c.name == "internalurl-ip" && !strings.Contains(r.Summary, "names an IP address") {
				t.Errorf("no evidence about the IP address: %q", r.Evidence)
			}
			if r.Verdict == verdict.VerdictOK && (r.Observation.HTTP == nil || !r.Observation.HTTP.Mutual) {
				t.Errorf("ok without mutual authentication: %+v", r.Observation.HTTP)
			}
		})
	}
}

func TestProbe_NoCredentialsAndBadURL(t *testing.T) {
	env := castest.New(t, "HTTP/cas02.lab.test")
	srv := env.Start(t, fakecas.Config{}, false)
	r := httpprobe.Probe(context.Background(), httpprobe.Config{URL: "https://cas02.lab.test/owa", Connect: srv.Addr(), RootCAs: env.CA.Pool()})
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
	env := castest.New(t, "HTTP/cas02.lab.test")
	now := time.Now()
	cert, err := env.CA.Issue([]string{"cas02.lab.test"}, now.Add(-time.Hour), now.Add(time.Hour))
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
				URL: "https://cas02.lab.test/owa", Connect: srv.Listener.Addr().String(), RootCAs: env.CA.Pool(), Timeout: 10 * time.Second,
				Kerberos: kerberos.New(kerberos.Settings{Krb5Conf: env.Krb5Conf, Keytab: env.ClientKeytab, Principal: env.Principal}),
			})
			if r.Verdict != c.want {
				t.Errorf("verdict %s: %s; want %s", r.Verdict, r.Summary, c.want)
			}
		})
	}
}
