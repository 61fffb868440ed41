// Package fakeserver is a bundled fake Exchange receive connector and a fake
// KDC, for deterministic tests and lab rehearsal of Exchange server
// authentication failures.
//
// The connector speaks SMTP the way an Exchange 2010-2019 Hub/Mailbox
// transport receive connector does: its banner, its EHLO list and order,
// X-ANONYMOUSTLS and STARTTLS, and X-EXPS GSSAPI / AUTH GSSAPI handed to a
// pluggable Authenticator. It is written on net/textproto-style line handling
// rather than on emersion/go-smtp's server because go-smtp cannot advertise
// or dispatch X- verbs (upstream declined non-standard extensions, go-smtp
// pull request 303); go-smtp is still used in the tests as an independent
// client.
//
// The engine knows nothing about scenarios. A scenario configures
// behaviours — the banner clock, the capability list, verb masking, a TLS
// fault, the authenticator — and the engine consults them.
package fakeserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/exchangeauth"
)

// DefaultCapabilities returns the EHLO list of an Exchange 2013+ default
// receive connector, in Exchange's order, before TLS (a new slice each
// time: callers may change it).
func DefaultCapabilities() []string {
	return []string{
		"SIZE 37748736",
		"PIPELINING",
		"DSN",
		"ENHANCEDSTATUSCODES",
		"STARTTLS",
		"X-ANONYMOUSTLS",
		"AUTH NTLM",
		"X-EXPS GSSAPI NTLM",
		"8BITMIME",
		"BINARYMIME",
		"CHUNKING",
		"XRDST",
	}
}

// AnonymousTLSCapabilities derives the EHLO list an Exchange hub sends
// inside X-ANONYMOUSTLS from its list before TLS: STARTTLS and
// X-ANONYMOUSTLS gone; an X-EXPS line that offers GSSAPI (a bridgehead)
// offers EXCHANGEAUTH first and is followed by "X-EXCHANGEAUTH SHA256";
// AUTH gains LOGIN (Basic authentication is offered once TLS protects it).
// An Edge server's "X-EXPS NTLM" stays as it is.
func AnonymousTLSCapabilities(before []string) []string {
	var out []string
	for _, c := range before {
		f := strings.Fields(c)
		if len(f) == 0 {
			continue
		}
		switch kw := strings.ToUpper(f[0]); {
		case kw == "STARTTLS" || kw == "X-ANONYMOUSTLS" || kw == "X-EXCHANGEAUTH":
			continue
		case kw == "X-EXPS" && containsWord(f[1:], "GSSAPI") && !containsWord(f[1:], "EXCHANGEAUTH"):
			out = append(out, "X-EXPS EXCHANGEAUTH "+strings.Join(f[1:], " "), "X-EXCHANGEAUTH SHA256")
		case kw == "AUTH" && !containsWord(f[1:], "LOGIN"):
			out = append(out, c+" LOGIN")
		default:
			out = append(out, c)
		}
	}
	return out
}

func containsWord(list []string, w string) bool {
	for _, v := range list {
		if strings.EqualFold(v, w) {
			return true
		}
	}
	return false
}

// GCPercent is the garbage-collection target `exauth serve` runs the fake
// hub and KDC with: their heaps are small and mostly short-lived garbage
// (ASN.1, TLS records), so collecting a quarter as often costs a few MiB
// and saves about a sixth of their CPU (see BENCHMARKS.md).
const GCPercent = 400

// Procs is how many processors (GOMAXPROCS) `exauth serve` runs the fake
// servers on by default. A fake connector is I/O-bound: its sessions wait
// on the network far longer than they compute. With one P, Go's runtime
// is one thread polling every connection, the shape of Postfix's
// smtp-sink; with two, each connection that becomes readable wakes the
// other P's thread, and on a 2-core machine those wake-ups cost more than
// the second core buys: under Postfix's smtp-source, 111 µs of CPU a
// session against 82 µs with one (BENCHMARKS.md, figure 8).
const Procs = 1

