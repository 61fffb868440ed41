// Package smtpprobe probes an Exchange receive connector the way a sending
// Exchange server does — EHLO, X-ANONYMOUSTLS or STARTTLS, EHLO again,
// X-EXPS GSSAPI (or AUTH GSSAPI) with real Kerberos — records everything it
// saw in an verdict.Observation, and turns that into one verdict with evidence and
// remediation.
//
// Observing and judging are separate: Observe talks to the network and
// records; verdict.Diagnose is a pure function of an verdict.Observation. `exauth explain`
// builds Observations from pasted text and calls the same verdict.Diagnose.
//
// The dialogue is written on a small line layer rather than on
// emersion/go-smtp's client, because go-smtp cannot send Exchange's X- verbs
// (upstream declined non-standard extensions, go-smtp pull request 303);
// replies are parsed by exauth's one reply parser, internal/smtpreply.
package smtpprobe

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// Config is one probe's settings: data, as a blackbox_exporter module is.
type Config struct {
	// Host is the receiving server's name: it names the SPN and the TLS
	// server name. It may carry a port ("hub01.contoso.com:2525").
	Host string
	// Connect, when set, is dialled instead of resolving Host (curl's
	// --connect-to).
	Connect  string
	EHLOName string // default: this host's name
	Mech     verdict.Mech
	TLS      verdict.TLSMode
	SPN      string // default SMTPSVC/HOST for X-EXPS, SMTP/HOST for AUTH
	// RootCAs are the trust anchors for the server certificate; nil means
	// the system roots.
	RootCAs            *x509.CertPool
	RequireTrustedCert bool
	Timeout            time.Duration // whole probe; default 30s
	StepTimeout        time.Duration // each network step; default 10s, never past Timeout
	Clock              clock.Clock   // this host's clock; nil = system
	// Kerberos supplies the GSSAPI client; nil means the probe has no
	// credentials (verdict no-credentials when authentication is reached).
	Kerberos kerberos.Side
	// ShowSecrets puts authentication tokens in the transcript.
	ShowSecrets bool
	// Directory, when set, lets the probe read Active Directory (with its
	// own Kerberos credentials) where the verdict needs it; nil: never.
	Directory *DirectorySettings
	// Dial replaces net.Dialer.DialContext (tests, proxies).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

const (
	defaultTimeout     = 30 * time.Second
	defaultStepTimeout = 10 * time.Second
	defaultPort        = "25"
)

// hostPort splits Config.Host into the name and the address to dial.
func (c *Config) hostPort() (host, addr string, err error) {
	host, port := c.Host, defaultPort
	if h, p, err := net.SplitHostPort(c.Host); err == nil {
		host, port = h, p
	}
	if host == "" {
		return "", "", &FieldError{Field: "Host", Err: errors.New("no host given")}
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", "", &FieldError{Field: "Host", Err: fmt.Errorf("invalid port %q", port)}
	}
	addr = net.JoinHostPort(host, port)
	if c.Connect != "" {
		addr = c.Connect
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			h, p, addr = addr, defaultPort, net.JoinHostPort(addr, defaultPort)
		}
		if strings.Trim(h, "[]") == "" {
			return "", "", &FieldError{Field: "Connect", Err: fmt.Errorf("no host in %q", c.Connect)}
		}
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return "", "", &FieldError{Field: "Connect", Err: fmt.Errorf("invalid port %q in %q", p, c.Connect)}
		}
	}
	return host, addr, nil
}

// Validate reports configuration errors before any network traffic.
func (c *Config) Validate() error {
	if _, _, err := c.hostPort(); err != nil {
		return err
	}
	if strings.ContainsAny(c.EHLOName, " \t\r\n") {
		return &FieldError{Field: "EHLO", Err: fmt.Errorf("%q: an EHLO name is one word, without spaces or line breaks", c.EHLOName)}
	}
	if !c.Mech.Valid() {
		return &FieldError{Field: "Mech", Err: fmt.Errorf("unknown mechanism %q (want "+verdict.MechChoices+")", c.Mech)}
	}
	if !c.TLS.Valid() {
		return &FieldError{Field: "TLS", Err: fmt.Errorf("unknown TLS mode %q (want auto, anonymous, starttls or none)", c.TLS)}
	}
	if c.Timeout < 0 {
		return &FieldError{Field: "Timeout", Err: errors.New("must not be negative")}
	}
	if c.StepTimeout < 0 {
		return &FieldError{Field: "StepTimeout", Err: errors.New("must not be negative")}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Mech == "" {
		c.Mech = verdict.MechAuto
	}
	if c.TLS == "" {
		c.TLS = verdict.TLSAuto
	}
	if c.Timeout == 0 {
		c.Timeout = defaultTimeout
	}
	if c.StepTimeout == 0 {
		c.StepTimeout = defaultStepTimeout
	}
	if c.EHLOName == "" {
		c.EHLOName = localFQDN()
	}
	c.Clock = clock.Or(c.Clock)
	return c
}

// localFQDN is this host's canonical name, as Exchange's sender writes its
// FQDN in EHLO: ExchangeAuth's reverse ticket is for SMTPSVC/<that name>,
// so a short name would make the receiver ask for an SPN nobody has.
func localFQDN() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\r\n") {
		return "localhost"
	}
	if strings.Contains(h, ".") {
		return h
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if cname, err := net.DefaultResolver.LookupCNAME(ctx, h); err == nil {
		if c := strings.TrimSuffix(cname, "."); strings.Contains(c, ".") {
			return c
		}
	}
	return h
}

// Probe observes the target and diagnoses what it saw.
func Probe(ctx context.Context, cfg Config) *verdict.Report {
	obs := Observe(ctx, cfg)
	return verdict.NewReport(obs, verdict.Diagnose(obs))
}
