package fakeserver

// Abuse against the fake connector and the fake KDC:
// slowloris connections, command floods, oversize lines, bad base64, TLS
// garbage, half-open connections and random datagrams, while healthy probes
// (the real smtpprobe with real Kerberos) keep succeeding; memory stays
// bounded and nothing is left running after Shutdown.
//
// smtpprobe imports neither fakeserver nor scenarios, so this internal test
// can import it without a cycle; scenarios cannot be used here (it imports
// fakeserver), so the hub and the KDC are wired up directly.

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

const abuseRealm = "LAB.TEST"

// abuseAccounts are the sending hub and the receiving hub, with its SPNs.
func abuseAccounts() []fakekdc.Account {
	return []fakekdc.Account{
		{Name: "HUB02$", Password: "hub02-password", SPNs: []string{"SMTPSVC/hub02.lab.test"}},
		{Name: "HUB01$", Password: "hub01-password-v3", KVNO: 3, PreviousPasswords: []string{"hub01-password-v2"},
			SPNs: []string{"SMTPSVC/hub01.lab.test", "SMTP/hub01.lab.test"}},
	}
}

// abuseASReq is a valid AS-REQ without pre-authentication, to check the
// KDC still answers after an attack.
func abuseASReq(t testing.TB, cname string) []byte {
	t.Helper()
	r, err := messages.NewASReqForTGT(abuseRealm, config.New(), types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, cname))
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// abuseLab is a KDC and a connector with Kerberos, and what a probe needs.
type abuseLab struct {
	kdc      *fakekdc.KDC
	hub      *Server
	ca       *CA
	krb5conf string
	keytab   string
}