// Limits are the protections a real receive connector has. Zero values
// mean the defaults, which follow Exchange's own defaults where it has one.
type Limits struct {
	MaxLineBytes    int           // longest command line; default 32768, Exchange's (RFC 5321 says 512; Kerberos tokens are longer)
	CommandTimeout  time.Duration // to finish one exchange (a DATA body, an AUTH step, a write); default 5m
	IdleTimeout     time.Duration // waiting for the next command; default 5m (Exchange's ConnectionInactivityTimeout)
	MaxConnections  int           // concurrent sessions; default 5000 (Exchange's MaxInboundConnection)
	MaxBadCommands  int           // protocol errors before 421; default 10
	MaxRecipients   int           // per message; default 200
	MaxMessageBytes int64         // DATA size; default 36 MiB, as SIZE advertises
}

func (l Limits) withDefaults() Limits {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt(&l.MaxLineBytes, 32768)
	def(&l.CommandTimeout, 5*time.Minute)
	def(&l.IdleTimeout, 5*time.Minute)
	defInt(&l.MaxConnections, 5000)
	defInt(&l.MaxBadCommands, 10)
	defInt(&l.MaxRecipients, 200)
	if l.MaxMessageBytes <= 0 {
		l.MaxMessageBytes = 37748736
	}
	return l
}

// Faults are the misbehaviours a scenario can switch on.
type Faults struct {
	// MaskVerbs lists EHLO keywords to overwrite with X characters, as a
	// firewall's ESMTP inspection (Cisco "fixup smtp") does: the client sees
	// "250-XXXXXXXA" and a command using the verb arrives masked too, so the
	// server answers 500.
	MaskVerbs []string
	// DropVerbs lists EHLO keywords removed from the list, and whose
	// commands are then refused as unknown.
	DropVerbs []string
	// FailTLSHandshake accepts STARTTLS / X-ANONYMOUSTLS with 220 and then
	// answers the client's hello with a fatal handshake_failure alert.
	FailTLSHandshake bool
}

// Config is a receive connector's configuration.
type Config struct {
	Host          string      // FQDN in the banner and EHLO answer, e.g. "hub01.lab.test"
	ConnectorName string      // for logs, e.g. `Default HUB01`; default "Default <HOST>"
	Addr          string      // listen address; default "127.0.0.1:0"
	Clock         clock.Clock // the server's own clock (banner date); nil = system
	// Banner replaces the default greeting text after "220 ", as
	// Set-ReceiveConnector -Banner does; administrators use it to hide the
	// product and the date, which also hides the server's clock.
	Banner string
	// Capabilities is the EHLO list before TLS, in order; nil means
	// DefaultCapabilities. After TLS, STARTTLS and X-ANONYMOUSTLS are
	// removed, as Exchange does.
	Capabilities []string
	// CapabilitiesAnonymousTLS is the EHLO list inside X-ANONYMOUSTLS, in
	// order; nil derives it from Capabilities as an Exchange hub does:
	// STARTTLS and X-ANONYMOUSTLS gone, EXCHANGEAUTH first on an X-EXPS
	// line that offers GSSAPI and "X-EXCHANGEAUTH SHA256" after it, LOGIN
	// added to AUTH.
	CapabilitiesAnonymousTLS []string
	// TLSMinVersion and TLSMaxVersion bound the TLS versions the connector
	// negotiates; zero means TLS 1.0 and, inside X-ANONYMOUSTLS, TLS 1.2
	// (where ExchangeAuth's EAP key is defined; STARTTLS goes up to 1.3).
	TLSMinVersion, TLSMaxVersion uint16
	// Tarpit delays a failed X-EXPS before its 454 and the disconnect, as
	// a receive connector's TarpitInterval (Exchange's default: 5s); zero
	// answers at once.
	Tarpit time.Duration
	// Certificate is presented on STARTTLS / X-ANONYMOUSTLS. Without one,
	// TLS verbs are not advertised.
	Certificate *tls.Certificate
	// GetCertificate, when Certificate is nil, supplies the certificate at
	// the first handshake instead (a lab that starts many connectors and
	// probes few of them saves the key generation).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Authenticator  Authenticator // X-EXPS and AUTH; nil answers 504 5.7.4
	// OnTLS is called after each completed TLS handshake, with the verb
	// that started it: tests and labs use it to see what a session binds
	// (ExchangeAuth's EAP key). It runs on the session's goroutine.
	OnTLS func(verb string, state tls.ConnectionState)
	// OnMessage receives each accepted message; nil discards it.
	OnMessage func(Envelope) error
	Limits    Limits
	Faults    Faults
	// Logf receives SMTP receive protocol-log lines and event texts; nil
	// discards them.
	Logf func(format string, args ...any)
}

