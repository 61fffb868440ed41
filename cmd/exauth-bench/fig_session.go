package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/exchangeauth"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/krbkey"
)

// clientTLS is the probe's TLS client configuration (smtpprobe's
// upgradeTLS): no verification during the handshake, TLS 1.2 at least.
// Every TLS figure uses it for ours and for the baseline alike.
func clientTLS() *tls.Config {
	return &tls.Config{ServerName: labHost, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}
}

// fetchTicket obtains ONE service ticket for the lab's SPN from a child's
// fake KDC, so that the session load generator does no KDC exchange.
func fetchTicket(rd ready) (*krbclient.ServiceTicket, error) {
	krb5, err := krbclient.LoadKrb5Conf(rd.Krb5Conf)
	if err != nil {
		return nil, err
	}
	creds, err := krbclient.FromKeytab(rd.Keytab, labPrincipal)
	if err != nil {
		return nil, err
	}
	c, err := krbclient.New(krbclient.Config{Krb5: krb5}, creds)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c.ServiceTicket(ctx, labSPN)
}

// anonymousTLS is X-ANONYMOUSTLS, its handshake and the EHLO inside it,
// as a sending Exchange server starts every authenticated session.
func (s *smtpConn) anonymousTLS(tconf *tls.Config) (*tls.Conn, error) {
	if _, err := s.cmd("X-ANONYMOUSTLS", 220); err != nil {
		return nil, err
	}
	tc := tls.Client(s.c, tconf)
	if err := tc.Handshake(); err != nil {
		return nil, fmt.Errorf("TLS: %w", err)
	}
	s.c = tc
	s.br.Reset(tc)
	if _, err := s.cmd("EHLO "+labEHLO, 250); err != nil {
		return nil, err
	}
	return tc, nil
}

// greetAnonymousTLS is the start every figure 1 session shares: connect,
// banner, EHLO, then X-ANONYMOUSTLS and the EHLO inside it. The caller
// closes s.c.
func greetAnonymousTLS(addr string, tconf *tls.Config) (*smtpConn, *tls.Conn, error) {
	s, err := greet(addr)
	if err != nil {
		return nil, nil, err
	}
	tc, err := s.anonymousTLS(tconf)
	if err != nil {
		s.c.Close()
		return nil, nil, err
	}
	return s, tc, nil
}

// healthySession is one full healthy session as the probe (and a sending
// Exchange server) runs it: connect, banner, EHLO, X-ANONYMOUSTLS and the
// handshake, EHLO, X-EXPS GSSAPI with a fresh AP-REQ (a new authenticator:
// the acceptor's replay cache refuses a repeated one), QUIT. The AP-REP
// comes in a 334, as Exchange sends it, and is checked like the probe does
// (mutual authentication) before the empty line that earns the 235.
func healthySession(addr string, tconf *tls.Config, gcfg gssapi.ClientConfig) error {
	s, _, err := greetAnonymousTLS(addr, tconf)
	if err != nil {
		return err
	}
	defer s.c.Close()
	if _, err := s.cmd("X-EXPS GSSAPI", 334); err != nil {
		return err
	}
	g, err := gssapi.NewClient(gcfg)
	if err != nil {
		return err
	}
	_, tok, err := g.Start()
	if err != nil {
		return err
	}
	text, err := s.cmd(base64.StdEncoding.EncodeToString(tok), 334)
	if err != nil {
		return fmt.Errorf("X-EXPS: %w", err)
	}
	rep, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil {
		return fmt.Errorf("334 without an AP-REP: %q", text)
	}
	if _, err := g.Next(rep); err != nil || !g.Mutual() {
		return fmt.Errorf("AP-REP: %v", err)
	}
	if _, err := s.cmd("", 235); err != nil {
		return fmt.Errorf("X-EXPS: %w", err)
	}
	if _, err := s.cmd("QUIT", 221); err != nil {
		return err
	}
	return nil
}

// tlsHandshake is the baseline of figure 1: connect, full handshake, close.
func tlsHandshake(addr string, tconf *tls.Config) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	tc := tls.Client(c, tconf)
	if err := tc.Handshake(); err != nil {
		return err
	}
	return tc.Close()
}

// tlsParams describes what a handshake negotiated, to show both sides of
// figure 1 use the same TLS version, group and cipher.
func tlsParams(addr string, starttls bool) string {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if starttls {
		s := &smtpConn{c: c, br: bufio.NewReader(c)}
		if _, err := s.expect(220); err != nil {
			return err.Error()
		}
		if _, err := s.cmd("EHLO "+labEHLO, 250); err != nil {
			return err.Error()
		}
		if _, err := s.cmd("X-ANONYMOUSTLS", 220); err != nil {
			return err.Error()
		}
	}
	tc := tls.Client(c, clientTLS())
	if err := tc.Handshake(); err != nil {
		return err.Error()
	}
	st := tc.ConnectionState()
	key := "?"
	if len(st.PeerCertificates) > 0 {
		key = fmt.Sprintf("%s", st.PeerCertificates[0].PublicKeyAlgorithm)
	}
	return fmt.Sprintf("%s, %s, %s, %s certificate", tls.VersionName(st.Version), st.CurveID, tls.CipherSuiteName(st.CipherSuite), key)
}

