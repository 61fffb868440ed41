package scenarios

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
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
	// Limits are the hub's connection limits; zero values are Exchange's
	// defaults (fakeserver.Limits).
	Limits fakeserver.Limits
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
	getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// krb5 is the lab's krb5.conf as krbclient reads it, read at the first
	// ProbeConfig and shared by every probe configured after.
	krb5 func() (*config.Config, error)
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
	// The lab CA (an ECDSA key, a self-signed certificate and the
	// verification x509 makes of its own signature: a quarter of Run) is
	// made on another core while the KDC starts and its files are written.
	caStart := lab.clock.Now()
	caDone := make(chan struct{})
	var ca *fakeserver.CA
	var caErr error
	go func() {
		defer close(caDone)
		ca, caErr = fakeserver.NewCA("exauth lab CA ("+sc.Name+")", caStart, 2*365*24*time.Hour)
	}()
	defer func() { <-caDone }() // no goroutine outlives Run, whatever it returns

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
	kcfg.ClientETypes = etypeIDs(sc.KDC.ClientETypes)
	hubAcct := sc.hubAccount()
	for _, a := range sc.KDC.Accounts {
		acc := fakekdc.Account{Name: a.Name, KVNO: max(a.KVNO, 1), SPNs: a.SPNs, ETypes: etypeIDs(a.ETypes), ETypesUnset: a.ETypesUnset}
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
	lab.krb5 = sync.OnceValues(func() (*config.Config, error) { return krbclient.LoadKrb5Conf(lab.Krb5Conf) })
	if err := lab.writeStateFile(lab.Krb5Conf, lab.KDC.Krb5Conf(), 0o644); err != nil {
		return lab, err
	}
	clientKT, err := lab.KDC.Keytab(sc.KDC.Client, 0)
	if err != nil {
		return lab, fmt.Errorf("scenario %s: client keytab: %w", sc.Name, err)
	}
	lab.ClientKeytab = filepath.Join(lab.StateDir, "client.keytab")
	if err := lab.writeKeytab(lab.ClientKeytab, clientKT); err != nil {
		return lab, err
	}

	// The hub.
	hcfg := fakeserver.Config{
		Host:                     lab.Host,
		Banner:                   sc.Hub.Banner,
		Addr:                     opts.SMTPAddr,
		Clock:                    clock.Offset{Base: base, By: sc.Hub.ClockOffset.D()},
		Capabilities:             sc.Hub.capabilitiesOf(),
		CapabilitiesAnonymousTLS: sc.Hub.CapabilitiesAnonymousTLS,
		TLSMinVersion:            tlsVersions[sc.Hub.TLS.MinVersion],
		TLSMaxVersion:            tlsVersions[sc.Hub.TLS.MaxVersion],
		Tarpit:                   sc.Hub.Tarpit.D(),
		Faults: fakeserver.Faults{
			MaskVerbs: sc.Hub.MaskVerbs, DropVerbs: sc.Hub.DropVerbs, FailTLSHandshake: sc.Hub.TLS.FailHandshake,
		},
		Logf:   logf,
		Limits: opts.Limits,
	}
	if len(hcfg.Capabilities) == 0 {
		hcfg.Capabilities = nil
	}
	if len(hcfg.CapabilitiesAnonymousTLS) == 0 {
		hcfg.CapabilitiesAnonymousTLS = nil
	}
	<-caDone
	if caErr != nil {
		return lab, caErr
	}
	if lab.getCert, err = lab.certificate(ca, caStart); err != nil {
		return lab, err
	}
	hcfg.GetCertificate = lab.getCert
	if hubAcct != nil {
		kt, err := lab.KDC.Keytab(hubAcct.Name, max(hubAcct.KVNO, 1)-sc.Hub.Keytab.KVNOBehind)
		if err != nil {
			return lab, fmt.Errorf("scenario %s: hub keytab: %w", sc.Name, err)
		}
		if keep := etypeIDs(sc.Hub.Keytab.ETypes); keep != nil {
			kept := kt.Entries[:0]
			for _, e := range kt.Entries {
				if slices.Contains(keep, e.Key.KeyType) {
					kept = append(kept, e)
				}
			}
			kt.Entries = kept
		}
		// The hub's own credentials, for ExchangeAuth's reverse ticket: its
		// keytab, on its own clock, from the lab's KDC.
		tickets, err := krbclient.New(krbclient.Config{Krb5: krbclient.ConfigFor(lab.Realm, "tcp/"+lab.KDC.TCPAddr()), Clock: hcfg.Clock},
			krbclient.FromKeytabValue(kt, hubAcct.Name+"@"+lab.Realm))
		if err != nil {
			return lab, fmt.Errorf("scenario %s: hub credentials: %w", sc.Name, err)
		}
		x := sc.Hub.ExchangeAuth
		hcfg.Authenticator = &fakeserver.KerberosAcceptor{
			Keytab: kt, Clock: hcfg.Clock, Replay: gssapi.NewReplayCache(), Tickets: tickets,
			Faults: fakeserver.ExchangeAuthFaults{
				HashMismatch: x.HashMismatch, NoSubmitPermission: x.NoSubmitPermission,
				BadReplyHash: x.BadReplyHash, CorruptReply: x.CorruptReply,
			},
		}
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
	// A keytab is a secret: another user who can write the directory
	// could swap a file for a link that redirects it.
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("state dir %s is not a directory (a symbolic link is refused)", dir)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("state dir %s can be written by other users (mode %v): use a directory only you can write", dir, st.Mode().Perm())
	}
	l.StateDir = dir
	return nil
}

