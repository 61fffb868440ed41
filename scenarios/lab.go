package scenarios

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// Options control where and how a scenario runs.
type Options struct {
	// StateDir receives krb5.conf, the client keytab and the CA; "" makes a
	// temporary directory that Close removes.
	StateDir string
	// Logf receives what the hub and the KDC would log: SMTP receive
	// protocol-log lines, event 1035, KDC event 11. nil discards.
	Logf func(format string, args ...any)
	// SMTPAddr and KDCAddr are listen addresses; "" = 127.0.0.1 with a port
	// the OS picks.
	SMTPAddr, KDCAddr string
	// Clock is the probing host's clock, from which the scenario's hub and
	// KDC offsets are counted; nil = system.
	Clock clock.Clock
}

// Lab is a running scenario: a fake KDC and a fake receive connector.
type Lab struct {
	Scenario *Scenario
	Hub      *fakeserver.Server
	KDC      *fakekdc.KDC
	CA       *fakeserver.CA

	Realm     string // e.g. LAB.TEST
	Host      string // e.g. hub01.lab.test
	SPN       string // SMTPSVC/<host>
	Principal string // the client, e.g. HUB02$@LAB.TEST

	StateDir     string
	Krb5Conf     string // path
	ClientKeytab string // path, mode 0600
	CAFile       string // path

	clock   clock.Clock
	tempDir bool
}

