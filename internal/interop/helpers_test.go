//go:build interop

package interop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/interop/mitrealm"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

const (
	realmName  = "LAB.TEST"
	hubHost    = "hub01.lab.test"
	clientName = "HUB02$"
	clientPrin = "HUB02$@LAB.TEST"
	xexpsSPN   = "SMTPSVC/hub01.lab.test"
	senderSPN  = "SMTPSVC/hub02.lab.test" // the sending server's own SPN: ExchangeAuth's reverse ticket

	readyTimeout = 15 * time.Second // a peer must listen within this
	stopTimeout  = 10 * time.Second // a peer must exit within this after SIGTERM
	toolTimeout  = 30 * time.Second // one run of a client tool
)

// findTool finds a program on PATH or in the sbin directories that a
// non-login root shell may lack.
func findTool(name string) (string, bool) { return mitrealm.Tool(name) }

// requireTools skips the test, naming the package to install, unless every
// tool is present.
func requireTools(t testing.TB, pkg string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, ok := findTool(tool); !ok {
			t.Skipf("%s not installed: apt-get install %s (or run .ci/install-peers as root)", tool, pkg)
		}
	}
}

func tool(t testing.TB, name string) string {
	t.Helper()
	p, ok := findTool(name)
	if !ok {
		t.Fatalf("%s not found", name)
	}
	return p
}

// randomSecret is a throwaway password (the KDC master key, a wrong key).
func randomSecret() string {
	b := make([]byte, 18)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// onFailure prints a peer's log when the test has failed, after the test
// body and before the peer's own cleanup removes it.
func onFailure(t testing.TB, what string, log func() string) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- %s ----\n%s\n---- end of %s ----", what, log(), what)
		}
	})
}

func fileText(path string) func() string {
	return func() string {
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Sprintf("(%v)", err)
		}
		return string(b)
	}
}

// syncBuffer collects the output of a process or the lines of a log
// callback from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Logf(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	fmt.Fprintf(&b.buf, format, args...)
	b.buf.WriteByte('\n')
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is a long-running peer the test started and stops by its PID.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// startProc starts a daemon in the foreground, in its own process group
// (Postfix's master signals its group on shutdown), and stops it when the
// test ends.
func startProc(t testing.TB, env []string, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(path), done: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := startInOwnProcessGroup(p.cmd); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process and waits; a process that outlives
// stopTimeout gets SIGKILL, with its process group (its own children).
func (p *proc) stop(t testing.TB) {
	if p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	if err := terminateProcess(pid); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("stop %s (pid %d): %v", p.name, pid, err)
	}
	select {
	case <-p.done:
		return
	case <-time.After(stopTimeout):
	}
	t.Errorf("%s (pid %d) ignored SIGTERM for %s; killing its process group", p.name, pid, stopTimeout)
	killProcessGroup(pid)
	<-p.done
}

// waitListening polls until addr accepts TCP connections, failing at once
// if the process exits and after readyTimeout.
func waitListening(t testing.TB, p *proc, addr string, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before listening on %s (%v)\noutput:\n%s\nlog:\n%s", p.name, addr, p.err, p.out.String(), logs())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s after %s: %v\noutput:\n%s\nlog:\n%s", p.name, addr, readyTimeout, err, p.out.String(), logs())
		}
	}
}

// freePort finds a loopback port free for both TCP and UDP (a KDC serves
// both on one "kdc = host:port" line).
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no loopback port free for both TCP and UDP")
	return 0
}

// result is one run of a client tool.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// run runs a short-lived tool with env and stdin and returns how it ended.
func run(t testing.TB, env []string, stdin string, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("%s %s: %v", path, strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: no exit within %s\n%s", path, strings.Join(args, " "), toolTimeout, r)
	}
	return r
}

// mustRun runs a tool and fails the test unless it exits 0.
func mustRun(t testing.TB, env []string, stdin string, path string, args ...string) result {
	t.Helper()
	r := run(t, env, stdin, path, args...)
	if r.code != 0 {
		t.Fatalf("%s %s: %s", filepath.Base(path), strings.Join(args, " "), r)
	}
	return r
}

// baseEnv is the environment for peers: the test's, in the C locale (error
// texts are asserted), with Kerberos variables of the host removed.
func baseEnv(extra ...string) []string { return mitrealm.CleanEnv(extra...) }