// writeStateFile writes one file of the state directory: whatever stood at
// path (a file of an earlier run, or a link planted to redirect the write)
// is removed, never followed, and the file is created anew, exclusively.
// In a temporary directory of the lab's own, made empty and private by
// os.MkdirTemp, nothing can stand there, and the removal is skipped.
func (l *Lab) writeStateFile(path string, data []byte, perm os.FileMode) error {
	if !l.tempDir {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state file: %w", err)
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("state file %s: %w", path, err)
	}
	return f.Close()
}

// removeTempDir removes a temporary state directory: its files by name and
// then the directory, which spares os.RemoveAll's reading of the directory
// (file system calls are most of a lab's start and stop on a disk-backed
// /tmp), or, when someone left other files in it, os.RemoveAll.
func (l *Lab) removeTempDir() error {
	for _, f := range []string{l.Krb5Conf, l.ClientKeytab, l.CAFile} {
		if f != "" {
			os.Remove(f)
		}
	}
	if os.Remove(l.StateDir) == nil {
		return nil
	}
	return os.RemoveAll(l.StateDir)
}

// certificate writes the CA (made at now) the probe is told to trust and
// returns how the hub gets the certificate the scenario asks for: issued at
// the first TLS handshake, since most scenarios started by a test suite are
// never asked for one and key generation dominates start-up.
func (l *Lab) certificate(ca *fakeserver.CA, now time.Time) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	l.CA = ca
	l.CAFile = filepath.Join(l.StateDir, "ca.pem")
	if err := l.writeStateFile(l.CAFile, ca.PEM(), 0o644); err != nil {
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

// Certificate is the hub's TLS certificate, issued at its first use: for a
// baseline that must present the very same one. It is nil for a scenario
// whose hub has none.
func (l *Lab) Certificate() (*tls.Certificate, error) {
	if l.getCert == nil {
		return nil, nil
	}
	return l.getCert(nil)
}

// ProbeSettings are the probe settings the scenario is meant for, as data:
// its credentials, its krb5.conf, its CA, its probe options. A front end
// turns them into a Config (smtpprobe.Settings.Config) or into its own
// spelling (`exauth serve` prints them as command-line arguments).
func (l *Lab) ProbeSettings() smtpprobe.Settings {
	p := l.Scenario.Probe
	host := l.Host
	if p.Host != "" {
		host = strings.ToLower(p.Host)
	}
	return smtpprobe.Settings{
		Host:               host,
		Connect:            l.Hub.Addr(),
		EHLO:               "hub02." + strings.ToLower(l.Realm),
		Mech:               verdict.Mech(p.Mech),
		TLS:                verdict.TLSMode(p.TLS),
		CAFile:             l.CAFile,
		RequireTrustedCert: p.RequireTrustedCert,
		Timeout:            p.Timeout.D(),
		Credentials: smtpprobe.CredentialSettings{
			Krb5Conf: l.Krb5Conf, Keytab: l.ClientKeytab, Principal: l.Principal,
		},
	}
}

// ProbeConfig is the probe configuration the scenario is meant for
// (ProbeSettings), with the lab's clock and its CA already in memory.
func (l *Lab) ProbeConfig() smtpprobe.Config {
	s := l.ProbeSettings()
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	// The lab wrote its krb5.conf; a probe need not parse it again. If it
	// cannot be read, the probe reads it itself and reports why.
	krb5, _ := l.krb5()
	return smtpprobe.Config{
		Host:               s.Host,
		Connect:            s.Connect,
		EHLOName:           s.EHLO,
		Mech:               s.Mech,
		TLS:                s.TLS,
		RootCAs:            l.CA.Pool(),
		RequireTrustedCert: s.RequireTrustedCert,
		Timeout:            s.Timeout,
		Clock:              l.clock,
		Kerberos: smtpprobe.NewKerberos(smtpprobe.KerberosSettings{
			Krb5Conf: s.Credentials.Krb5Conf, Krb5: krb5, Keytab: s.Credentials.Keytab, Principal: s.Credentials.Principal, Clock: l.clock,
		}),
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
		errs = append(errs, l.removeTempDir())
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
		errs = append(errs, l.removeTempDir())
	}
	return errors.Join(errs...)
}

type marshaler interface{ Marshal() ([]byte, error) }

// writeKeytab writes a keytab readable by its owner only.
func (l *Lab) writeKeytab(path string, kt marshaler) error {
	b, err := kt.Marshal()
	if err != nil {
		return fmt.Errorf("keytab: %w", err)
	}
	return l.writeStateFile(path, b, 0o600)
}

// etypeIDs are the numbers of encryption type names validated when the
// scenario was loaded; nil for none.
func etypeIDs(names []string) []int32 {
	var ids []int32
	for _, n := range names {
		id, _ := enctype.ID(n)
		ids = append(ids, id)
	}
	return ids
}
