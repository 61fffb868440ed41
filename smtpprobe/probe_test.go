package smtpprobe_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hub starts a fake connector for hub01.lab.test with a per-run CA.
func hub(t *testing.T, mutate func(*fakeserver.Config)) (*fakeserver.Server, *fakeserver.CA) {
	t.Helper()
	now := time.Now()
	ca, err := fakeserver.NewCA("exauth test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"hub01.lab.test"}, now.Add(-time.Hour), now.Add(24*time.Hour*365))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fakeserver.Config{Host: "hub01.lab.test", Certificate: &cert}
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := fakeserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, ca
}

func TestProbe_SMTPLevelVerdicts(t *testing.T) {
	untrusted := func(c *fakeserver.Config) {
		other, _ := fakeserver.NewCA("someone else", time.Now(), time.Hour)
		cert, _ := other.Issue([]string{"hub01.lab.test"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		c.Certificate = &cert
	}
	tests := []struct {
		name     string
		server   func(*fakeserver.Config)
		probe    func(*smtpprobe.Config)
		verdict  verdict.Verdict
		exit     int
		evidence string
	}{
		{"healthy without credentials", nil, nil, verdict.VerdictNoCredentials, 3, "no Kerberos credentials"},
		{"exchange auth disabled", func(c *fakeserver.Config) {
			c.Capabilities = []string{"SIZE 37748736", "PIPELINING", "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM", "8BITMIME"}
		}, nil, verdict.VerdictExchangeAuthDisabled, 2, "X-EXPS is not offered"},
		{"verbs stripped", func(c *fakeserver.Config) {
			c.Faults.MaskVerbs = []string{"X-EXPS", "X-ANONYMOUSTLS", "STARTTLS"}
		}, nil, verdict.VerdictVerbsStripped, 2, "XXXXXXXA"},
		{"ntlm only", func(c *fakeserver.Config) {
			c.Capabilities = []string{"SIZE 37748736", "STARTTLS", "AUTH NTLM", "X-EXPS NTLM"}
		}, nil, verdict.VerdictNTLMOnly, 2, "X-EXPS offers NTLM but not GSSAPI"},
		// X-EXPS NTLM alone with X-ANONYMOUSTLS is what an Edge server says.
		{"edge", func(c *fakeserver.Config) {
			c.Capabilities = []string{"SIZE 37748736", "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS NTLM"}
		}, nil, verdict.VerdictEdgeServer, 3, "Edge Transport server"},
		{"tls broken", func(c *fakeserver.Config) { c.Faults.FailTLSHandshake = true }, nil,
			verdict.VerdictTLSFailed, 2, "handshake failure"},
		{"untrusted cert required", untrusted, func(p *smtpprobe.Config) { p.RequireTrustedCert = true },
			verdict.VerdictCertUntrusted, 2, "not trusted"},
		// Inside X-ANONYMOUSTLS Exchange checks no CA: evidence, not a warning.
		{"untrusted cert is only evidence without the flag", untrusted, nil,
			verdict.VerdictNoCredentials, 3, "X-ANONYMOUSTLS does not check it"},
		// A forced mechanism the EHLO does not offer is the probe's setting,
		// not the server's fault.
		{"exchangeauth forced over starttls", nil, func(p *smtpprobe.Config) {
			p.TLS, p.Mech = verdict.TLSStartTLS, verdict.MechExchangeAuth
		}, verdict.VerdictUnknown, 3, "X-EXPS EXCHANGEAUTH is not offered outside X-ANONYMOUSTLS"},
		{"starttls forced", nil, func(p *smtpprobe.Config) { p.TLS = verdict.TLSStartTLS },
			verdict.VerdictNoCredentials, 3, "TLS: starttls via STARTTLS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ca := hub(t, tt.server)
			cfg := smtpprobe.Config{Host: "hub01.lab.test", Connect: srv.Addr(), RootCAs: ca.Pool(), EHLOName: "hub02.lab.test", Timeout: 5 * time.Second}
			if tt.probe != nil {
				tt.probe(&cfg)
			}
			r := smtpprobe.Probe(context.Background(), cfg)
			if r.Verdict != tt.verdict || r.ExitCode() != tt.exit {
				t.Fatalf("verdict %s exit %d, want %s exit %d\nsummary: %s\nevidence: %q", r.Verdict, r.ExitCode(), tt.verdict, tt.exit, r.Summary, r.Evidence)
			}
			if !strings.Contains(strings.Join(r.Evidence, "\n"), tt.evidence) {
				t.Errorf("evidence lacks %q: %q", tt.evidence, r.Evidence)
			}
		})
	}
}

func TestProbe_ReportShowsBothEHLOsAndAnonymousTLS(t *testing.T) {
	srv, ca := hub(t, nil)
	r := smtpprobe.Probe(context.Background(), smtpprobe.Config{Host: "hub01.lab.test", Connect: srv.Addr(), RootCAs: ca.Pool(), EHLOName: "hub02.lab.test"})
	if r.TLS == nil || r.TLS.Mode != "anonymous" || r.TLS.PeerCertificate == nil || !r.TLS.PeerCertificate.Trusted {
		t.Fatalf("tls = %+v", r.TLS)
	}
	if !contains(r.Capabilities, "X-EXPS EXCHANGEAUTH GSSAPI NTLM") || !contains(r.Capabilities, "X-EXCHANGEAUTH SHA256") || contains(r.Capabilities, "X-ANONYMOUSTLS") {
		t.Errorf("capabilities after TLS = %q", r.Capabilities)
	}
	var ehlos, tlsEhlos int
	for _, l := range r.Transcript {
		if strings.HasPrefix(l.Line, "EHLO ") {
			ehlos++
			if l.TLS {
				tlsEhlos++
			}
		}
	}
	if ehlos != 2 || tlsEhlos != 1 {
		t.Errorf("EHLOs in transcript = %d (inside TLS %d), want 2 (1)", ehlos, tlsEhlos)
	}
	if r.Clocks.ServerVsLocal == nil || *r.Clocks.ServerVsLocal > 2 || *r.Clocks.ServerVsLocal < -2 {
		t.Errorf("server vs local = %v", r.Clocks.ServerVsLocal)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// rawServer accepts one connection and runs script on it.
func rawServer(t *testing.T, script func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		script(c)
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestProbe_ConnectAndProtocolFailures(t *testing.T) {
	closed := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		return addr
	}
	tests := []struct {
		name    string
		addr    func(t *testing.T) string
		verdict verdict.Verdict
	}{
		{"refused", func(*testing.T) string { return closed() }, verdict.VerdictConnectFailed},
		{"421 banner", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) { c.Write([]byte("421 4.3.2 Service not available\r\n")) })
		}, verdict.VerdictConnectFailed},
		{"garbage banner", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) { c.Write([]byte("HTTP/1.1 400 Bad Request\r\n")) })
		}, verdict.VerdictProtocolError},
		{"close after EHLO", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				c.Write([]byte("220 hub01 ESMTP\r\n"))
				c.Read(make([]byte, 100))
			})
		}, verdict.VerdictProtocolError},
		{"endless continuation", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				c.Write([]byte("220 hub01 ESMTP\r\n"))
				c.Read(make([]byte, 100))
				c.Write([]byte(strings.Repeat("250-X\r\n", 500)))
			})
		}, verdict.VerdictProtocolError},
		{"TLS verb refused", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				c.Write([]byte("220 hub01 ESMTP\r\n"))
				c.Read(make([]byte, 100))
				c.Write([]byte("250-hub01\r\n250 STARTTLS\r\n"))
				c.Read(make([]byte, 100))
				c.Write([]byte("454 4.7.5 TLS not available due to temporary reason\r\n"))
				c.Read(make([]byte, 100))
			})
		}, verdict.VerdictTLSFailed},
		{"TLS garbage handshake", func(t *testing.T) string {
			return rawServer(t, func(c net.Conn) {
				c.Write([]byte("220 hub01 ESMTP\r\n"))
				c.Read(make([]byte, 100))
				c.Write([]byte("250-hub01\r\n250 STARTTLS\r\n"))
				c.Read(make([]byte, 100))
				c.Write([]byte("220 2.0.0 SMTP server ready\r\n"))
				c.Read(make([]byte, 1000))
				c.Write([]byte("this is not TLS at all\r\n"))
			})
		}, verdict.VerdictTLSFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := smtpprobe.Probe(context.Background(), smtpprobe.Config{Host: "hub01.lab.test", Connect: tt.addr(t), Timeout: 3 * time.Second})
			if r.Verdict != tt.verdict || r.ExitCode() != 2 {
				t.Fatalf("verdict %s (exit %d), want %s\n%s\n%q", r.Verdict, r.ExitCode(), tt.verdict, r.Summary, r.Evidence)
			}
		})
	}
}

