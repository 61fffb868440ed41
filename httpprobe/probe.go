// Package httpprobe probes the HTTP path between Exchange Client Access
// servers as a proxying CAS walks it: TLS to the target's internalURL with
// the certificate checked (AllowInternalUntrustedCerts=0), an
// unauthenticated request to read the Windows Authentication providers
// IIS offers, then Negotiate with Kerberos for HTTP/<host>, checking the
// server's mutual-authentication reply. It records what it saw in a
// verdict.Observation; verdict.Diagnose judges it, as for SMTP.
package httpprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	krbgssapi "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/spnego"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/fielderr"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/netobs"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// Config is one HTTP probe.
type Config struct {
	// URL is the target's internalURL, https://host[:port]/path.
	URL string
	// Connect, when set, is dialled instead of the URL's host:port; the
	// URL's host still names the TLS server and the SPN.
	Connect string
	// RootCAs are the trust anchors; nil is the system roots.
	RootCAs     *x509.CertPool
	Timeout     time.Duration // whole probe; default 30s
	StepTimeout time.Duration // each network step; default 10s
	Clock       clock.Clock   // this host's clock; nil = system
	// Kerberos supplies the Kerberos side (the SMTP probe's: the same
	// credentials and KDCs); nil means no credentials.
	Kerberos kerberos.Side
}

// Settings are an HTTP probe as a front end gives it: files by path,
// checked here, so that the command line and a plan build a Config the
// same way.
type Settings struct {
	URL     string
	Connect string
	CAFile  string // PEM trust anchors; "" = the system roots
	Timeout time.Duration
}

