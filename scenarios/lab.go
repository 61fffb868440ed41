package scenarios

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// Options control where and how a scenario runs.
type Options struct {
	// StateDir receives krb5.conf, the client keytab and the CA when
	// Lab.Files is first called; "" makes a temporary directory then, which
	// Close removes.
	StateDir string
	// Logf receives what the hub and the KDC would log: SMTP receive
	// protocol-log lines, event 1035, KDC event 11. nil discards.
	Logf func(format string, args ...any)
	// SMTPAddr and KDCAddr are listen addresses; "" = 127.0.0.1 with a port
	// the OS picks.
	SMTPAddr, KDCAddr string
	// HTTPSAddr is a Client Access server's listen address; "" =
	// 127.0.0.1 with a port the OS picks.
	HTTPSAddr string
	// Clock is the probing host's clock, from which the scenario's hub and
	// KDC offsets are counted; nil = system.
	Clock clock.Clock
	// Limits are the hub's connection limits; zero values are Exchange's
	// defaults (fakeserver.Limits).
	Limits fakeserver.Limits
}

// Lab is a running scenario: a fake KDC and a fake receive connector, or a
// fake KDC and a fake Client Access server.
type Lab struct {
	Scenario *Scenario
	Hub      *fakeserver.Server // nil in a CAS scenario
	CAS      *fakecas.Server    // nil in a hub scenario
	KDC      *fakekdc.KDC
	CA       *fakeserver.CA

	Realm     string // e.g. LAB.TEST
	Host      string // e.g. hub01.lab.test, cas02.lab.test
	SPN       string // SMTPSVC/<host> or HTTP/<host>
	Principal string // the client, e.g. HUB02$@LAB.TEST

	clock   clock.Clock
	getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// krb5 is the lab's krb5.conf as krbclient reads it, parsed at the
	// first probe configuration and shared by every probe configured after.
	krb5 func() (*config.Config, error)
	// clientKT is the probing server's keytab, in memory until Files
	// writes it.
	clientKT *keytab.Keytab

	// The state files, written by the first Files call: a test that only
	// probes in-process pays for no file system calls, which on a
	// disk-backed /tmp cost more than starting the servers.
	stateDir  string // Options.StateDir, checked; "" = a temporary one
	tempDir   bool   // stateDir was made by Files, and Close removes it
	filesOnce sync.Once
	files     Files
	filesErr  error
}

// Files are a lab's state files: what another process, or code of yours
// that reads files, needs to use the lab.
type Files struct {
	Dir          string
	Krb5Conf     string // a krb5.conf for the realm, pointing at the fake KDC
	ClientKeytab string // the probing server's keys, mode 0600
	CAFile       string // the lab CA (PEM), the trust anchor for the server's certificate
}

// Files writes the lab's state files at the first call, into
// Options.StateDir or a temporary directory, and returns their paths.
func (l *Lab) Files() (Files, error) {
	l.filesOnce.Do(func() { l.files, l.filesErr = l.writeFiles() })
	return l.files, l.filesErr
}

func (l *Lab) writeFiles() (Files, error) {
	dir := l.stateDir
	if dir == "" {
		d, err := os.MkdirTemp("", "exauth-lab-")
		if err != nil {
			return Files{}, fmt.Errorf("state dir: %w", err)
		}
		dir, l.tempDir = d, true
	}
	f := Files{Dir: dir, Krb5Conf: filepath.Join(dir, "krb5.conf"), ClientKeytab: filepath.Join(dir, "client.keytab"), CAFile: filepath.Join(dir, "ca.pem")}
	l.files = f // what removeTempDir removes, should a write fail
	if err := l.writeStateFile(f.Krb5Conf, l.KDC.Krb5Conf(), 0o644); err != nil {
		return Files{}, err
	}
	if err := l.writeKeytab(f.ClientKeytab, l.clientKT); err != nil {
		return Files{}, err
	}
	if err := l.writeStateFile(f.CAFile, l.CA.PEM(), 0o644); err != nil {
		return Files{}, err
	}
	return f, nil
}

