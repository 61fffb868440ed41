package smtpprobe_test

// Hostile peers: scripted loopback SMTP servers and
// KDCs that misbehave at every step of the dialogue. Each case asserts the
// verdict, that the probe ended within its --timeout plus a small margin,
// and (through TestMain's goleak check and the servers' t.Cleanup) that no
// goroutine is left behind. Servers signal readiness by listening before the
// probe starts; nothing here sleeps to synchronise.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/exchangeauth"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// hostileMargin is what a probe may take beyond its --timeout: the
// teardown after the deadline fires (closing sockets, QUIT with an expired
// deadline) under -race on a loaded 2-core machine.
const hostileMargin = 750 * time.Millisecond

// hconn is one accepted connection of a scripted peer.
type hconn struct {
	net.Conn
	raw  *net.TCPConn // the TCP connection under any TLS layer
	br   *bufio.Reader
	done <-chan struct{} // closed when the test ends
}

// line reads one line; "" and false when the peer went away.
func (h *hconn) line() (string, bool) {
	s, err := h.br.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err == nil
}

func (h *hconn) send(s string) bool {
	_, err := io.WriteString(h.Conn, s)
	return err == nil
}

// reset aborts the connection with a TCP RST (SO_LINGER 0).
func (h *hconn) reset() {
	h.raw.SetLinger(0)
	h.raw.Close()
}

const hostileBanner = "220 hub01.lab.test Microsoft ESMTP MAIL Service ready\r\n"

// greet sends the banner, reads EHLO and answers it with caps.
func (h *hconn) greet(caps ...string) bool {
	if !h.send(hostileBanner) {
		return false
	}
	if _, ok := h.line(); !ok {
		return false
	}
	return h.send(ehloReply(caps...))
}

func ehloReply(caps ...string) string {
	lines := append([]string{"hub01.lab.test Hello [127.0.0.1]"}, caps...)
	var b strings.Builder
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		b.WriteString("250" + sep + l + "\r\n")
	}
	return b.String()
}

// upgrade answers X-ANONYMOUSTLS with 220 and completes the handshake.
func (h *hconn) upgrade(cert tls.Certificate) (*hconn, bool) {
	if _, ok := h.line(); !ok {
		return nil, false
	}
	if !h.send("220 2.0.0 SMTP server ready\r\n") {
		return nil, false
	}
	tc := tls.Server(h.Conn, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		return nil, false
	}
	return &hconn{Conn: tc, raw: h.raw, br: bufio.NewReader(tc), done: h.done}, true
}

// untilAuthToken greets offering X-EXPS GSSAPI in clear text (so the probe
// skips TLS), reads "X-EXPS GSSAPI", answers 334 and reads the token.
func (h *hconn) untilAuthToken() bool {
	if !h.greet("X-EXPS GSSAPI NTLM") {
		return false
	}
	if l, ok := h.line(); !ok || l != "X-EXPS GSSAPI" {
		return false
	}
	if !h.send("334 \r\n") {
		return false
	}
	_, ok := h.line()
	return ok
}

// untilExchangeAuth greets offering X-ANONYMOUSTLS, completes the
// handshake, offers X-EXPS EXCHANGEAUTH inside it and reads the probe's
// "X-EXPS EXCHANGEAUTH SHA256 <blob>"; it returns the TLS connection.
func (h *hconn) untilExchangeAuth(cert tls.Certificate) (*hconn, bool) {
	if !h.greet("X-ANONYMOUSTLS", "X-EXPS GSSAPI NTLM") {
		return nil, false
	}
	tc, ok := h.upgrade(cert)
	if !ok {
		return nil, false
	}
	if _, ok := tc.line(); !ok {
		return nil, false
	}
	if !tc.send(ehloReply("X-EXPS EXCHANGEAUTH GSSAPI NTLM", "X-EXCHANGEAUTH SHA256")) {
		return nil, false
	}
	if l, ok := tc.line(); !ok || !strings.HasPrefix(l, "X-EXPS EXCHANGEAUTH SHA256 ") {
		return nil, false
	}
	return tc, true
}

// peer is a scripted loopback server. It runs script on every connection
// it accepts, and on cleanup closes the listener and every connection and
// waits for its goroutines.
type peer struct {
	ln    net.Listener
	done  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func startPeer(t *testing.T, script func(*hconn)) *peer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return servePeer(t, ln, script)
}