// Config builds the probe's Config with k as its Kerberos side (nil: set
// it afterwards, or probe without credentials) and clk as this host's
// clock (nil: the system's). Errors are
// *fielderr.Error naming the field ("URL", "CAFile").
func (s Settings) Config(k kerberos.Side, clk clock.Clock) (Config, error) {
	cfg := Config{URL: s.URL, Connect: s.Connect, Timeout: s.Timeout, Clock: clk, Kerberos: k}
	if _, err := ParseURL(s.URL); err != nil {
		return cfg, &fielderr.Error{Field: "URL", Err: err}
	}
	if s.CAFile != "" {
		pool, err := netobs.LoadCAFile(s.CAFile)
		if err != nil {
			return cfg, &fielderr.Error{Field: "CAFile", Err: err}
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// maxBody bounds what is read of a response body: only headers matter.
const maxBody = 1 << 20

func (c Config) withDefaults() Config {
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.StepTimeout <= 0 || c.StepTimeout > c.Timeout {
		c.StepTimeout = min(10*time.Second, c.Timeout)
	}
	if c.Clock == nil {
		c.Clock = clock.System{}
	}
	return c
}

// ParseURL checks a target URL: https with a host. A proxying Client
// Access server only ever talks HTTPS to another.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if !strings.EqualFold(u.Scheme, "https") {
		return nil, fmt.Errorf("%q: want an https:// URL (Client Access servers proxy over HTTPS)", raw)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", raw)
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u, nil
}

// Probe observes cfg.URL and judges what it saw.
func Probe(ctx context.Context, cfg Config) *verdict.Report {
	o := Observe(ctx, cfg)
	return verdict.NewReport(o, verdict.Diagnose(o))
}

// Observe runs the requests and records what they showed. It never fails:
// every problem is part of the observation.
func Observe(ctx context.Context, cfg Config) *verdict.Observation {
	cfg = cfg.withDefaults()
	start := cfg.Clock.Now()
	o := &verdict.Observation{
		Options: verdict.ObservedOptions{HasCredentials: cfg.Kerberos != nil, RequireTrustedCert: true, StepTimeout: cfg.StepTimeout},
		HTTP:    &verdict.HTTPObservation{URL: cfg.URL},
	}
	u, err := ParseURL(cfg.URL)
	if err != nil {
		o.Failure = &verdict.StepFailure{Step: verdict.StepConnect, Err: err, Kind: verdict.FailLocal}
		return o
	}
	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = "443"
	}
	o.Target, o.HTTP.Host = host, host
	o.HTTP.HostIsAddress = net.ParseIP(host) != nil
	o.Address = net.JoinHostPort(host, port)
	if cfg.Connect != "" {
		o.Address = cfg.Connect
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	p := &prober{cfg: cfg, obs: o, host: host, url: u}
	p.run(ctx)
	o.Timings.Total = cfg.Clock.Now().Sub(start)
	if ctx.Err() != nil && p.cutShort {
		o.Interrupted = &verdict.Interruption{ByCaller: errors.Is(context.Cause(ctx), context.Canceled), Budget: cfg.Timeout, Step: p.step}
	}
	return o
}

type prober struct {
	cfg  Config
	obs  *verdict.Observation
	host string
	url  *url.URL

	mu       sync.Mutex
	first    net.Conn // the connection the first request uses
	step     verdict.Step
	cutShort bool // a step ended because the context did
}

func (p *prober) run(ctx context.Context) {
	o, h := p.obs, p.obs.HTTP
	p.step = verdict.StepConnect
	conn, ok := p.dial(ctx)
	if !ok {
		return
	}
	p.first = conn
	client := &http.Client{
		Transport: &http.Transport{
			DialTLSContext:        p.dialTLS,
			ResponseHeaderTimeout: p.cfg.StepTimeout,
			TLSNextProto:          map[string]func(string, *tls.Conn) http.RoundTripper{}, // HTTP/1.1, as IIS's Windows authentication wants
			DisableKeepAlives:     false,
		},
		// Redirects are answers too: the probe reports them, not follows.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()

	p.step = verdict.StepAuth
	challenge, _, err := p.get(ctx, client, "")
	if err != nil {
		h.Err, h.ErrStep = err, "challenge"
		p.cutShort = ctx.Err() != nil
		return
	}
	h.Challenge = challenge
	if challenge.Status != http.StatusUnauthorized || !challenge.Offers("Negotiate") || h.HostIsAddress || p.cfg.Kerberos == nil {
		return
	}
	p.step = verdict.StepKerberos
	o.Kerberos = &verdict.KerberosObservation{}
	mech, err := p.cfg.Kerberos.GSSAPIClient(ctx, "HTTP/"+p.host, kerberos.UseXEXPS, o.Kerberos)
	if err != nil {
		p.cutShort = ctx.Err() != nil
		return
	}
	_, token, err := mech.Start()
	if err != nil {
		o.Kerberos.Err = err
		return
	}
	init, err := negTokenInit(token)
	if err != nil {
		o.Kerberos.Err = err
		return
	}
	p.step = verdict.StepAuth
	final, reply, err := p.get(ctx, client, "Negotiate "+base64.StdEncoding.EncodeToString(init))
	if err != nil {
		h.Err, h.ErrStep = err, "token"
		p.cutShort = ctx.Err() != nil
		return
	}
	h.Final = final
	if final.Status == http.StatusUnauthorized {
		// The ticket was refused: the KDC's clock against the server's
		// tells a skewed clock from a stale key.
		kerberos.SampleClockIfHidden(ctx, p.cfg.Kerberos, o.Kerberos)
	}
	if reply == nil {
		return
	}
	apRep, err := responseToken(reply)
	if err != nil {
		h.MutualErr, h.MutualMalformed = err.Error(), true
		return
	}
	if _, err := mech.Next(apRep); err != nil {
		// Only a reply that is an AP-REP and does not decrypt speaks of
		// keys; anything else is a peer that broke the protocol.
		var ie *gssapi.InitError
		h.MutualErr = err.Error()
		h.MutualMalformed = !errors.As(err, &ie) || ie.Reason != gssapi.ReasonMutualFailed
		return
	}
	h.Mutual = true
}

// dial opens the TCP connection and does the TLS handshake, recording
// both; the first request goes over it.
func (p *prober) dial(ctx context.Context) (net.Conn, bool) {
	o := p.obs
	raw, tc, err := p.connect(ctx)
	if raw == nil {
		o.Connect = &verdict.ConnectObservation{Err: err, Kind: netobs.ConnectKind(err)}
		p.cutShort = ctx.Err() != nil
		return nil, false
	}
	o.Connect = &verdict.ConnectObservation{}
	p.step = verdict.StepTLS
	t := &verdict.TLSObservation{Mode: verdict.TLSHTTPS}
	o.TLS = t
	if err != nil {
		t.Err = err
		o.Failure = &verdict.StepFailure{Step: verdict.StepTLS, Err: err}
		p.cutShort = ctx.Err() != nil
		return nil, false
	}
	st := tc.ConnectionState()
	t.Version, t.Cipher = tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)
	if len(st.PeerCertificates) > 0 {
		t.PeerCert = netobs.VerifyCertificate(st.PeerCertificates, p.host, p.cfg.RootCAs, p.cfg.Clock.Now())
	}
	return tc, true
}

// connect dials the target and does the TLS handshake within one step
// bound. raw is nil when the TCP connect failed; a failed handshake returns
// raw (closed) and the error. The certificate is not checked here: it is
// recorded, and the verdict core judges it.
func (p *prober) connect(ctx context.Context) (raw net.Conn, tc *tls.Conn, err error) {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.StepTimeout)
	defer cancel()
	var d net.Dialer
	raw, err = d.DialContext(dctx, "tcp", p.obs.Address)
	if err != nil {
		return nil, nil, err
	}
	tc = tls.Client(raw, &tls.Config{ServerName: p.host, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err := tc.HandshakeContext(dctx); err != nil {
		raw.Close()
		return raw, nil, err
	}
	return raw, tc, nil
}

// dialTLS hands the transport the first connection, then new ones (IIS
// may close a connection after a 401).
func (p *prober) dialTLS(ctx context.Context, _, _ string) (net.Conn, error) {
	p.mu.Lock()
	c := p.first
	p.first = nil
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	_, tc, err := p.connect(ctx)
	if err != nil {
		return nil, err
	}
	return tc, nil
}

// get sends one GET with the Authorization header given ("" for none)
// and records the answer; reply is the Negotiate token the server sent
// back, if any.
func (p *prober) get(ctx context.Context, client *http.Client, authorization string) (*verdict.HTTPResponse, []byte, error) {
	rctx, cancel := context.WithTimeout(ctx, p.cfg.StepTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, p.url.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("User-Agent", "exauth (Exchange Client Access proxy probe)")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	r := &verdict.HTTPResponse{Status: resp.StatusCode, Server: resp.Header.Get("Server"), ReceivedAt: p.cfg.Clock.Now()}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		r.Date = &d
	}
	var reply []byte
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		scheme, param, _ := strings.Cut(strings.TrimSpace(v), " ")
		if scheme == "" {
			continue
		}
		r.Schemes = append(r.Schemes, scheme)
		if strings.EqualFold(scheme, "Negotiate") && strings.TrimSpace(param) != "" {
			r.ReplyToken = true
			if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(param)); err == nil {
				reply = b
			} else {
				reply = []byte{} // present but not base64: the mutual check says so
			}
		}
	}
	return r, reply, nil
}

// negTokenInit wraps a Kerberos initial context token in SPNEGO, offering
// the Microsoft and the standard Kerberos OIDs as Windows clients do.
func negTokenInit(krbToken []byte) ([]byte, error) {
	t := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes:      []asn1.ObjectIdentifier{krbgssapi.OIDMSLegacyKRB5.OID(), krbgssapi.OIDKRB5.OID()},
		MechTokenBytes: krbToken,
	}}
	b, err := t.Marshal()
	if err != nil {
		return nil, fmt.Errorf("SPNEGO: %w", err)
	}
	return b, nil
}

// responseToken is the Kerberos token (the AP-REP) in the server's
// Negotiate reply: inside a SPNEGO NegTokenResp, or bare.
func responseToken(reply []byte) ([]byte, error) {
	if len(reply) == 0 {
		return nil, errors.New("the Negotiate reply token is not base64")
	}
	if reply[0] != 0xa1 {
		return reply, nil // a bare Kerberos token
	}
	var t spnego.SPNEGOToken
	if err := t.Unmarshal(reply); err != nil {
		return nil, fmt.Errorf("the Negotiate reply is not SPNEGO: %w", err)
	}
	if !t.Resp || len(t.NegTokenResp.ResponseToken) == 0 {
		return nil, errors.New("the SPNEGO reply carries no Kerberos token")
	}
	return t.NegTokenResp.ResponseToken, nil
}