// Run starts a scenario.
func Run(sc *Scenario, opts Options) (lab *Lab, err error) {
	base := clock.Or(opts.Clock)
	lab = &Lab{
		Scenario: sc, Realm: sc.KDC.Realm, Host: sc.serviceHost(), SPN: sc.serviceSPN(),
		Principal: sc.KDC.Client + "@" + sc.KDC.Realm,
		clock:     base,
	}
	defer func() {
		if err != nil {
			lab.Close()
			lab = nil
		}
	}()
	if err := lab.checkStateDir(opts.StateDir); err != nil {
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
	if err := lab.startKDC(opts); err != nil {
		return lab, err
	}
	<-caDone
	if caErr != nil {
		return lab, caErr
	}
	if lab.getCert, err = lab.certificate(ca, caStart); err != nil {
		return lab, err
	}
	if sc.IsCAS() {
		err = lab.startCAS(opts)
	} else {
		err = lab.startHub(opts)
	}
	return lab, err
}

// startKDC starts the KDC with random keys: scenario files hold no
// secrets, and random keys skip string-to-key, which would dominate
// start-up. The client's keytab stays in memory until Files.
func (l *Lab) startKDC(opts Options) error {
	sc := l.Scenario
	kcfg := fakekdc.Config{
		Realm:  sc.KDC.Realm,
		Clock:  clock.Offset{Base: l.clock, By: sc.KDC.ClockOffset.D()},
		Logf:   opts.Logf, // nil: nothing is formatted for nobody
		Addr:   opts.KDCAddr,
		Faults: fakekdc.Faults{DuplicateSPN: fakekdc.DuplicateSPNMode(sc.KDC.DuplicateSPN), SilentUDP: sc.KDC.SilentUDP},
	}
	if sc.KDC.Reachable != nil && !*sc.KDC.Reachable {
		kcfg.Faults.Unreachable = true
	}
	kcfg.ClientETypes = etypeIDs(sc.KDC.ClientETypes)
	svcAcct := sc.serviceAccount()
	_, svcKeytab := sc.serviceKeytab()
	for _, a := range sc.KDC.Accounts {
		acc := fakekdc.Account{Name: a.Name, KVNO: max(a.KVNO, 1), SPNs: a.SPNs, ETypes: etypeIDs(a.ETypes), ETypesUnset: a.ETypesUnset}
		if svcAcct != nil && strings.EqualFold(a.Name, svcAcct.Name) {
			// Older key versions, random too ("" = random).
			acc.PreviousPasswords = make([]string, svcKeytab.KVNOBehind)
		}
		kcfg.Accounts = append(kcfg.Accounts, acc)
	}
	var err error
	if l.KDC, err = fakekdc.Start(kcfg); err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	l.krb5 = sync.OnceValues(func() (*config.Config, error) { return config.NewFromString(string(l.KDC.Krb5Conf())) })
	clientKT, err := l.KDC.Keytab(sc.KDC.Client, 0)
	if err != nil {
		return fmt.Errorf("scenario %s: client keytab: %w", sc.Name, err)
	}
	l.clientKT = clientKT
	return nil
}

// serviceKeys are the keys the target server holds, as its keytab
// settings say (a stale version, some types only); nil when no account
// is the server's.
func (l *Lab) serviceKeys() (*keytab.Keytab, *Account, error) {
	sc := l.Scenario
	acct := sc.serviceAccount()
	if acct == nil {
		return nil, nil, nil
	}
	_, settings := sc.serviceKeytab()
	kt, err := l.KDC.Keytab(acct.Name, max(acct.KVNO, 1)-settings.KVNOBehind)
	if err != nil {
		return nil, nil, fmt.Errorf("scenario %s: server keytab: %w", sc.Name, err)
	}
	if keep := etypeIDs(settings.ETypes); keep != nil {
		kept := kt.Entries[:0]
		for _, e := range kt.Entries {
			if slices.Contains(keep, e.Key.KeyType) {
				kept = append(kept, e)
			}
		}
		kt.Entries = kept
	}
	return kt, acct, nil
}

// startHub starts the fake receive connector.
func (l *Lab) startHub(opts Options) error {
	sc := l.Scenario
	hcfg := fakeserver.Config{
		Host:                     l.Host,
		Banner:                   sc.Hub.Banner,
		Addr:                     opts.SMTPAddr,
		Clock:                    clock.Offset{Base: l.clock, By: sc.Hub.ClockOffset.D()},
		Capabilities:             sc.Hub.capabilitiesOf(),
		CapabilitiesAnonymousTLS: sc.Hub.CapabilitiesAnonymousTLS,
		TLSMinVersion:            tlsVersions[sc.Hub.TLS.MinVersion],
		TLSMaxVersion:            tlsVersions[sc.Hub.TLS.MaxVersion],
		Tarpit:                   sc.Hub.Tarpit.D(),
		Faults: fakeserver.Faults{
			MaskVerbs: sc.Hub.MaskVerbs, DropVerbs: sc.Hub.DropVerbs, FailTLSHandshake: sc.Hub.TLS.FailHandshake,
		},
		Logf:           opts.Logf,
		Limits:         opts.Limits,
		GetCertificate: l.getCert,
	}
	if len(hcfg.Capabilities) == 0 {
		hcfg.Capabilities = nil
	}
	if len(hcfg.CapabilitiesAnonymousTLS) == 0 {
		hcfg.CapabilitiesAnonymousTLS = nil
	}
	kt, hubAcct, err := l.serviceKeys()
	if err != nil {
		return err
	}
	if kt != nil {
		// The hub's own credentials, for ExchangeAuth's reverse ticket: its
		// keytab, on its own clock, from the lab's KDC.
		tickets, err := krbclient.New(krbclient.Config{Krb5: krbclient.ConfigFor(l.Realm, "tcp/"+l.KDC.TCPAddr()), Clock: hcfg.Clock},
			krbclient.FromKeytabValue(kt, hubAcct.Name+"@"+l.Realm))
		if err != nil {
			return fmt.Errorf("scenario %s: hub credentials: %w", sc.Name, err)
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
	if l.Hub, err = fakeserver.Start(hcfg); err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	return nil
}

// startCAS starts the fake Client Access server. Without an account of
// its own it holds no keys, and refuses every token, as a server whose
// keytab is gone does.
func (l *Lab) startCAS(opts Options) error {
	sc := l.Scenario
	ccfg := fakecas.Config{
		Host:           l.Host,
		Addr:           opts.HTTPSAddr,
		GetCertificate: l.getCert,
		Clock:          l.clock,
		ClockOffset:    sc.CAS.ClockOffset.D(),
		Logf:           opts.Logf,
	}
	if sc.CAS.Providers != nil {
		ccfg.Providers = []fakecas.Provider{}
		for _, p := range sc.CAS.Providers {
			ccfg.Providers = append(ccfg.Providers, fakecas.Provider(p))
		}
	}
	kt, _, err := l.serviceKeys()
	if err != nil {
		return err
	}
	ccfg.Keytab = kt
	if l.CAS, err = fakecas.Start(ccfg); err != nil {
		return fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	return nil
}

// checkStateDir checks a state directory the caller named, at Run: a
// directory others could write is refused before anything starts.
func (l *Lab) checkStateDir(dir string) error {
	if dir == "" {
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
	l.stateDir = dir
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
	for _, f := range []string{l.files.Krb5Conf, l.files.ClientKeytab, l.files.CAFile} {
		if f != "" {
			os.Remove(f)
		}
	}
	if os.Remove(l.files.Dir) == nil {
		return nil
	}
	return os.RemoveAll(l.files.Dir)
}

// certificate writes the CA (made at now) the probe is told to trust and
// returns how the server gets the certificate the scenario asks for:
// issued at the first TLS handshake, since most scenarios started by a
// test suite are never asked for one and key generation dominates
// start-up.
func (l *Lab) certificate(ca *fakeserver.CA, now time.Time) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	l.CA = ca
	kind := l.Scenario.Hub.TLS.Certificate
	if l.Scenario.IsCAS() {
		kind = l.Scenario.CAS.TLS.Certificate
	}
	if kind == "none" {
		return nil, nil
	}
	var once sync.Once
	var cert tls.Certificate
	var certErr error
	issue := func() {
		names := []string{l.Host}
		if p := l.Scenario.Probe.Host; l.Scenario.IsCAS() && net.ParseIP(p) != nil {
			// An internalURL naming the server by address, with a
			// certificate for that address: what leaves Kerberos, not
			// TLS, to fail.
			names = append(names, p)
		}
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

// ProbeSettings are the SMTP probe settings a hub scenario is meant for,
// as data: its credentials, its krb5.conf, its CA, its probe options. A
// front end turns them into a Config (smtpprobe.Settings.Config) or into
// its own spelling (`exauth serve` prints them as command-line arguments).
// They name the state files, which they write (Files). A CAS scenario
// has HTTPProbeSettings instead.
func (l *Lab) ProbeSettings() (smtpprobe.Settings, error) {
	f, err := l.Files()
	return l.probeSettings(f), err
}

func (l *Lab) probeSettings(f Files) smtpprobe.Settings {
	p := l.Scenario.Probe
	host := l.Host
	if p.Host != "" {
		host = strings.ToLower(p.Host)
	}
	s := smtpprobe.Settings{
		Host:               host,
		EHLO:               "hub02." + strings.ToLower(l.Realm),
		Mech:               verdict.Mech(p.Mech),
		TLS:                verdict.TLSMode(p.TLS),
		CAFile:             f.CAFile,
		RequireTrustedCert: p.RequireTrustedCert,
		Timeout:            p.Timeout.D(),
		Credentials:        l.credentials(f),
	}
	if l.Hub != nil {
		s.Connect = l.Hub.Addr()
	}
	return s
}

// Credentials are the probing server's: the lab's krb5.conf, the client
// keytab and principal, as files (Files).
func (l *Lab) Credentials() (kerberos.Credentials, error) {
	f, err := l.Files()
	return l.credentials(f), err
}

func (l *Lab) credentials(f Files) kerberos.Credentials {
	return kerberos.Credentials{Krb5Conf: f.Krb5Conf, Keytab: f.ClientKeytab, Principal: l.Principal}
}

// HTTPProbeSettings are the HTTP probe settings a CAS scenario is meant
// for: the internalURL the proxying server would use (https://<host>/<path>,
// the host an address when probe.host is one), dialled at the fake
// Client Access server, and the lab CA's file (Files). Credentials are
// the lab's (Credentials).
func (l *Lab) HTTPProbeSettings() (httpprobe.Settings, error) {
	f, err := l.Files()
	return l.httpProbeSettings(f), err
}

func (l *Lab) httpProbeSettings(f Files) httpprobe.Settings {
	s := httpprobe.Settings{URL: l.URL(), CAFile: f.CAFile, Timeout: l.Scenario.Probe.Timeout.D()}
	if l.CAS != nil {
		s.Connect = l.CAS.Addr()
	}
	return s
}

// URL is the internalURL a CAS scenario's proxying server requests; ""
// for a hub scenario.
func (l *Lab) URL() string {
	if !l.Scenario.IsCAS() {
		return ""
	}
	host := l.Host
	if p := l.Scenario.Probe.Host; p != "" {
		host = strings.ToLower(p)
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // an IPv6 address
	}
	path := "/owa"
	if l.Scenario.CAS.Path != "" {
		path = l.Scenario.CAS.Path
	}
	return "https://" + host + path
}

// ProbeConfig is the SMTP probe configuration a hub scenario is meant for
// (ProbeSettings), with the lab's clock, CA, krb5.conf and keytab in
// memory: it writes no files.
func (l *Lab) ProbeConfig() smtpprobe.Config {
	s := l.probeSettings(Files{})
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
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
		Kerberos:           l.kerberos(),
	}
}

// HTTPProbeConfig is the HTTP probe configuration a CAS scenario is meant
// for (HTTPProbeSettings), in memory as ProbeConfig is.
func (l *Lab) HTTPProbeConfig() httpprobe.Config {
	s := l.httpProbeSettings(Files{})
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	return httpprobe.Config{
		URL: s.URL, Connect: s.Connect, RootCAs: l.CA.Pool(), Timeout: s.Timeout, Clock: l.clock, Kerberos: l.kerberos(),
	}
}

// kerberos is the probing server's Kerberos side on the lab's krb5.conf
// and keytab, both in memory.
func (l *Lab) kerberos() kerberos.Side {
	krb5, err := l.krb5()
	if err != nil {
		// The lab's own krb5.conf is generated; should gokrb5 ever refuse
		// it, the realm and the KDC are all a probe needs.
		krb5 = krbclient.ConfigFor(l.Realm, "tcp/"+l.KDC.TCPAddr())
	}
	return kerberos.New(kerberos.Settings{Krb5: krb5, KeytabValue: l.clientKT, Principal: l.Principal, Clock: l.clock})
}

// RunProbe runs the probe the scenario is meant for, SMTP or HTTP, with its
// default configuration.
func (l *Lab) RunProbe(ctx context.Context) *verdict.Report {
	if l.Scenario.IsCAS() {
		return httpprobe.Probe(ctx, l.HTTPProbeConfig())
	}
	return smtpprobe.Probe(ctx, l.ProbeConfig())
}

// Shutdown stops the hub and the KDC, waiting for their sessions until ctx
// ends, and removes a temporary state directory.
func (l *Lab) Shutdown(ctx context.Context) error {
	var errs []error
	if l.Hub != nil {
		errs = append(errs, l.Hub.Shutdown(ctx))
	}
	if l.CAS != nil {
		errs = append(errs, l.CAS.Shutdown(ctx))
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
	if l.CAS != nil {
		errs = append(errs, l.CAS.Close())
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
