// Package fakecas is a fake Microsoft Exchange Client Access server: the
// HTTP side of server-to-server Kerberos. When CAS 1 proxies an OWA or EWS
// request to CAS 2's internalURL, it authenticates with
// "WWW-Authenticate: Negotiate" and a Kerberos ticket for HTTP/<CAS 2>;
// this package plays CAS 2, over TLS, with IIS's answers.
//
// What is modelled (IIS 10 with Windows Authentication on Exchange's
// virtual directories):
//
//   - Virtual directories /owa, /ews/exchange.asmx,
//     /Microsoft-Server-ActiveSync, /autodiscover/autodiscover.xml and
//     /mapi, matched without regard to case as IIS does; anything else is
//     IIS's 404.
//   - An anonymous request gets 401 with "Server: Microsoft-IIS/10.0",
//     "X-Powered-By: ASP.NET", one WWW-Authenticate header per Windows
//     Authentication provider in the configured order, and IIS's 401.2
//     page; W3C log "401 2 5".
//   - "Authorization: Negotiate <base64>" carrying SPNEGO (RFC 4178, as
//     HTTP clients send it per RFC 4559) or a bare Kerberos token is
//     accepted with the caller's keytab by exauth's own acceptor
//     (internal/gssapi): success is 200 with "WWW-Authenticate: Negotiate
//     <NegTokenResp>" carrying the AP-REP when the client asked for mutual
//     authentication; a refused token is 401 with the bare provider
//     challenges again and no token, W3C log "401 1 <SSPI status>".
//   - The Date header comes from Config.Clock (plus ClockOffset): a probe
//     reads it as the server's clock.
//
// Not modelled: NTLM. The "NTLM" provider is advertised when configured,
// but an NTLM token (in an NTLM or a Negotiate header) is always refused
// with 401; the fake never sends an NTLM challenge. Authentication is per
// request (Kerberos needs one leg), there is no connection-bound context,
// no Extended Protection (channel binding) and no HTTP/2 (IIS downgrades
// Windows Authentication to HTTP/1.1 anyway).
package fakecas

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/gssapi"
)

// Provider is an IIS Windows Authentication provider, as listed in
// system.webServer/security/authentication/windowsAuthentication/providers.
type Provider string

// The providers IIS knows.
const (
	// ProviderNegotiate is SPNEGO: Kerberos, or NTLM inside Negotiate.
	ProviderNegotiate Provider = "Negotiate"
	// ProviderNTLM is bare NTLM. The fake advertises it but refuses every
	// NTLM token (no NTLM implementation).
	ProviderNTLM Provider = "NTLM"
	// ProviderNegotiateKerberos is Negotiate restricted to Kerberos; IIS
	// still advertises it as "WWW-Authenticate: Negotiate".
	ProviderNegotiateKerberos Provider = "Negotiate:Kerberos"
)

// scheme is the WWW-Authenticate scheme a provider is advertised as.
func (p Provider) scheme() string {
	if p == ProviderNegotiateKerberos {
		return string(ProviderNegotiate)
	}
	return string(p)
}

// DefaultProviders is IIS's default list: Negotiate, then NTLM.
func DefaultProviders() []Provider { return []Provider{ProviderNegotiate, ProviderNTLM} }

// VirtualDirectories are the paths the fake serves (matched without regard
// to case, as IIS does, with anything below them).
func VirtualDirectories() []string {
	return []string{"/owa", "/ews/exchange.asmx", "/Microsoft-Server-ActiveSync", "/autodiscover/autodiscover.xml", "/mapi"}
}

// Limits and deadlines. IIS's own: connectionTimeout 120 s; http.sys
// MaxFieldLength 65534 and MaxRequestBytes 16 KB by default (a Kerberos
// ticket with a large PAC needs more, so it is commonly raised to 64 KB).
const (
	DefaultMaxBodyBytes = 1 << 20
	maxHeaderBytes      = 64 << 10
	readHeaderTimeout   = 10 * time.Second
	readTimeout         = 30 * time.Second
	writeTimeout        = 30 * time.Second
	idleTimeout         = 120 * time.Second
)

// Config configures a fake Client Access server. Every fault is data: the
// providers list (NTLM only), the clock offset, the keytab (a stale or
// wrong one is the caller's choice) and the certificate (untrusted or for
// the wrong name is the caller's choice).
type Config struct {
	// Host is the server's name, e.g. "cas02.lab.test". Required. The
	// expected service principal is HTTP/<Host> unless Service is set.
	Host string
	// Service overrides the expected service principal ("HTTP/cas02.lab.test",
	// optionally "@REALM"); "*" accepts a ticket for any principal in the
	// keytab.
	Service string
	// Addr is the TCP address to listen on; empty means "127.0.0.1:0".
	Addr string
	// Certificate or GetCertificate is the TLS server certificate. One is
	// required.
	Certificate    *tls.Certificate
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// Keytab holds the server's keys (the CAS computer account's). A nil
	// keytab refuses every token, as a server without credentials does.
	Keytab *keytab.Keytab
	// Providers are the Windows Authentication providers in order; nil
	// means DefaultProviders. An empty non-nil list disables Windows
	// Authentication (every request is 401 with no WWW-Authenticate).
	Providers []Provider
	// Clock is the server's clock; nil is the system clock. ClockOffset is
	// added to it (a CAS seven minutes ahead). The Date header, the
	// acceptor's skew check and the log's timestamps use the result.
	Clock       clock.Clock
	ClockOffset time.Duration
	// MaxSkew is the allowed Kerberos clock skew; 0 means 5 minutes.
	MaxSkew time.Duration
	// MaxBodyBytes bounds a request body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logf receives IIS-like W3C log lines (the "#Fields:" header at
	// start, then one line per request) and, as "#exauth:" comment lines,
	// the reason a token was refused, which IIS does not log. It may be
	// called from several goroutines at once.
	Logf func(format string, args ...any)
}