// writeKeytab writes a gokrb5 keytab with mode 0600.
func writeKeytab(t testing.TB, kt *keytab.Keytab, path string) string {
	t.Helper()
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadKeytab(t testing.TB, path string) *keytab.Keytab {
	t.Helper()
	kt, err := keytab.Load(path)
	if err != nil {
		t.Fatalf("load keytab %s: %v", path, err)
	}
	return kt
}

// hub is the fake Exchange receive connector playing hub01.lab.test.
type hub struct {
	srv    *fakeserver.Server
	pki    *testPKI
	caFile string
	log    *syncBuffer
	mu     sync.Mutex
	msgs   []fakeserver.Envelope
}

type hubOptions struct {
	Keytab       *keytab.Keytab
	Clock        clock.Clock // the hub's clock; nil = system
	Capabilities []string    // nil = Exchange's default list
	OnTLS        func(verb string, state tls.ConnectionState)
	// Krb5Conf and Principal give the hub credentials of its own (Keytab,
	// as Principal) for ExchangeAuth's reverse ticket; without them the
	// hub refuses ExchangeAuth as one that cannot get that ticket does.
	Krb5Conf, Principal string
}

// startHub starts the fake connector with a certificate from a CA made for
// the test, and the Kerberos acceptor keyed from kt.
func startHub(t testing.TB, o hubOptions) *hub {
	t.Helper()
	pki := newTestPKI(t)
	cert := pki.cert
	h := &hub{pki: pki, caFile: pki.caFile, log: &syncBuffer{}}
	acceptor := &fakeserver.KerberosAcceptor{Keytab: o.Keytab, Clock: o.Clock}
	if o.Krb5Conf != "" && o.Principal != "" {
		conf, err := krbclient.LoadKrb5Conf(o.Krb5Conf)
		if err != nil {
			t.Fatal(err)
		}
		c, err := krbclient.New(krbclient.Config{Krb5: conf, Clock: o.Clock}, krbclient.FromKeytabValue(o.Keytab, o.Principal))
		if err != nil {
			t.Fatal(err)
		}
		acceptor.Tickets = c
	}
	srv, err := fakeserver.Start(fakeserver.Config{
		Host:          hubHost,
		Clock:         o.Clock,
		Capabilities:  o.Capabilities,
		Certificate:   &cert,
		Authenticator: acceptor,
		OnTLS:         o.OnTLS,
		OnMessage: func(e fakeserver.Envelope) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.msgs = append(h.msgs, e)
			return nil
		},
		Logf: h.log.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	t.Cleanup(func() { srv.Close() })
	onFailure(t, "fake hub log", h.log.String)
	return h
}

// testPKI is a CA made for one test and a certificate it issued for
// hub01.lab.test and 127.0.0.1: clients that check the name they dialled
// (gsasl checks the --connect address) and clients that check the host
// name (the probe, swaks --tls-sni) both verify it.
type testPKI struct {
	pool            *x509.CertPool
	caFile          string
	cert            tls.Certificate
	certPEM, keyPEM []byte
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "exauth interop CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(366 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A year: a certificate that expires within 14 days is a warning.
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hubHost},
		DNSNames: []string{hubHost}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{
		pool:    x509.NewCertPool(),
		caFile:  filepath.Join(t.TempDir(), "ca.pem"),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	p.pool.AddCert(caCert)
	if p.cert, err = tls.X509KeyPair(p.certPEM, p.keyPEM); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// capsWithAuthGSSAPI is Exchange's default EHLO list with GSSAPI offered
// on AUTH too, as a receive connector with Integrated Windows
// authentication does.
func capsWithAuthGSSAPI() []string {
	var caps []string
	for _, c := range fakeserver.DefaultCapabilities() {
		if c == "AUTH NTLM" {
			c = "AUTH GSSAPI NTLM"
		}
		caps = append(caps, c)
	}
	return caps
}

func (h *hub) messages() []fakeserver.Envelope {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]fakeserver.Envelope(nil), h.msgs...)
}

// probeHub probes the fake hub with the settings given, trusting its CA.
func (h *hub) probe(t testing.TB, ks kerberos.Settings) *verdict.Report {
	t.Helper()
	return probe(t, smtpprobe.Config{
		Host: hubHost, Connect: h.srv.Addr(), RootCAs: h.pki.pool,
		Kerberos: kerberos.New(ks),
	})
}

func probe(t testing.TB, cfg smtpprobe.Config) *verdict.Report {
	t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.EHLOName == "" {
		cfg.EHLOName = "hub02.lab.test"
	}
	return smtpprobe.Probe(context.Background(), cfg)
}

// expectVerdict asserts the verdict and the exit code, and prints the
// whole report when either differs.
func expectVerdict(t testing.TB, r *verdict.Report, want verdict.Verdict, wantExit int) {
	t.Helper()
	if r.Verdict == want && r.ExitCode() == wantExit {
		t.Logf("verdict %s (exit %d): %s", r.Verdict, r.ExitCode(), r.Summary)
		return
	}
	t.Errorf("verdict %s, exit %d; want %s, exit %d\n%s", r.Verdict, r.ExitCode(), want, wantExit, reportText(r))
}

func reportText(r *verdict.Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "summary: %s\nevidence:\n", r.Summary)
	for _, e := range r.Evidence {
		fmt.Fprintf(&b, "  - %s\n", e)
	}
	b.WriteString("transcript:\n")
	for _, l := range r.Transcript {
		tls := ""
		if l.TLS {
			tls = " (tls)"
		}
		fmt.Fprintf(&b, "  %8.1fms %s %s%s\n", l.TMillis, l.Dir, l.Line, tls)
	}
	return b.String()
}