// greet connects, reads the banner and sends EHLO: the start every load
// generator session shares. The caller closes s.c.
func greet(addr string) (*smtpConn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	s := &smtpConn{c: c, br: bufio.NewReaderSize(c, 4096)}
	if _, err := s.expect(220); err != nil {
		c.Close()
		return nil, fmt.Errorf("banner: %w", err)
	}
	if _, err := s.cmd("EHLO "+labEHLO, 250); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

// plainSession is figure 2's session: connect, banner, EHLO, QUIT.
func plainSession(addr string) error {
	s, err := greet(addr)
	if err != nil {
		return err
	}
	defer s.c.Close()
	_, err = s.cmd("QUIT", 221)
	return err
}

// sessionLab is figure 1's two children — the connector under load and,
// in the other, the bare TLS server with the same certificate; each idles
// while the other side's round runs, and each has its own CPU account and
// profile — and a service ticket for the connector, fetched up front.
type sessionLab struct {
	ours, base *serverChild
	ticket     *krbclient.ServiceTicket
}

func startSessionLab(profile string) (*sessionLab, error) {
	ours, err := startChild("hub", profile+"-ours")
	if err != nil {
		return nil, err
	}
	base, err := startChild("hub", profile+"-baseline")
	if err != nil {
		ours.stop()
		return nil, err
	}
	st, err := fetchTicket(ours.ready)
	if err != nil {
		ours.stop()
		base.stop()
		return nil, fmt.Errorf("service ticket: %w", err)
	}
	return &sessionLab{ours: ours, base: base, ticket: st}, nil
}

func (l *sessionLab) stop() {
	l.ours.stop()
	l.base.stop()
}

// pairedSessions runs session against bare TLS handshakes (tconf) in
// alternating rounds and fills r with the rates, their ratio against the
// 0.70× target and the server CPU per operation.
func (l *sessionLab) pairedSessions(r *row, profile string, tconf *tls.Config, session func() error, baseline string, notes ...string) {
	res := runPaired(opts.clients, profile,
		side{"ours", func(int) error { return session() }, groupCPU(l.ours.pid())},
		side{"baseline", func(int) error { return tlsHandshake(l.base.ready.TLS, tconf) }, groupCPU(l.base.pid())})
	resOurs, resBase := res[0], res[1]
	r.ours = fmt.Sprintf("%.0f sessions/s", resOurs.rate())
	r.baseline = fmt.Sprintf("%.0f %s", resBase.rate(), baseline)
	r.ratio, r.hasRatio = resOurs.rate()/resBase.rate(), true
	r.passed = r.ratio >= 0.7 && resOurs.errs == 0
	r.notes = append(r.notes, "ours: "+resOurs.String(), "baseline: "+resBase.String())
	r.notes = append(r.notes, notes...)
	if c0, c1 := resOurs.cpuPerOp(), resBase.cpuPerOp(); c0 > 0 && c1 > 0 {
		r.notes = append(r.notes, fmt.Sprintf("server CPU per operation: %s per session vs %s per handshake (%.2f× the handshake's CPU)", us(c0), us(c1), float64(c0)/float64(c1)))
	}
}

func figHealthySessions() row {
	r := row{figure: fmt.Sprintf("fake connector: full healthy sessions/s, %d clients", opts.clients),
		target: "≥ 0.70×"}
	l, err := startSessionLab("fig1")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer l.stop()
	st := l.ticket
	// One key cache for the ticket's session key, as the probe's Kerberos
	// client keeps one for the probes that share its tickets.
	gcfg := gssapi.ClientConfig{
		Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm,
		Mode: gssapi.ModeExchange, Mutual: true, Keys: krbkey.NewCache(),
	}
	tconf := clientTLS()
	smtp := l.ours.ready.SMTP
	if err := healthySession(smtp, tconf, gcfg); err != nil {
		r.failed = "healthy session: " + err.Error()
		return r
	}
	paramsOurs, paramsBase := tlsParams(smtp, true), tlsParams(l.base.ready.TLS, false)
	l.pairedSessions(&r, "fig1", tconf, func() error { return healthySession(smtp, tconf, gcfg) }, "handshakes/s",
		"TLS ours: "+paramsOurs+"; TLS baseline: "+paramsBase,
		"one service ticket fetched up front; each session builds a fresh AP-REQ (gssapi.NewClient) and verifies the AP-REP")
	return r
}

func figPlainSessions() row {
	r := row{figure: "fake connector: plain EHLO/QUIT sessions/s", target: "≥ 1.00×"}
	const sink = "/usr/sbin/smtp-sink"
	if ok, why := haveTool(sink, "postfix"); !ok {
		r.skipped = why
		return r
	}
	ours, err := startChild("hub", "fig2-ours")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer ours.stop()
	if err := plainSession(ours.ready.SMTP); err != nil {
		r.failed = "plain session: " + err.Error()
		return r
	}
	port, err := freePort()
	if err != nil {
		r.failed = err.Error()
		return r
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// -m: concurrent sessions allowed; the backlog as large as the kernel
	// allows. smtp-sink answers EHLO with its own list and QUIT with 221,
	// like the connector; by default it runs as one process with an event
	// loop.
	args := []string{"-m", "1000", "-h", labHost}
	if os.Getuid() == 0 {
		args = append(args, "-u", "nobody") // smtp-sink refuses to run as root
	}
	cmd := exec.Command(sink, append(args, addr, "4096")...)
	cmd.Stderr = os.Stderr
	if err := startInOwnProcessGroup(cmd); err != nil {
		r.failed = "smtp-sink: " + err.Error()
		return r
	}
	var once sync.Once
	stopSink := func() { once.Do(func() { terminateProcessGroup(cmd.Process.Pid); cmd.Wait() }) }
	defer onExit(stopSink)()
	defer stopSink()
	if err := waitListening(addr, 5*time.Second); err != nil {
		r.failed = "smtp-sink: " + err.Error()
		return r
	}
	if err := plainSession(addr); err != nil {
		r.failed = "smtp-sink session: " + err.Error()
		return r
	}
	res := runPaired(opts.clients, "fig2",
		side{"ours", func(int) error { return plainSession(ours.ready.SMTP) }, groupCPU(ours.pid())},
		side{"baseline", func(int) error { return plainSession(addr) }, groupCPU(cmd.Process.Pid)})
	resOurs, resBase := res[0], res[1]

	r.ours = fmt.Sprintf("%.0f sessions/s", resOurs.rate())
	r.baseline = fmt.Sprintf("%.0f sessions/s (smtp-sink)", resBase.rate())
	r.ratio, r.hasRatio = resOurs.rate()/resBase.rate(), true
	r.passed = r.ratio >= 1.0 && resOurs.errs == 0
	r.notes = append(r.notes, "ours: "+resOurs.String(), "baseline: "+resBase.String(),
		fmt.Sprintf("same Go load generator for both (%d clients: connect, banner, EHLO, QUIT, close); smtp-sink %s", opts.clients, strings.Join(cmd.Args[1:], " ")))
	if c0, c1 := resOurs.cpuPerOp(), resBase.cpuPerOp(); c0 > 0 && c1 > 0 {
		r.notes = append(r.notes, fmt.Sprintf("server CPU per session: %s vs smtp-sink %s (%.2f×)", us(c0), us(c1), float64(c0)/float64(c1)))
	}
	return r
}

// reverseCheck verifies the receiving hub's reverse AP-REQ in a 235 blob
// as the probe does (smtpprobe's AcceptReverse): with the client host's own
// keytab, for SMTPSVC/<its EHLO name>, no AP-REP asked for.
type reverseCheck struct {
	keytab *keytab.Keytab
	keys   *krbkey.Cache
}

func newReverseCheck(path string) (*reverseCheck, error) {
	kt, err := keytab.Load(path)
	if err != nil {
		return nil, err
	}
	return &reverseCheck{keytab: kt, keys: krbkey.NewCache()}, nil
}

// exchangeAuthSession is a full healthy session on exauth's default path:
// connect, banner, EHLO, X-ANONYMOUSTLS and the TLS 1.2 handshake, EHLO,
// `X-EXPS EXCHANGEAUTH SHA256 <blob>` with a fresh AP-REQ and the hash that
// binds it to the TLS session (certificate key, session key, EAP key),
// answered by `235 <blob>` whose reverse AP-REQ and hash are checked as the
// probe checks them, QUIT.
func exchangeAuthSession(addr string, tconf *tls.Config, gcfg gssapi.ClientConfig, rc *reverseCheck) error {
	s, tc, err := greetAnonymousTLS(addr, tconf)
	if err != nil {
		return err
	}
	defer s.c.Close()
	g, err := gssapi.NewClient(gcfg)
	if err != nil {
		return err
	}
	_, tok, err := g.Start()
	if err != nil {
		return err
	}
	st := tc.ConnectionState()
	pub, err := exchangeauth.PublicKey(st.PeerCertificates[0])
	if err != nil {
		return err
	}
	eap, err := exchangeauth.EAPKey(st)
	if err != nil {
		return err
	}
	clientKey := g.SessionKey()
	blob := exchangeauth.FormatBlob(tok, exchangeauth.ClientHash(pub, clientKey, eap))
	text, err := s.cmd("X-EXPS EXCHANGEAUTH "+exchangeauth.Hash+" "+blob, 235)
	if err != nil {
		return fmt.Errorf("X-EXPS EXCHANGEAUTH: %w", err)
	}
	rtoken, rhash, err := exchangeauth.ParseBlob(text)
	if err != nil {
		return fmt.Errorf("235 blob: %w", err)
	}
	srv, err := gssapi.NewServer(gssapi.ServerConfig{Keytab: rc.keytab, Service: "SMTPSVC/" + labEHLO, Mode: gssapi.ModeExchange, Keys: rc.keys})
	if err != nil {
		return err
	}
	if out, done, err := srv.Next(rtoken); err != nil || !done || len(out) > 0 {
		return fmt.Errorf("reverse token: done %v, %d octets out, %v", done, len(out), err)
	}
	acc, _ := srv.Accepted()
	if subtle.ConstantTimeCompare(rhash, exchangeauth.ServerHash(pub, clientKey, eap, acc.SessionKey)) != 1 {
		return errors.New("reverse blob: hash mismatch")
	}
	if _, err := s.cmd("QUIT", 221); err != nil {
		return err
	}
	return nil
}

// figExchangeAuthSessions is figure 1 on the default path: full healthy
// X-EXPS EXCHANGEAUTH sessions/s against bare TLS 1.2 handshakes/s.
func figExchangeAuthSessions() row {
	r := row{figure: fmt.Sprintf("fake connector: full healthy ExchangeAuth sessions/s, %d clients", opts.clients),
		target: "≥ 0.70×"}
	l, err := startSessionLab("fig1e")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer l.stop()
	rc, err := newReverseCheck(l.ours.ready.Keytab)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	st := l.ticket
	gcfg := gssapi.ClientConfig{
		Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm,
		Mode: gssapi.ModeExchange, // no AP-REP: ExchangeAuth answers with the reverse ticket
		Keys: krbkey.NewCache(),
	}
	tconf := clientTLS()
	tconf.MaxVersion = exchangeauth.MaxTLSVersion // as the probe, so that the EAP key is defined
	smtp := l.ours.ready.SMTP
	if err := exchangeAuthSession(smtp, tconf, gcfg, rc); err != nil {
		r.failed = "healthy ExchangeAuth session: " + err.Error()
		return r
	}
	l.pairedSessions(&r, "fig1e", tconf, func() error { return exchangeAuthSession(smtp, tconf, gcfg, rc) }, "handshakes/s (TLS 1.2)",
		"one service ticket fetched up front; each session builds a fresh AP-REQ and its ExchangeAuth hash, and verifies the hub's reverse AP-REQ and hash with the client's keytab, as the probe does")
	return r
}

// unauthenticatedSession is exchangeAuthSession without the authentication:
// connect, banner, EHLO, X-ANONYMOUSTLS, the TLS 1.2 handshake, EHLO, QUIT.
func unauthenticatedSession(addr string, tconf *tls.Config) error {
	s, _, err := greetAnonymousTLS(addr, tconf)
	if err != nil {
		return err
	}
	defer s.c.Close()
	_, err = s.cmd("QUIT", 221)
	return err
}

// figUnauthenticatedSessions splits figure 1e's miss in two: what the
// session's SMTP round trips around the handshake cost on their own, with
// no Kerberos at all, against the same bare TLS 1.2 handshakes. Its ratio
// is the most 1e could reach were authentication free.
func figUnauthenticatedSessions() row {
	r := row{figure: fmt.Sprintf("1e's sessions without authentication (SMTP and TLS only), %d clients", opts.clients),
		target: "— (1e's ceiling)", info: true}
	l, err := startSessionLab("fig1t")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer l.stop()
	tconf := clientTLS()
	tconf.MaxVersion = exchangeauth.MaxTLSVersion
	smtp := l.ours.ready.SMTP
	if err := unauthenticatedSession(smtp, tconf); err != nil {
		r.failed = "session: " + err.Error()
		return r
	}
	l.pairedSessions(&r, "fig1t", tconf, func() error { return unauthenticatedSession(smtp, tconf) }, "handshakes/s (TLS 1.2)",
		"banner, EHLO, X-ANONYMOUSTLS, handshake, EHLO, QUIT: every step of 1e but X-EXPS")
	return r
}