// Envelope is one accepted message.
type Envelope struct {
	From       string
	To         []string
	Data       []byte
	Principal  string // authenticated client, if any
	RemoteAddr string
	TLS        bool // received inside TLS
}

// Server is a running receive connector.
type Server struct {
	cfg         Config
	limits      Limits
	clock       clock.Clock
	ln          net.Listener
	tlsConf     *tls.Config
	tlsConfAnon *tls.Config // X-ANONYMOUSTLS: at most TLS 1.2 unless configured
	// certificate is the connector's certificate, parsed once at first use
	// (ExchangeAuth hashes its public key).
	certificate func() (*x509.Certificate, error)
	logf        func(string, ...any)
	// logConnector is the protocol log's connector-id field and its comma:
	// `HUB01\Default HUB01,`.
	logConnector string
	// The EHLO lists, computed once.
	capsPlain, capsTLS, capsAnon []string
	mu                           sync.Mutex
	conns                        map[*session]struct{}
	closing                      bool
	wg                           sync.WaitGroup
	sessions                     uint64
	done                         chan struct{}
	// idle hands a new session to a worker goroutine that has finished
	// its last one (sessionWorker).
	idle chan sessionStart
}

// sessionStart is a session handed to a worker; full says it is over
// MaxConnections and is to be refused.
type sessionStart struct {
	sess *session
	full bool
}

// Start validates cfg, listens and serves in the background.
func Start(cfg Config) (*Server, error) {
	if cfg.Host == "" {
		return nil, errors.New("fakeserver: Config.Host is required")
	}
	if strings.ContainsAny(cfg.Host, " \r\n") {
		return nil, fmt.Errorf("fakeserver: invalid host name %q", cfg.Host)
	}
	if strings.ContainsAny(cfg.Banner, "\r\n") {
		return nil, errors.New("fakeserver: Banner must be one line")
	}
	if cfg.ConnectorName == "" {
		cfg.ConnectorName = "Default " + strings.ToUpper(strings.SplitN(cfg.Host, ".", 2)[0])
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.Capabilities == nil {
		cfg.Capabilities = DefaultCapabilities()
	}
	// No TCP keep-alive: IdleTimeout already ends a session whose peer
	// went away, and switching keep-alive on costs four setsockopt calls
	// per connection, a twentieth of a short session's CPU.
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("fakeserver: listen %s: %w", cfg.Addr, err)
	}
	return Serve(ln, cfg), nil
}