// Server is a running fake Client Access server.
type Server struct {
	cfg      Config
	clk      clock.Clock
	service  string
	provs    []Provider
	maxBody  int64
	replay   *gssapi.ReplayCache
	ln       net.Listener
	port     string
	srv      *http.Server
	done     chan struct{}
	closeErr error
	once     sync.Once
}

// W3CFields is the #Fields line of the log: IIS's default field set.
const W3CFields = "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"

// Start listens on cfg.Addr and serves HTTPS until Close.
func Start(cfg Config) (*Server, error) {
	if cfg.Host == "" {
		return nil, errors.New("fakecas: Config.Host is required")
	}
	if cfg.Certificate == nil && cfg.GetCertificate == nil {
		return nil, errors.New("fakecas: Config.Certificate or GetCertificate is required")
	}
	if cfg.MaxSkew < 0 || cfg.MaxBodyBytes < 0 {
		return nil, errors.New("fakecas: negative MaxSkew or MaxBodyBytes")
	}
	provs := cfg.Providers
	if provs == nil {
		provs = DefaultProviders()
	}
	for _, p := range provs {
		switch p {
		case ProviderNegotiate, ProviderNTLM, ProviderNegotiateKerberos:
		default:
			return nil, fmt.Errorf("fakecas: unknown provider %q (want Negotiate, NTLM or Negotiate:Kerberos)", p)
		}
	}
	s := &Server{
		cfg:     cfg,
		clk:     clock.Offset{Base: clock.Or(cfg.Clock), By: cfg.ClockOffset},
		service: cfg.Service,
		provs:   append([]Provider(nil), provs...),
		maxBody: cfg.MaxBodyBytes,
		replay:  gssapi.NewReplayCache(),
		done:    make(chan struct{}),
	}
	switch s.service {
	case "":
		s.service = "HTTP/" + cfg.Host
	case "*":
		s.service = ""
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fakecas: %w", err)
	}
	_, s.port, _ = net.SplitHostPort(ln.Addr().String())
	tcfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: cfg.GetCertificate,
		// Windows Authentication over HTTP/2 makes IIS answer
		// HTTP_1_1_REQUIRED; offering only HTTP/1.1 is simpler.
		NextProtos: []string{"http/1.1"},
	}
	if cfg.Certificate != nil {
		tcfg.Certificates = []tls.Certificate{*cfg.Certificate}
	}
	s.ln = tls.NewListener(ln, tcfg)
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout, // also bounds the TLS handshake
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// net/http's own errors (TLS handshake failures: an untrusted
		// or wrong-name certificate seen from the server) go to Logf as
		// comments, as schannel's events would be beside IIS's log.
		ErrorLog: log.New(logWriter{s}, "", 0),
	}
	now := s.clk.Now().UTC()
	s.logf("#Software: Microsoft Internet Information Services 10.0")
	s.logf("#Version: 1.0")
	s.logf("#Date: %s", now.Format("2006-01-02 15:04:05"))
	s.logf("#Fields: %s", W3CFields)
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logf("#exauth: serve: %v", err)
		}
	}()
	return s, nil
}

// Addr is the listening address, "127.0.0.1:port": dial this.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is "https://<Host>:<port>", the name the certificate and the SPN
// are for. The name need not resolve: dial Addr (curl --resolve, a
// Transport's DialContext).
func (s *Server) URL() string { return "https://" + net.JoinHostPort(s.cfg.Host, s.port) }

// Close stops the server at once; every goroutine has ended when it
// returns.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.closeErr = s.srv.Close()
		<-s.done
	})
	return s.closeErr
}

// Shutdown stops accepting and waits for active requests, until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

type logWriter struct{ s *Server }

func (w logWriter) Write(p []byte) (int, error) {
	w.s.logf("#exauth: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// offers reports whether a provider advertised as scheme is configured.
func (s *Server) offers(scheme string) bool {
	for _, p := range s.provs {
		if strings.EqualFold(p.scheme(), scheme) {
			return true
		}
	}
	return false
}

// kerberosOnly reports whether Negotiate is restricted to Kerberos.
func (s *Server) kerberosOnly() bool {
	for _, p := range s.provs {
		if p == ProviderNegotiate {
			return false
		}
	}
	return true
}

// challenges are the bare WWW-Authenticate values, one per provider, in
// order, without duplicates (Negotiate and Negotiate:Kerberos are both
// advertised as Negotiate).
func (s *Server) challenges() []string {
	var out []string
	for _, p := range s.provs {
		sc := p.scheme()
		dup := false
		for _, o := range out {
			dup = dup || o == sc
		}
		if !dup {
			out = append(out, sc)
		}
	}
	return out
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil || h == "" {
		return "-"
	}
	return h
}

// w3c makes a field safe for a space-separated log: IIS writes '+' for
// spaces and '-' for empty.
func w3c(v string) string {
	if v == "" {
		return "-"
	}
	v = strings.Map(func(r rune) rune {
		switch {
		case r == ' ':
			return '+'
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, v)
	if len(v) > 512 {
		v = v[:512]
	}
	return v
}