// Run starts a scenario.
func Run(sc *Scenario, opts Options) (lab *Lab, err error) {
	base := clock.Or(opts.Clock)
	lab = &Lab{
		Scenario: sc, Realm: sc.KDC.Realm, Host: strings.ToLower(sc.Hub.Host),
		clock: base,
	}
	lab.SPN = "SMTPSVC/" + lab.Host
	lab.Principal = sc.KDC.Client + "@" + sc.KDC.Realm
	defer func() {
		if err != nil {
			lab.Close()
			lab = nil
		}
	}()
	if err := lab.stateDir(opts.StateDir); err != nil {
		return lab, err
	}
	logf := opts.Logf // nil: nothing is formatted for nobody

	// The KDC, with random keys: scenario files hold no secrets, and random
	// keys skip string-to-key, which would dominate start-up.
	kcfg := fakekdc.Config{
		Realm:  sc.KDC.Realm,
		Clock:  clock.Offset{Base: base, By: sc.KDC.ClockOffset.D()},
		Logf:   logf,
		Addr:   opts.KDCAddr,
		Faults: fakekdc.Faults{DuplicateSPN: fakekdc.DuplicateSPNMode(sc.KDC.DuplicateSPN), SilentUDP: sc.KDC.SilentUDP},
	}
	if sc.KDC.Reachable != nil && !*sc.KDC.Reachable {
		kcfg.Faults.Unreachable = true
	}
	hubAcct := sc.hubAccount()
	for _, a := range sc.KDC.Accounts {
		acc := fakekdc.Account{Name: a.Name, KVNO: max(a.KVNO, 1), SPNs: a.SPNs}
		for _, e := range a.ETypes {
			id, _ := enctype.ID(e) // validated when loaded
			acc.ETypes = append(acc.ETypes, id)
		}
		if hubAcct != nil && strings.EqualFold(a.Name, hubAcct.Name) {
			// Older key versions, random too ("" = random).
			acc.PreviousPasswords = make([]string, sc.Hub.Keytab.KVNOBehind)
		}
		kcfg.Accounts = append(kcfg.Accounts, acc)
	}
	if lab.KDC, err = fakekdc.Start(kcfg); err != nil {
		return lab, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	lab.Krb5Conf = filepath.Join(lab.StateDir, "krb5.conf")
	if err := os.WriteFile(lab.Krb5Conf, lab.KDC.Krb5Conf(), 0o644); err != nil {
		return lab, err
	}
	clientKT, err := lab.KDC.Keytab(sc.KDC.Client, 0)
	if err != nil {
		return lab, fmt.Errorf("scenario %s: client keytab: %w", sc.Name, err)
	}
	lab.ClientKeytab = filepath.Join(lab.StateDir, "client.keytab")
	if err := writeKeytab(lab.ClientKeytab, clientKT); err != nil {
		return lab, err
	}

	// The hub.
	hcfg := fakeserver.Config{
		Host:         lab.Host,
		Banner:       sc.Hub.Banner,
		Addr:         opts.SMTPAddr,
		Clock:        clock.Offset{Base: base, By: sc.Hub.ClockOffset.D()},
		Capabilities: sc.Hub.Capabilities,
		Faults: fakeserver.Faults{
			MaskVerbs: sc.Hub.MaskVerbs, DropVerbs: sc.Hub.DropVerbs, FailTLSHandshake: sc.Hub.TLS.FailHandshake,
		},
		Logf: logf,
	}
	if len(hcfg.Capabilities) == 0 {
		hcfg.Capabilities = nil
	}
	if hcfg.GetCertificate, err = lab.certificate(); err != nil {
		return lab, err
	}
	if hubAcct != nil {
		kt, err := lab.KDC.Keytab(hubAcct.Name, max(hubAcct.KVNO, 1)-sc.Hub.Keytab.KVNOBehind)
		if err != nil {
			return lab, fmt.Errorf("scenario %s: hub keytab: %w", sc.Name, err)
		}
		hcfg.Authenticator = &fakeserver.KerberosAcceptor{Keytab: kt, Clock: hcfg.Clock, Replay: gssapi.NewReplayCache()}
	}
	if lab.Hub, err = fakeserver.Start(hcfg); err != nil {
		return lab, fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	return lab, nil
}

func (l *Lab) stateDir(dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "exauth-lab-")
		if err != nil {
			return err
		}
		l.StateDir, l.tempDir = d, true
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	l.StateDir = dir
	return nil
}

// certificate writes the CA the probe is told to trust and returns how the
// hub gets the certificate the scenario asks for: issued at the first TLS
// handshake, since most scenarios started by a test suite are never asked
// for one and key generation dominates start-up.
func (l *Lab) certificate() (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	now := l.clock.Now()
	ca, err := fakeserver.NewCA("exauth lab CA ("+l.Scenario.Name+")", now, 2*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	l.CA = ca
	l.CAFile = filepath.Join(l.StateDir, "ca.pem")
	if err := fakeserver.WritePEM(l.CAFile, ca.PEM()); err != nil {
		return nil, err
	}
	kind := l.Scenario.Hub.TLS.Certificate
	if kind == "none" {
		return nil, nil
	}
	var once sync.Once
	var cert tls.Certificate
	var certErr error
	issue := func() {
		names := []string{l.Host}
		notBefore, notAfter := now.Add(-time.Hour), now.Add(365*24*time.Hour)
		issuer := ca
		switch kind {
		case "untrusted":
			if issuer, certErr = fakeserver.NewCA("an unrelated CA", now, 2*365*24*time.Hour); certErr != nil {
				return
			}
		case "expired":
			notBefore, notAfter = now.Add(-2*365*24*time.Hour), now.Add(-24*time.Hour)
		case "wrong-name":
			names = []string{"mail.elsewhere.test"}
		}
		cert, certErr = issuer.Issue(names, notBefore, notAfter)
	}
	return func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		once.Do(issue)
		return &cert, certErr
	}, nil
}

// ProbeConfig is the probe configuration the scenario is meant for: its
// credentials, its krb5.conf, its CA, its probe settings.
func (l *Lab) ProbeConfig() smtpprobe.Config {
	p := l.Scenario.Probe
	timeout := p.Timeout.D()
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return smtpprobe.Config{
		Host:               l.Host,
		Connect:            l.Hub.Addr(),
		EHLOName:           "hub02." + strings.ToLower(l.Realm),
		Mech:               verdict.Mech(orDefault(p.Mech, "auto")),
		TLS:                verdict.TLSMode(orDefault(p.TLS, "auto")),
		RootCAs:            l.CA.Pool(),
		RequireTrustedCert: p.RequireTrustedCert,
		Timeout:            timeout,
		Clock:              l.clock,
		Kerberos: smtpprobe.NewKerberos(smtpprobe.KerberosSettings{
			Krb5Conf: l.Krb5Conf, Keytab: l.ClientKeytab, Principal: l.Principal, Clock: l.clock,
		}),
	}
}

// ProbeArgs are the `exauth` arguments that probe this lab from another
// process.
func (l *Lab) ProbeArgs() []string {
	args := []string{"probe", l.Host, "--connect", l.Hub.Addr(), "--krb5-conf", l.Krb5Conf,
		"--keytab", l.ClientKeytab, "--principal", l.Principal, "--ca-file", l.CAFile,
		"--ehlo", "hub02." + strings.ToLower(l.Realm)}
	p := l.Scenario.Probe
	if p.Mech != "" && p.Mech != "auto" {
		args = append(args, "--mech", p.Mech)
	}
	if p.TLS != "" && p.TLS != "auto" {
		args = append(args, "--tls", p.TLS)
	}
	if p.RequireTrustedCert {
		args = append(args, "--require-trusted-cert")
	}
	if p.Timeout.D() != 0 {
		args = append(args, "--timeout", p.Timeout.String())
	}
	return args
}

// Ready is the line `exauth serve` prints once the lab is up (DESIGN.md).
type Ready struct {
	Scenario  string   `json:"scenario"`
	Expect    string   `json:"expect"`
	SMTP      string   `json:"smtp"`
	KDC       string   `json:"kdc"`
	KDCUDP    string   `json:"kdc_udp"`
	Realm     string   `json:"realm"`
	Host      string   `json:"host"`
	SPN       string   `json:"spn"`
	Krb5Conf  string   `json:"krb5_conf"`
	Keytab    string   `json:"keytab"`
	Principal string   `json:"principal"`
	CAFile    string   `json:"ca_file"`
	ProbeArgs []string `json:"probe_args"`
}

// Ready describes the running lab.
func (l *Lab) Ready() Ready {
	return Ready{
		Scenario: l.Scenario.Name, Expect: l.Scenario.Expect, SMTP: l.Hub.Addr(),
		KDC: l.KDC.TCPAddr(), KDCUDP: l.KDC.UDPAddr(), Realm: l.Realm, Host: l.Host, SPN: l.SPN,
		Krb5Conf: l.Krb5Conf, Keytab: l.ClientKeytab, Principal: l.Principal, CAFile: l.CAFile,
		ProbeArgs: l.ProbeArgs(),
	}
}

// Shutdown stops the hub and the KDC, waiting for their sessions until ctx
// ends, and removes a temporary state directory.
func (l *Lab) Shutdown(ctx context.Context) error {
	var errs []error
	if l.Hub != nil {
		errs = append(errs, l.Hub.Shutdown(ctx))
	}
	if l.KDC != nil {
		errs = append(errs, l.KDC.Shutdown(ctx))
	}
	if l.tempDir {
		errs = append(errs, os.RemoveAll(l.StateDir))
	}
	return errors.Join(errs...)
}

// Close stops everything at once.
func (l *Lab) Close() error {
	var errs []error
	if l.Hub != nil {
		errs = append(errs, l.Hub.Close())
	}
	if l.KDC != nil {
		errs = append(errs, l.KDC.Close())
	}
	if l.tempDir {
		errs = append(errs, os.RemoveAll(l.StateDir))
	}
	return errors.Join(errs...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type marshaler interface{ Marshal() ([]byte, error) }

// writeKeytab writes a keytab readable by its owner only.
func writeKeytab(path string, kt marshaler) error {
	b, err := kt.Marshal()
	if err != nil {
		return fmt.Errorf("keytab: %w", err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
