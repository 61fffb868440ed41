package gssapi

import (
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/exauth/exauth/internal/clock"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// smtpBackend is a go-smtp backend whose sessions offer AUTH GSSAPI with
// this package's acceptor and refuse mail until authenticated.
type smtpBackend struct {
	kt    *keytab.Keytab
	clock clock.Clock

	mu       sync.Mutex
	received []string // "principal: body"
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b}, nil
}

type smtpSession struct {
	b   *smtpBackend
	srv *Server
}

var _ smtp.AuthSession = (*smtpSession)(nil)

func (s *smtpSession) AuthMechanisms() []string { return []string{Mechanism} }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != Mechanism {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	srv, err := NewServer(ServerConfig{Keytab: s.b.kt, Service: testService, Clock: s.b.clock, Mode: ModeSASL})
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return srv, nil
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if s.srv == nil || s.srv.Principal() == "" {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *smtpSession) Data(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.received = append(s.b.received, s.srv.Principal()+": "+strings.TrimSpace(string(body)))
	return nil
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }

// startSMTP runs a go-smtp server on a loopback port until the test ends.
func startSMTP(t *testing.T, be *smtpBackend) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(be)
	srv.Domain = "hub01.lab.test"
	srv.AllowInsecureAuth = true // loopback test; GSSAPI itself authenticates
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestGoSMTP_AuthGSSAPI: a standard go-smtp client authenticates to a
// standard go-smtp server with AUTH GSSAPI (RFC 4752, mutual
// authentication and the security-layer step) and sends a message.
func TestGoSMTP_AuthGSSAPI(t *testing.T) {
	kt := serviceKeytab(t)
	be := &smtpBackend{kt: kt, clock: clock.NewFake(t0.Add(time.Minute))}
	addr := startSMTP(t, be)
	for _, useSPNEGO := range []bool{false, true} {
		tkt, key := issue(t, ticketSpec{kt: kt})
		gss := newTestClient(t, tkt, key, ModeSASL, true, useSPNEGO, clock.NewFake(t0))
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Hello("hub02.lab.test"); err != nil {
			t.Fatal(err)
		}
		if ok, mechs := c.Extension("AUTH"); !ok || mechs != Mechanism {
			t.Errorf("AUTH extension %v %q", ok, mechs)
		}
		if err := c.Auth(gss); err != nil {
			t.Fatalf("Auth (spnego=%v): %v", useSPNEGO, err)
		}
		if !gss.Mutual() || !gss.Done() {
			t.Errorf("Mutual %v, Done %v", gss.Mutual(), gss.Done())
		}
		if err := c.SendMail("hub02@lab.test", []string{"postmaster@lab.test"}, strings.NewReader("Subject: hi\r\n\r\nrouted\r\n")); err != nil {
			t.Fatalf("SendMail: %v", err)
		}
		if err := c.Quit(); err != nil {
			t.Errorf("Quit: %v", err)
		}
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if len(be.received) != 2 || !strings.HasPrefix(be.received[0], "HUB02$@LAB.TEST: Subject: hi") {
		t.Errorf("received %q", be.received)
	}
}

// TestGoSMTP_SkewedAcceptor: the acceptor's failure reaches the go-smtp
// client as go-smtp's 454 4.7.0, the reply Exchange gives too.
func TestGoSMTP_SkewedAcceptor(t *testing.T) {
	kt := serviceKeytab(t)
	be := &smtpBackend{kt: kt, clock: clock.NewFake(t0.Add(7 * time.Minute))}
	addr := startSMTP(t, be)
	tkt, key := issue(t, ticketSpec{kt: kt})
	gss := newTestClient(t, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Auth(gss)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 454 || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 0}) {
		t.Fatalf("Auth error %v, want 454 4.7.0", err)
	}
	if !strings.Contains(se.Message, "KRB_AP_ERR_SKEW") {
		t.Errorf("reply text %q does not name KRB_AP_ERR_SKEW", se.Message)
	}
	if gss.Mutual() {
		t.Error("Mutual() after a refused AP-REQ")
	}
	if err := c.Mail("hub02@lab.test", nil); err == nil {
		t.Error("MAIL accepted without authentication")
	}
}