// Serve serves on an existing listener (which it closes on shutdown).
func Serve(ln net.Listener, cfg Config) *Server {
	s := &Server{
		cfg:    cfg,
		limits: cfg.Limits.withDefaults(),
		clock:  clock.Or(cfg.Clock),
		ln:     ln,
		logf:   cfg.Logf,
		conns:  make(map[*session]struct{}),
		done:   make(chan struct{}),
		idle:   make(chan sessionStart),
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.logConnector = strings.ToUpper(strings.SplitN(cfg.Host, ".", 2)[0]) + `\` + cfg.ConnectorName + ","
	getCert := cfg.GetCertificate
	if cfg.Certificate != nil {
		getCert = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cfg.Certificate, nil }
	}
	if getCert != nil {
		minV, maxV := cfg.TLSMinVersion, cfg.TLSMaxVersion
		if minV == 0 {
			minV = tls.VersionTLS10
		}
		s.tlsConf = &tls.Config{GetCertificate: getCert, MinVersion: minV, MaxVersion: maxV}
		if maxV == 0 {
			maxV = exchangeauth.MaxTLSVersion
		}
		s.tlsConfAnon = &tls.Config{GetCertificate: getCert, MinVersion: minV, MaxVersion: maxV}
		s.certificate = sync.OnceValues(func() (*x509.Certificate, error) {
			c, err := getCert(nil)
			if err != nil {
				return nil, err
			}
			if c == nil || len(c.Certificate) == 0 {
				return nil, errors.New("fakeserver: no certificate")
			}
			return x509.ParseCertificate(c.Certificate[0])
		})
	}
	if s.cfg.Capabilities == nil {
		s.cfg.Capabilities = DefaultCapabilities()
	}
	s.capsPlain = buildCapabilities(s.cfg, s.cfg.Capabilities, s.tlsConf != nil, false)
	s.capsTLS = buildCapabilities(s.cfg, s.cfg.Capabilities, s.tlsConf != nil, true)
	anon := s.cfg.CapabilitiesAnonymousTLS
	if anon == nil {
		anon = AnonymousTLSCapabilities(s.cfg.Capabilities)
	}
	s.capsAnon = buildCapabilities(s.cfg, anon, s.tlsConf != nil, true)
	s.wg.Add(1)
	go s.acceptLoop()
	return s
}

// Addr is the address the connector listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the connector's FQDN.
func (s *Server) Host() string { return s.cfg.Host }

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.isClosing() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// Temporary errors such as EMFILE: back off as net/http does,
			// without sleeping past shutdown.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.done:
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		s.startSession(c)
	}
}

func (s *Server) startSession(c net.Conn) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.sessions++
	sess := newSession(s, c, s.sessions)
	full := len(s.conns) >= s.limits.MaxConnections
	s.conns[sess] = struct{}{}
	start := sessionStart{sess, full}
	select {
	case s.idle <- start:
	default:
		s.wg.Add(1)
		go s.sessionWorker(start)
	}
	s.mu.Unlock()
}

// sessionWorker runs sessions one after the other until the connector
// shuts down. A goroutine started for each session spent a sixteenth of
// the connector's CPU growing its stack through the TLS handshake and the
// ASN.1 of Kerberos; a worker's stack is already grown. There are at most
// as many workers as sessions run at once.
func (s *Server) sessionWorker(start sessionStart) {
	defer s.wg.Done()
	for {
		if start.full {
			start.sess.refuse()
		} else {
			start.sess.serve()
		}
		s.mu.Lock()
		delete(s.conns, start.sess)
		s.mu.Unlock()
		select {
		case start = <-s.idle:
		case <-s.done:
			return
		}
	}
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// Close stops listening and closes every connection at once.
func (s *Server) Close() error {
	err := s.stopListening()
	s.mu.Lock()
	for sess := range s.conns {
		sess.raw.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// Shutdown stops listening, tells idle sessions "421 4.3.2 Service not
// available" and waits for every session to end, or closes them all when ctx
// ends first. After it returns no goroutine of the server remains.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.stopListening()
	s.mu.Lock()
	for sess := range s.conns {
		sess.shutdown()
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() { s.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		for sess := range s.conns {
			sess.raw.Close()
		}
		s.mu.Unlock()
		<-finished
		return ctx.Err()
	}
}

func (s *Server) stopListening() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	close(s.done)
	s.mu.Unlock()
	if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}