func TestProbe_BannerNeverSentEndsWithinTimeout(t *testing.T) {
	addr := rawServer(t, func(c net.Conn) { c.Read(make([]byte, 10)) })
	began := time.Now()
	r := smtpprobe.Probe(context.Background(), smtpprobe.Config{Host: "hub01.lab.test", Connect: addr, Timeout: 300 * time.Millisecond})
	// The whole budget (300ms) ran out before the step's own bound: the
	// budget ended the probe, which says so instead of blaming the server.
	if r.Verdict != verdict.VerdictInterrupted || !strings.Contains(r.Summary, "time budget (300ms) ran out during banner") {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Summary)
	}
	r = smtpprobe.Probe(context.Background(), smtpprobe.Config{Host: "hub01.lab.test", Connect: addr, Timeout: time.Second, StepTimeout: 200 * time.Millisecond})
	if r.Verdict != verdict.VerdictProtocolError {
		t.Fatalf("with a step bound inside the budget: verdict %s: %s", r.Verdict, r.Summary)
	}
	if el := time.Since(began); el > 2*time.Second {
		t.Fatalf("took %v with a 300ms timeout", el)
	}
	_ = tls.VersionTLS13
}

// TestProbe_CancelInsideTLS: cancelling the context while the server stalls
// inside TLS ends the probe at once (and, under -race, without a race on
// the connection the TLS layer replaced).
func TestProbe_CancelInsideTLS(t *testing.T) {
	now := time.Now()
	ca, _ := fakeserver.NewCA("t", now, time.Hour)
	cert, _ := ca.Issue([]string{"hub01.lab.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	stalled := make(chan struct{})
	addr := rawServer(t, func(c net.Conn) {
		r := bufio.NewReader(c)
		c.Write([]byte("220 hub01 ESMTP\r\n"))
		r.ReadString('\n')
		c.Write([]byte("250-hub01\r\n250 STARTTLS\r\n"))
		r.ReadString('\n')
		c.Write([]byte("220 2.0.0 SMTP server ready\r\n"))
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() != nil {
			return
		}
		bufio.NewReader(tc).ReadString('\n') // the second EHLO, never answered
		close(stalled)
		tc.Read(make([]byte, 1)) // until the probe goes away
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *verdict.Report)
	go func() {
		done <- smtpprobe.Probe(ctx, smtpprobe.Config{Host: "hub01.lab.test", Connect: addr, Timeout: time.Minute, StepTimeout: time.Minute})
	}()
	<-stalled
	began := time.Now()
	cancel()
	r := <-done
	if el := time.Since(began); el > 2*time.Second {
		t.Fatalf("probe took %v to notice the cancellation", el)
	}
	// Ctrl-C is not the server's fault.
	if r.Verdict != verdict.VerdictInterrupted || r.ExitCode() != 3 || !strings.Contains(r.Summary, "interrupted during ehlo-tls") {
		t.Errorf("verdict %s (exit %d): %s", r.Verdict, r.ExitCode(), r.Summary)
	}
}

// TestProbe_RealmAndKDCWithoutKrb5Conf: --realm and --kdc are enough when
// no krb5.conf exists, as with kinit.
func TestProbe_RealmAndKDCWithoutKrb5Conf(t *testing.T) {
	env := scenariotest.Start(t, "healthy")
	cfg := env.Probe
	cfg.Kerberos = kerberos.New(kerberos.Settings{
		Realm: env.Realm, KDC: env.KDCAddr, Keytab: env.StateFiles(t).ClientKeytab, Principal: env.Principal,
		Getenv: func(k string) string {
			if k == "KRB5_CONFIG" {
				return filepath.Join(t.TempDir(), "no-such-krb5.conf")
			}
			return ""
		},
	})
	if r := smtpprobe.Probe(context.Background(), cfg); r.Verdict != verdict.VerdictOK {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Summary)
	}
}

// A web server on the port waits for the client to speak: the probe says
// the port is likely wrong, with the bound it waited.
func TestProbe_NotAnSMTPPort(t *testing.T) {
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer web.Close()
	addr := strings.TrimPrefix(web.URL, "http://")
	r := smtpprobe.Probe(context.Background(), smtpprobe.Config{Host: "hub01.lab.test", Connect: addr, Timeout: 2 * time.Second, StepTimeout: 300 * time.Millisecond})
	if r.Verdict != verdict.VerdictProtocolError || !strings.Contains(r.Summary, "no SMTP greeting from "+addr+" within 300ms — is this an SMTP port?") {
		t.Fatalf("verdict %s: %s", r.Verdict, r.Summary)
	}
}