func startAbuseLab(t *testing.T, limits Limits) *abuseLab {
	t.Helper()
	k, err := fakekdc.Start(fakekdc.Config{Realm: abuseRealm, Accounts: abuseAccounts()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	l := &abuseLab{kdc: k, krb5conf: filepath.Join(dir, "krb5.conf"), keytab: filepath.Join(dir, "client.keytab")}
	if err := os.WriteFile(l.krb5conf, k.Krb5Conf(), 0o644); err != nil {
		t.Fatal(err)
	}
	ckt, err := k.Keytab("HUB02$", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ckt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(l.keytab, b, 0o600); err != nil {
		t.Fatal(err)
	}
	hkt, err := k.Keytab("HUB01$", 0)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if l.ca, err = NewCA("abuse CA", now, time.Hour); err != nil {
		t.Fatal(err)
	}
	cert, err := l.ca.Issue([]string{"hub01.lab.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// The hub's own credentials, for ExchangeAuth's reverse ticket.
	tickets, err := krbclient.New(krbclient.Config{Krb5: krbclient.ConfigFor(abuseRealm, "tcp/"+k.TCPAddr())}, krbclient.FromKeytabValue(hkt, "HUB01$@"+abuseRealm))
	if err != nil {
		t.Fatal(err)
	}
	l.hub, err = Start(Config{
		Host: "hub01.lab.test", Certificate: &cert, Limits: limits,
		Authenticator: &KerberosAcceptor{Keytab: hkt, Replay: gssapi.NewReplayCache(), Tickets: tickets},
	})
	if err != nil {
		k.Close()
		t.Fatal(err)
	}
	return l
}

// shutdown stops the hub then the KDC, as a lab does.
func (l *abuseLab) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.hub.Shutdown(ctx); err != nil {
		t.Errorf("hub Shutdown: %v", err)
	}
	if err := l.kdc.Shutdown(ctx); err != nil {
		t.Errorf("KDC Shutdown: %v", err)
	}
}

// probe runs one healthy probe with fresh Kerberos state (an AS and a TGS
// exchange each time).
func (l *abuseLab) probe() *verdict.Report {
	return smtpprobe.Probe(context.Background(), smtpprobe.Config{
		Host: "hub01.lab.test", Connect: l.hub.Addr(), EHLOName: "hub02.lab.test",
		RootCAs: l.ca.Pool(), Timeout: 10 * time.Second,
		Kerberos: kerberos.New(kerberos.Settings{
			Krb5Conf: l.krb5conf, Keytab: l.keytab, Principal: "HUB02$@" + abuseRealm,
		}),
	})
}

// abuseConn is a raw client connection.
type abuseConn struct {
	net.Conn
	br *bufio.Reader
}

func dialAbuse(addr string) (*abuseConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &abuseConn{Conn: c, br: bufio.NewReader(c)}, nil
}

// reply reads one SMTP reply (all its lines) and returns its last line.
func (c *abuseConn) reply() (string, error) {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		l, err := c.br.ReadString('\n')
		if err != nil {
			return l, err
		}
		if len(l) < 4 || l[3] != '-' {
			return strings.TrimRight(l, "\r\n"), nil
		}
	}
}

func (c *abuseConn) cmd(line string) (string, error) {
	if _, err := io.WriteString(c, line+"\r\n"); err != nil {
		return "", err
	}
	return c.reply()
}

// untilClosed reads until the server closes; it fails the test if that does
// not happen within the read deadline.
func (c *abuseConn) untilClosed() error {
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c.br)
	if errors.Is(err, syscall.ECONNRESET) {
		// A server that closes with unread input sends RST, not FIN.
		return nil
	}
	return err
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func TestAbuse_ConnectorAndKDCUnderAttack(t *testing.T) {
	slowloris := 1000
	if testing.Short() {
		slowloris = 100
	}
	// Bound on the heap growth the whole attack may cause while every
	// slowloris connection is still open (both ends live in this process):
	// 48 KiB per connection plus 16 MiB for the floods and the probes.
	maxHeapDelta := uint64(slowloris)*48<<10 + 16<<20

	leaks := goleak.IgnoreCurrent()
	lab := startAbuseLab(t, Limits{
		MaxConnections: slowloris + 100,
		CommandTimeout: 5 * time.Second,
	})
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			lab.hub.Close()
			lab.kdc.Close()
		}
	})
	if r := lab.probe(); r.Verdict != verdict.VerdictOK {
		t.Fatalf("baseline probe: %s: %s %q", r.Verdict, r.Summary, r.Evidence)
	}
	before := heapInuse()
	began := time.Now()

	// Healthy probes run for as long as the attack does.
	attackDone := make(chan struct{})
	var probes, probeOK atomic.Int64
	var probeWG sync.WaitGroup
	var probeErrs sync.Map
	for range 2 {
		probeWG.Add(1)
		go func() {
			defer probeWG.Done()
			for {
				r := lab.probe()
				probes.Add(1)
				if r.Verdict == verdict.VerdictOK {
					probeOK.Add(1)
				} else {
					probeErrs.Store(fmt.Sprintf("%s: %s", r.Verdict, r.Summary), true)
				}
				select {
				case <-attackDone:
					return
				default:
				}
			}
		}()
	}

	var attack sync.WaitGroup
	errc := make(chan error, 64)
	run := func(name string, fn func() error) {
		attack.Add(1)
		go func() {
			defer attack.Done()
			if err := fn(); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}

	// 1. Slowloris: connect, read the banner (the session is being served),
	// send "EH" and stall. The connections stay open until Shutdown.
	slow := make([]*abuseConn, slowloris)
	run("slowloris", func() error {
		var wg sync.WaitGroup
		var firstErr atomic.Pointer[error]
		next := atomic.Int64{}
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= slowloris {
						return
					}
					c, err := dialAbuse(lab.hub.Addr())
					if err == nil {
						slow[i] = c
						var banner string
						if banner, err = c.reply(); err == nil && !strings.HasPrefix(banner, "220 ") {
							err = fmt.Errorf("banner %q", banner)
						}
						if err == nil {
							_, err = io.WriteString(c, "EH")
						}
					}
					if err != nil {
						firstErr.CompareAndSwap(nil, &err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if p := firstErr.Load(); p != nil {
			return *p
		}
		return nil
	})

	// 2. Command flood: 10,000 NOOPs pipelined in one write.
	const noops = 10000
	run("NOOP flood", func() error {
		c, err := dialAbuse(lab.hub.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.reply(); err != nil {
			return err
		}
		go io.WriteString(c, strings.Repeat("NOOP\r\n", noops)+"QUIT\r\n")
		for i := range noops {
			l, err := c.reply()
			if err != nil || !strings.HasPrefix(l, "250 ") {
				return fmt.Errorf("NOOP %d answered %q, %v", i, l, err)
			}
		}
		if l, err := c.reply(); err != nil || !strings.HasPrefix(l, "221 ") {
			return fmt.Errorf("QUIT answered %q, %v", l, err)
		}
		return nil
	})

	// 3. Oversize lines: 1 MiB without a newline, then 1 MiB with one.
	for _, tail := range []string{"", "\r\n"} {
		run("oversize line", func() error {
			c, err := dialAbuse(lab.hub.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			c.reply()
			go io.WriteString(c, "EHLO "+strings.Repeat("x", 1<<20)+tail)
			// Exchange answers a command over 32,768 bytes and closes.
			l, err := c.reply()
			if err != nil || !strings.HasPrefix(l, "500 5.5.2 Command too long") {
				return fmt.Errorf("oversize line answered %q, %v", l, err)
			}
			return c.untilClosed()
		})
	}

	// 4. Bad base64 in X-EXPS: Exchange's acceptor fails with
	// IllegalMessage, answers 454 and disconnects.
	run("bad base64", func() error {
		c, err := dialAbuse(lab.hub.Addr())
		if err != nil {
			return err
		}
		defer c.Close()
		c.reply()
		if l, err := c.cmd("EHLO abuser.lab.test"); err != nil || !strings.HasPrefix(l, "250 ") {
			return fmt.Errorf("EHLO: %q, %v", l, err)
		}
		for i := 0; ; i++ {
			l, err := c.cmd("X-EXPS GSSAPI")
			if strings.HasPrefix(l, "421 ") {
				return c.untilClosed()
			}
			if err != nil || !strings.HasPrefix(l, "334") {
				return fmt.Errorf("X-EXPS %d: %q, %v", i, l, err)
			}
			l, err = c.cmd("!!!not*base64!!!")
			if err != nil || !strings.HasPrefix(l, "454 4.7.0") {
				return fmt.Errorf("bad base64 %d answered %q, %v", i, l, err)
			}
			return c.untilClosed()
		}
	})

	// 5. TLS garbage after X-ANONYMOUSTLS.
	for range 20 {
		run("TLS garbage", func() error {
			c, err := dialAbuse(lab.hub.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			c.reply()
			c.cmd("EHLO abuser.lab.test")
			if l, err := c.cmd("X-ANONYMOUSTLS"); err != nil || !strings.HasPrefix(l, "220 ") {
				return fmt.Errorf("X-ANONYMOUSTLS: %q, %v", l, err)
			}
			junk := make([]byte, 4096)
			rand.Read(junk)
			junk[0] = 0x16 // a handshake record header, then nonsense
			c.Write(junk)
			return c.untilClosed()
		})
	}

	// 6. Half-open connections: the client sends FIN at once (the server
	// must notice and close), or vanishes with a reset mid-command.
	for i := range 50 {
		run("half-open", func() error {
			c, err := dialAbuse(lab.hub.Addr())
			if err != nil {
				return err
			}
			defer c.Close()
			if i%2 == 0 {
				c.Conn.(*net.TCPConn).CloseWrite()
				return c.untilClosed()
			}
			io.WriteString(c, "EHLO half")
			c.Conn.(*net.TCPConn).SetLinger(0)
			return nil
		})
	}

	// 7. Random bytes at the KDC: datagrams, and framed TCP requests.
	kdcBefore := lab.kdc.Stats()
	const datagrams = 2000
	// The UDP loop is one goroutine reading in order, so a valid request
	// sent after each batch of garbage and answered means the batch was
	// read (a ready signal, and it keeps the socket buffer from overflowing).
	syncReq := abuseASReq(t, "HUB02$")
	run("KDC UDP garbage", func() error {
		c, err := net.Dial("udp", lab.kdc.UDPAddr())
		if err != nil {
			return err
		}
		defer c.Close()
		buf := make([]byte, 1500)
		rep := make([]byte, 65536)
		for i := 0; i < datagrams; {
			for range 50 {
				n := 1 + (i*37)%len(buf)
				rand.Read(buf[:n])
				c.Write(buf[:n])
				i++
			}
			answered := false
			for try := 0; try < 3 && !answered; try++ {
				c.Write(syncReq)
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				n, err := c.Read(rep)
				answered = err == nil && n > 0 && rep[0] == 0x7e
			}
			if !answered {
				return fmt.Errorf("KDC did not answer a valid request after %d random datagrams", i)
			}
		}
		return nil
	})
	for range 20 {
		run("KDC TCP garbage", func() error {
			c, err := net.DialTimeout("tcp", lab.kdc.TCPAddr(), 5*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			junk := make([]byte, 600)
			rand.Read(junk)
			junk[0], junk[1], junk[2], junk[3] = 0, 0, 2, 0x54 // length 596
			c.Write(junk)
			// The KDC answers (a KRB-ERROR) or closes; it must not hang.
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var hdr [4]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
					return nil
				}
				return err
			}
			n := int(hdr[0])<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
			if n > 1<<16 {
				return fmt.Errorf("KDC answered garbage with a %d-byte reply", n)
			}
			_, err = io.ReadFull(c, make([]byte, n))
			return err
		})
	}

	attack.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	attackTime := time.Since(began)
	// Every slowloris connection is still open: the memory they hold counts.
	after := heapInuse()
	close(attackDone)
	probeWG.Wait()

	// One more probe with every slowloris connection still held open.
	if r := lab.probe(); r.Verdict != verdict.VerdictOK {
		t.Errorf("probe with %d slowloris connections open: %s: %s", slowloris, r.Verdict, r.Summary)
	}
	var delta uint64
	if after > before {
		delta = after - before
	}
	st := lab.kdc.Stats()
	t.Logf("attack: %d slowloris connections, %d pipelined NOOPs, %d random datagrams in %v; KDC dropped %d, errors %d",
		slowloris, noops, datagrams, attackTime.Round(time.Millisecond), st.Dropped-kdcBefore.Dropped, st.Errors-kdcBefore.Errors)
	t.Logf("healthy probes during the attack: %d of %d ok", probeOK.Load(), probes.Load())
	t.Logf("HeapInuse %d KiB -> %d KiB: delta %d KiB (%.1f KiB per slowloris connection, both ends), bound %d KiB",
		before>>10, after>>10, delta>>10, float64(delta)/1024/float64(slowloris), maxHeapDelta>>10)
	if probes.Load() == 0 || probeOK.Load() != probes.Load() {
		probeErrs.Range(func(k, _ any) bool { t.Errorf("probe during the attack: %v", k); return true })
		t.Errorf("healthy probes during the attack: %d of %d ok", probeOK.Load(), probes.Load())
	}
	if delta > maxHeapDelta {
		t.Errorf("heap grew by %d KiB, more than %d KiB", delta>>10, maxHeapDelta>>10)
	}

	// Shutdown tells every stalled client 421 and ends every session.
	lab.shutdown(t)
	stopped = true
	told := 0
	for _, c := range slow {
		if c == nil {
			continue
		}
		if l, _ := c.reply(); strings.HasPrefix(l, "421 ") {
			told++
		}
		c.Close()
	}
	if told != slowloris {
		t.Errorf("%d of %d slowloris clients were told 421 at Shutdown", told, slowloris)
	}
	goleak.VerifyNone(t, leaks)
}

// TestAbuse_ConnectionLimitRefuses shows the other answer to a flood of
// connections: past Limits.MaxConnections the connector answers 421 4.3.2
// at once, as Exchange does, while the sessions it holds go on.
func TestAbuse_ConnectionLimitRefuses(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	const limit = 20
	lab := startAbuseLab(t, Limits{MaxConnections: limit})
	var held []*abuseConn
	for range limit {
		c, err := dialAbuse(lab.hub.Addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		if l, err := c.reply(); err != nil || !strings.HasPrefix(l, "220 ") {
			t.Fatalf("banner %q, %v", l, err)
		}
		io.WriteString(c, "EH")
	}
	refused := 0
	for range 50 {
		c, err := dialAbuse(lab.hub.Addr())
		if err != nil {
			t.Fatal(err)
		}
		if l, _ := c.reply(); strings.HasPrefix(l, "421 4.3.2") {
			refused++
		}
		if err := c.untilClosed(); err != nil {
			t.Errorf("refused connection not closed: %v", err)
		}
		c.Close()
	}
	if refused != 50 {
		t.Errorf("%d of 50 connections over the limit refused with 421 4.3.2", refused)
	}
	// A held session still works.
	if l, err := held[0].cmd("LO abuser.lab.test"); err != nil || !strings.HasPrefix(l, "250") {
		t.Errorf("held session after the refusals: %q, %v", l, err)
	}
	t.Logf("limit %d: %d held, %d refused with 421 4.3.2", limit, len(held), refused)
	lab.shutdown(t)
	for _, c := range held {
		c.Close()
	}
	goleak.VerifyNone(t, leaks)
}