// servePeer is startPeer on a listener the caller opened.
func servePeer(t *testing.T, ln net.Listener, script func(*hconn)) *peer {
	p := &peer{ln: ln, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns = append(p.conns, c)
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				script(&hconn{Conn: c, raw: c.(*net.TCPConn), br: bufio.NewReader(c), done: p.done})
			}()
		}
	}()
	t.Cleanup(p.close)
	return p
}

func (p *peer) addr() string { return p.ln.Addr().String() }

func (p *peer) close() {
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// hostileFixture is what the cases share: a healthy scenario (KDC, hub,
// client keytab) for the Kerberos side, and a certificate for scripted TLS.
type hostileFixture struct {
	env   *scenariotest.Env
	files scenarios.Files // the healthy lab's state files
	cert  tls.Certificate
	ca    *fakeserver.CA
}

// smtpOnly is a probe of a scripted SMTP peer without credentials. Each
// step is bounded at half the budget, as the probe's defaults (10s a step,
// 30s in all) bound them: a peer's silence is then the peer's fault, not
// the budget's.
func (f *hostileFixture) smtpOnly(addr string, timeout time.Duration) smtpprobe.Config {
	return smtpprobe.Config{Host: "hub01.lab.test", Connect: addr, EHLOName: "hub02.lab.test",
		RootCAs: f.ca.Pool(), Timeout: timeout, StepTimeout: timeout / 2}
}

// withKerberos is a probe of addr with the healthy scenario's credentials
// and the Kerberos configuration in krb5conf.
func (f *hostileFixture) withKerberos(addr, krb5conf string, timeout time.Duration) smtpprobe.Config {
	cfg := f.env.Probe
	cfg.Connect = addr
	cfg.Timeout, cfg.StepTimeout = timeout, timeout/2
	cfg.Kerberos = kerberos.New(kerberos.Settings{
		Krb5Conf: krb5conf, Keytab: f.files.ClientKeytab, Principal: f.env.Principal, StepTimeout: timeout / 4,
	})
	return cfg
}

// krb5conf writes the scenario's krb5.conf with its KDC replaced by kdc;
// preferUDP lets requests go over UDP first (MIT's default limit).
func (f *hostileFixture) krb5conf(t *testing.T, kdc string, preferUDP bool) string {
	t.Helper()
	b, err := os.ReadFile(f.files.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), f.env.Lab.KDC.UDPAddr(), kdc)
	s = strings.ReplaceAll(s, f.env.KDCAddr, kdc)
	if preferUDP {
		s = strings.Replace(s, "udp_preference_limit = 1\n", "udp_preference_limit = 1465\n", 1)
	}
	if !strings.Contains(s, "kdc = "+kdc) {
		t.Fatalf("krb5.conf does not name the hostile KDC:\n%s", s)
	}
	path := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// kdcPeer is a scripted KDC on TCP; UDP on the same port is left closed
// (refused) unless the case opens it. answer gets each framed request and
// returns the raw bytes to write back (nil: write nothing and keep the
// connection open until the test ends).
func kdcPeer(t *testing.T, answer func(req []byte) []byte) *peer {
	return startPeer(t, func(h *hconn) {
		for {
			var hdr [4]byte
			if _, err := io.ReadFull(h.br, hdr[:]); err != nil {
				return
			}
			n := binary.BigEndian.Uint32(hdr[:])
			if n > 1<<20 {
				return
			}
			req := make([]byte, n)
			if _, err := io.ReadFull(h.br, req); err != nil {
				return
			}
			out := answer(req)
			if out == nil {
				<-h.done
				return
			}
			if !h.send(string(out)) {
				return
			}
		}
	})
}

func frame(b []byte) []byte {
	out := make([]byte, 4+len(b))
	binary.BigEndian.PutUint32(out, uint32(len(b)))
	copy(out[4:], b)
	return out
}

// forward sends one framed request to the real KDC and returns its reply.
func forward(kdc string, req []byte) []byte {
	c, err := net.DialTimeout("tcp", kdc, 5*time.Second)
	if err != nil {
		return nil
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(frame(req)); err != nil {
		return nil
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil
	}
	rep := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(c, rep); err != nil {
		return nil
	}
	return rep
}

// listenSamePort opens a TCP listener and a UDP socket on one port.
func listenSamePort(t *testing.T) (net.Listener, net.PacketConn) {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err == nil {
			return ln, pc
		}
		ln.Close()
	}
	t.Fatal("no port free on both TCP and UDP")
	return nil, nil
}

func tlsAlert(h *hconn) {
	if !h.greet("X-ANONYMOUSTLS", "X-EXPS GSSAPI") {
		return
	}
	h.line()
	h.send("220 2.0.0 SMTP server ready\r\n")
	h.br.Peek(5) // the ClientHello record header
	// A fatal handshake_failure(40) alert in TLS 1.2 record framing.
	h.send("\x15\x03\x03\x00\x02\x02\x28")
	h.line()
}

type hostileCase struct {
	name string
	// setup starts the peer(s) and returns the probe configuration.
	setup    func(t *testing.T, f *hostileFixture) smtpprobe.Config
	verdict  verdict.Verdict
	severity verdict.Severity // "" = the verdict's own
}

func scripted(timeout time.Duration, script func(*hconn)) func(*testing.T, *hostileFixture) smtpprobe.Config {
	return func(t *testing.T, f *hostileFixture) smtpprobe.Config {
		return f.smtpOnly(startPeer(t, script).addr(), timeout)
	}
}

// scriptedAuth is a scripted SMTP peer probed with working Kerberos (the
// scenario's KDC), so that the dialogue reaches X-EXPS.
func scriptedAuth(timeout time.Duration, script func(*hconn)) func(*testing.T, *hostileFixture) smtpprobe.Config {
	return func(t *testing.T, f *hostileFixture) smtpprobe.Config {
		return f.withKerberos(startPeer(t, script).addr(), f.files.Krb5Conf, timeout)
	}
}

// hostileKDC probes the scenario's healthy hub with a krb5.conf pointing at
// the scripted KDC.
func hostileKDC(timeout time.Duration, preferUDP bool, start func(t *testing.T, f *hostileFixture) string) func(*testing.T, *hostileFixture) smtpprobe.Config {
	return func(t *testing.T, f *hostileFixture) smtpprobe.Config {
		kdc := start(t, f)
		return f.withKerberos(f.env.SMTPAddr, f.krb5conf(t, kdc, preferUDP), timeout)
	}
}

// scenarioWithCert runs the healthy scenario with another certificate.
func scenarioWithCert(kind string, require bool) func(*testing.T, *hostileFixture) smtpprobe.Config {
	return func(t *testing.T, f *hostileFixture) smtpprobe.Config {
		sc, err := scenarios.Bundled("healthy")
		if err != nil {
			t.Fatal(err)
		}
		sc.Hub.TLS.Certificate = kind
		sc.Probe.RequireTrustedCert = require
		if require {
			sc.Expect = "cert-untrusted"
		}
		cfg := scenariotest.StartScenario(t, sc).Probe
		cfg.Timeout = 5 * time.Second
		return cfg
	}
}

func TestProbe_HostilePeers(t *testing.T) {
	const quick, short = 2 * time.Second, 300 * time.Millisecond
	f := &hostileFixture{env: scenariotest.Start(t, "healthy")}
	f.files = f.env.StateFiles(t)
	now := time.Now()
	var err error
	if f.ca, err = fakeserver.NewCA("hostile CA", now, time.Hour); err != nil {
		t.Fatal(err)
	}
	if f.cert, err = f.ca.Issue([]string{"hub01.lab.test"}, now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	cases := []hostileCase{
		// Resets at every step of the dialogue.
		{"reset after connect", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			// Reset once the probe's connect has returned: a reset that
			// overtakes the handshake is a failed connect instead.
			dialed := make(chan struct{})
			cfg := f.smtpOnly(startPeer(t, func(h *hconn) {
				select {
				case <-dialed:
					h.reset()
				case <-h.done:
				}
			}).addr(), quick)
			var once sync.Once
			cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				once.Do(func() { close(dialed) })
				return c, err
			}
			return cfg
		}, verdict.VerdictProtocolError, ""},
		{"reset after banner", scripted(quick, func(h *hconn) {
			h.send(hostileBanner)
			h.line()
			h.reset()
		}), verdict.VerdictProtocolError, ""},
		{"reset after EHLO", scripted(quick, func(h *hconn) {
			h.greet("X-ANONYMOUSTLS", "X-EXPS GSSAPI")
			h.line()
			h.reset()
		}), verdict.VerdictTLSFailed, ""},
		{"reset after X-ANONYMOUSTLS 220", scripted(quick, func(h *hconn) {
			h.greet("X-ANONYMOUSTLS", "X-EXPS GSSAPI")
			h.line()
			h.send("220 2.0.0 SMTP server ready\r\n")
			h.reset()
		}), verdict.VerdictTLSFailed, ""},
		{"reset mid-handshake", scripted(quick, func(h *hconn) {
			h.greet("X-ANONYMOUSTLS", "X-EXPS GSSAPI")
			h.line()
			h.send("220 2.0.0 SMTP server ready\r\n")
			h.br.Peek(5)
			h.reset()
		}), verdict.VerdictTLSFailed, ""},
		{"reset after second EHLO", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			return f.smtpOnly(startPeer(t, func(h *hconn) {
				if !h.greet("X-ANONYMOUSTLS", "X-EXPS GSSAPI") {
					return
				}
				if th, ok := h.upgrade(f.cert); ok {
					th.line()
					th.reset()
				}
			}).addr(), quick)
		}, verdict.VerdictProtocolError, ""},
		{"reset after X-EXPS", scriptedAuth(quick, func(h *hconn) {
			h.greet("X-EXPS GSSAPI NTLM")
			h.line()
			h.reset()
		}), verdict.VerdictProtocolError, ""},
		{"reset after the token", scriptedAuth(quick, func(h *hconn) {
			if h.untilAuthToken() {
				h.reset()
			}
		}), verdict.VerdictProtocolError, ""},
		{"close right after the X-EXPS token", scriptedAuth(quick, func(h *hconn) {
			h.untilAuthToken() // returning closes the connection (FIN)
		}), verdict.VerdictProtocolError, ""},

		// ExchangeAuth answered wrongly: each is the receiver's fault,
		// never the sending server's keys.
		{"ExchangeAuth: 235 with a blob that does not parse", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			return f.withKerberos(startPeer(t, func(h *hconn) {
				if tc, ok := h.untilExchangeAuth(f.cert); ok {
					tc.send("235 0000FFFFnotbase64!\r\n")
					tc.line()
				}
			}).addr(), f.files.Krb5Conf, quick)
		}, verdict.VerdictProtocolError, ""},
		{"ExchangeAuth: bare 235", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			return f.withKerberos(startPeer(t, func(h *hconn) {
				if tc, ok := h.untilExchangeAuth(f.cert); ok {
					tc.send("235 \r\n")
					tc.line()
				}
			}).addr(), f.files.Krb5Conf, quick)
		}, verdict.VerdictProtocolError, ""},
		{"ExchangeAuth: 235 with a token that is not Kerberos", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			return f.withKerberos(startPeer(t, func(h *hconn) {
				if tc, ok := h.untilExchangeAuth(f.cert); ok {
					tc.send("235 " + exchangeauth.FormatBlob([]byte("not a GSS-API token"), make([]byte, 32)) + "\r\n")
					tc.line()
				}
			}).addr(), f.files.Krb5Conf, quick)
		}, verdict.VerdictProtocolError, ""},
		{"ExchangeAuth: a 334 challenge", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			return f.withKerberos(startPeer(t, func(h *hconn) {
				if tc, ok := h.untilExchangeAuth(f.cert); ok {
					tc.send("334 \r\n")
					tc.line()
				}
			}).addr(), f.files.Krb5Conf, quick)
		}, verdict.VerdictProtocolError, ""},
		{"ExchangeAuth: reset after the blob", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			return f.withKerberos(startPeer(t, func(h *hconn) {
				if _, ok := h.untilExchangeAuth(f.cert); ok {
					h.reset()
				}
			}).addr(), f.files.Krb5Conf, quick)
		}, verdict.VerdictProtocolError, ""},

		// Replies that never end or never come.
		{"banner never sent", scripted(short, func(h *hconn) { <-h.done }), verdict.VerdictProtocolError, ""},
		{"EHLO never answered", scripted(short, func(h *hconn) {
			h.send(hostileBanner)
			<-h.done
		}), verdict.VerdictProtocolError, ""},
		{"endless 250- continuation", scripted(quick, func(h *hconn) {
			h.send(hostileBanner)
			h.line()
			for h.send("250-X-ENDLESS continuation line\r\n") {
			}
		}), verdict.VerdictProtocolError, ""},
		{"1 MB banner line", scripted(quick, func(h *hconn) {
			h.send("220 " + strings.Repeat("A", 1<<20) + "\r\n")
			<-h.done
		}), verdict.VerdictProtocolError, ""},
		{"1 MB EHLO line without newline", scripted(quick, func(h *hconn) {
			h.send(hostileBanner)
			h.line()
			h.send("250-" + strings.Repeat("B", 1<<20))
			<-h.done
		}), verdict.VerdictProtocolError, ""},
		{"one byte every second", scripted(short, func(h *hconn) {
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for _, b := range []byte(hostileBanner) {
				if !h.send(string(b)) {
					return
				}
				select {
				case <-tick.C:
				case <-h.done:
					return
				}
			}
		}), verdict.VerdictProtocolError, ""},

		// Replies that are not SMTP.
		{"invalid code 999", scripted(quick, func(h *hconn) {
			h.send("999 hub01.lab.test ready\r\n")
			h.line()
		}), verdict.VerdictProtocolError, ""},
		{"non-numeric code", scripted(quick, func(h *hconn) {
			h.send(hostileBanner)
			h.line()
			h.send("2S0 hub01.lab.test Hello\r\n")
			h.line()
		}), verdict.VerdictProtocolError, ""},
		{"code changes inside a reply", scripted(quick, func(h *hconn) {
			h.send(hostileBanner)
			h.line()
			h.send("250-hub01.lab.test Hello\r\n251 X-EXPS GSSAPI\r\n")
			h.line()
		}), verdict.VerdictProtocolError, ""},
		{"binary garbage instead of a banner", scripted(quick, func(h *hconn) {
			junk := make([]byte, 512)
			rand.Read(junk)
			h.send(string(junk) + "\r\n")
			h.line()
		}), verdict.VerdictProtocolError, ""},

		// The authentication exchange.
		{"334 with invalid base64", scriptedAuth(quick, func(h *hconn) {
			if h.untilAuthToken() {
				h.send("334 !!! this is not base64 !!!\r\n")
				h.line()
			}
		}), verdict.VerdictProtocolError, ""},
		{"1 MB challenge", scriptedAuth(quick, func(h *hconn) {
			if h.untilAuthToken() {
				h.send("334 " + base64.StdEncoding.EncodeToString(make([]byte, 3<<18)) + "\r\n")
				<-h.done
			}
		}), verdict.VerdictProtocolError, ""},
		{"235 before any token", scriptedAuth(quick, func(h *hconn) {
			h.greet("X-EXPS GSSAPI NTLM")
			h.line()
			h.send("235 2.7.0 Authentication successful\r\n")
			h.line()
		}), verdict.VerdictProtocolError, ""},
		{"334 forever", scriptedAuth(quick, func(h *hconn) {
			h.greet("X-EXPS GSSAPI NTLM")
			for {
				if _, ok := h.line(); !ok || !h.send("334 \r\n") {
					return
				}
			}
		}), verdict.VerdictProtocolError, ""},

		// TLS.
		{"TLS alert mid-handshake", scripted(quick, tlsAlert), verdict.VerdictTLSFailed, ""},
		{"plaintext pipelined after 220", scripted(quick, func(h *hconn) {
			h.greet("X-ANONYMOUSTLS", "X-EXPS GSSAPI")
			h.line()
			h.send("220 2.0.0 SMTP server ready\r\n250 injected\r\n")
			h.line()
		}), verdict.VerdictTLSFailed, ""},
		{"certificate for another name, trusted cert required", scenarioWithCert("wrong-name", true), verdict.VerdictCertUntrusted, ""},
		{"certificate for another name, not required", scenarioWithCert("wrong-name", false), verdict.VerdictOK, verdict.SeverityOK},
		{"expired certificate, trusted cert required", scenarioWithCert("expired", true), verdict.VerdictCertUntrusted, ""},
		{"expired certificate, not required", scenarioWithCert("expired", false), verdict.VerdictOK, verdict.SeverityWarning},

		// Connect.
		{"connection refused", func(t *testing.T, f *hostileFixture) smtpprobe.Config {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return f.smtpOnly(addr, quick)
		}, verdict.VerdictConnectFailed, ""},
		{"421 banner", scripted(quick, func(h *hconn) {
			h.send("421 4.3.2 The maximum number of concurrent server connections has exceeded a limit\r\n")
		}), verdict.VerdictConnectFailed, ""},

		// The KDC.
		{"KDC answers garbage", hostileKDC(quick, false, func(t *testing.T, f *hostileFixture) string {
			return kdcPeer(t, func([]byte) []byte {
				junk := make([]byte, 200)
				rand.Read(junk)
				junk[0] = 0x6b // looks like an AS-REP, is not one
				return frame(junk)
			}).addr()
		}), verdict.VerdictProtocolError, ""},
		{"KDC answers a 2 GB length prefix", hostileKDC(quick, false, func(t *testing.T, f *hostileFixture) string {
			return kdcPeer(t, func([]byte) []byte { return []byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3} }).addr()
		}), verdict.VerdictProtocolError, ""},
		{"KDC replays a reply to another request", hostileKDC(quick, false, func(t *testing.T, f *hostileFixture) string {
			// A proxy to the real KDC that, once it has seen one AS-REP,
			// answers every later AS-REQ with that one (another nonce).
			var captured atomic.Pointer[[]byte]
			p := kdcPeer(t, func(req []byte) []byte {
				rep := forward(f.env.KDCAddr, req)
				if len(rep) > 0 && rep[0] == 0x6b {
					if old := captured.Load(); old != nil {
						rep = *old
					} else {
						captured.Store(&rep)
					}
				}
				return frame(rep)
			})
			// Prime it with a first, successful probe.
			prime := f.withKerberos(f.env.SMTPAddr, f.krb5conf(t, p.addr(), false), quick)
			if r := smtpprobe.Probe(context.Background(), prime); r.Verdict != verdict.VerdictOK {
				t.Fatalf("priming probe: %s: %s", r.Verdict, r.Summary)
			}
			if captured.Load() == nil {
				t.Fatal("no AS-REP captured")
			}
			return p.addr()
		}), verdict.VerdictProtocolError, ""},
		{"KDC silent on UDP, answers on TCP", hostileKDC(6*time.Second, true, func(t *testing.T, f *hostileFixture) string {
			ln, pc := listenSamePort(t)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // swallow every datagram
				defer wg.Done()
				buf := make([]byte, 65536)
				for {
					if _, _, err := pc.ReadFrom(buf); err != nil {
						return
					}
				}
			}()
			t.Cleanup(func() { pc.Close(); wg.Wait() })
			p := servePeer(t, ln, func(h *hconn) {
				for {
					var hdr [4]byte
					if _, err := io.ReadFull(h.br, hdr[:]); err != nil {
						return
					}
					req := make([]byte, binary.BigEndian.Uint32(hdr[:]))
					if _, err := io.ReadFull(h.br, req); err != nil {
						return
					}
					if !h.send(string(frame(forward(f.env.KDCAddr, req)))) {
						return
					}
				}
			})
			return p.addr()
		}), verdict.VerdictOK, ""},
		{"KDC accepts TCP and never answers", hostileKDC(time.Second, false, func(t *testing.T, f *hostileFixture) string {
			return kdcPeer(t, func([]byte) []byte { return nil }).addr()
		}), verdict.VerdictKDCUnreachable, ""},
		{"KDC closes TCP without a reply", hostileKDC(quick, false, func(t *testing.T, f *hostileFixture) string {
			return startPeer(t, func(h *hconn) { h.br.Peek(4) }).addr()
		}), verdict.VerdictKDCUnreachable, ""},
	}
	if len(cases) < 22 {
		t.Fatalf("only %d hostile peers", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.setup(t, f)
			began := time.Now()
			var r *verdict.Report
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("probe panicked: %v", p)
					}
				}()
				r = smtpprobe.Probe(context.Background(), cfg)
			}()
			elapsed := time.Since(began)
			t.Logf("verdict %s (%s) in %v (timeout %v): %s", r.Verdict, r.Severity, elapsed.Round(time.Millisecond), cfg.Timeout, r.Summary)
			if r.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s\nsummary: %s\nevidence: %q", r.Verdict, tc.verdict, r.Summary, r.Evidence)
			}
			if tc.severity != "" && r.Severity != tc.severity {
				t.Errorf("severity %s, want %s (%s)", r.Severity, tc.severity, r.Summary)
			}
			if limit := cfg.Timeout + hostileMargin; elapsed > limit {
				t.Errorf("took %v, more than --timeout %v + %v", elapsed, cfg.Timeout, hostileMargin)
			}
		})
	}
}
