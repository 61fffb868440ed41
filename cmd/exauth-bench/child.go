package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/exchangeauth"
	"github.com/exauth/exauth/scenarios"
)

// The lab the children run, as the bundled `healthy` scenario has it.
const (
	labRealm     = "LAB.TEST"
	labHost      = "hub01.lab.test"
	labSPN       = "SMTPSVC/" + labHost
	labClient    = "HUB02$"
	labPrincipal = labClient + "@" + labRealm
	labEHLO      = "hub02.lab.test"
)

// ready is what a child prints on stdout once it serves.
type ready struct {
	PID      int    `json:"pid"`
	SMTP     string `json:"smtp,omitempty"` // the fake connector
	TLS      string `json:"tls,omitempty"`  // the bare TLS baseline, same certificate
	KDC      string `json:"kdc,omitempty"`  // the fake KDC (TCP)
	KDCUDP   string `json:"kdc_udp,omitempty"`
	Krb5Conf string `json:"krb5_conf,omitempty"`
	Keytab   string `json:"keytab,omitempty"` // the client's (HUB02$)
}

// memReport is the child's answer to "mem".
type memReport struct {
	RSSKiB     int64  `json:"rss_kib"`
	HeapInuse  uint64 `json:"heap_inuse"`
	StackInuse uint64 `json:"stack_inuse"`
	Sys        uint64 `json:"sys"`
	Goroutines int    `json:"goroutines"`
}

// runChild serves one kind of lab until its stdin closes:
//
//	hub  the fake receive connector of the healthy scenario (ECDSA P-256
//	     certificate from a lab CA, Exchange's default EHLO list, the
//	     Kerberos acceptor with a replay cache), its fake KDC, and a bare
//	     TLS server with the very same certificate and tls.Config settings
//	kdc  a fake KDC whose accounts have aes256-cts-hmac-sha1-96 keys only
//
// Commands on stdin: "mem" prints a memReport line, "gc" collects garbage
// first. Stdin's end stops the servers and the CPU profile.
func runChild(kind, dir, profile string, maxConns int, authLog bool) error {
	if dir == "" {
		return errors.New("-dir is required")
	}
	debug.SetGCPercent(fakeserver.GCPercent) // as `exauth serve` runs them
	if os.Getenv("GOMAXPROCS") == "" {       // -server-env may ask for more
		runtime.GOMAXPROCS(fakeserver.Procs)
	}
	rd, closeLab, err := startLab(kind, dir, maxConns, authLog)
	if err != nil {
		return err
	}
	closers := []func(){closeLab}
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		closers = append(closers, func() { pprof.StopCPUProfile(); f.Close() })
	}
	rd.PID = os.Getpid()
	b, _ := json.Marshal(rd)
	fmt.Println(string(b))

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch strings.TrimSpace(in.Text()) {
		case "gc":
			runtime.GC()
			fallthrough
		case "mem":
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b, _ := json.Marshal(memReport{
				RSSKiB: vmRSS(os.Getpid()), HeapInuse: ms.HeapInuse, StackInuse: ms.StackInuse,
				Sys: ms.Sys, Goroutines: runtime.NumGoroutine(),
			})
			fmt.Println(string(b))
		}
	}
	return nil
}

// hubLogf is the child connector's log with -authlog: the first event 1035
// texts (why an authentication failed) on stderr. Without it the lab logs
// nothing, as `exauth serve`'s does when nobody listens.
func hubLogf() func(string, ...any) {
	var n atomic.Int32
	return func(format string, args ...any) {
		if strings.Contains(format, "event 1035") && n.Add(1) <= 5 {
			fmt.Fprintf(os.Stderr, "exauth-bench child: "+format+"\n", args...)
		}
	}
}

func writeLabFiles(k *fakekdc.KDC, dir string, rd *ready) error {
	rd.KDC, rd.KDCUDP = k.TCPAddr(), k.UDPAddr()
	rd.Krb5Conf = filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(rd.Krb5Conf, k.Krb5Conf(), 0o644); err != nil {
		return err
	}
	kt, err := k.Keytab(labClient, 0)
	if err != nil {
		return err
	}
	b, err := kt.Marshal()
	if err != nil {
		return err
	}
	rd.Keytab = filepath.Join(dir, "client.keytab")
	return os.WriteFile(rd.Keytab, b, 0o600)
}

// vmRSS reads VmRSS of a process, in KiB.
func vmRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return -1
}

// serverChild is a running child as the parent sees it.
type serverChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	dir   string
	ready ready

	once       sync.Once
	unregister func()
}

func (c *serverChild) pid() int { return c.cmd.Process.Pid }

// startChild re-executes exauth-bench as a server child of the given kind.
func startChild(kind, profileName string, extra ...string) (*serverChild, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "exauth-bench-"+kind+"-")
	if err != nil {
		return nil, err
	}
	args := append([]string{"-child", kind, "-dir", dir}, extra...)
	if p := childProfile(profileName); p != "" {
		args = append(args, "-child-cpuprofile", p)
	}
	if opts.authLog {
		args = append(args, "-authlog")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	if opts.serverEnv != "" {
		cmd.Env = append(os.Environ(), strings.Split(opts.serverEnv, ",")...)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group: groupCPU accounts for it alone.
	if err := startInOwnProcessGroup(cmd); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c := &serverChild{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout), dir: dir}
	c.unregister = onExit(c.stop)
	line, err := c.out.ReadString('\n')
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("child %s did not start: %w", kind, err)
	}
	if err := json.Unmarshal([]byte(line), &c.ready); err != nil {
		c.stop()
		return nil, fmt.Errorf("child %s: %q: %w", kind, line, err)
	}
	return c, nil
}

// mem asks the child for its memory ("mem" or "gc").
func (c *serverChild) mem(cmd string) (memReport, error) {
	var m memReport
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return m, err
	}
	line, err := c.out.ReadString('\n')
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal([]byte(line), &m)
}

// stop closes the child's stdin (it shuts down and writes its profile) and
// waits for it.
func (c *serverChild) stop() {
	c.once.Do(c.doStop)
}

func (c *serverChild) doStop() {
	if c.unregister != nil {
		c.unregister()
	}
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(c.dir)
}

// startLab starts the servers of a child kind in this process (the Go
// benchmarks call it directly) and returns what they listen on and the
// function that stops them.
func startLab(kind, dir string, maxConns int, authLog bool) (rd ready, stop func(), err error) {
	var closers []func()
	stop = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	switch kind {
	case "hub":
		// The healthy scenario, started as `exauth serve` and the tests
		// start it.
		sc, err := scenarios.Bundled("healthy")
		if err != nil {
			return rd, stop, err
		}
		var logf func(string, ...any)
		if authLog {
			logf = hubLogf()
		}
		lab, err := scenarios.Run(sc, scenarios.Options{StateDir: dir, Logf: logf, Limits: fakeserver.Limits{MaxConnections: maxConns}})
		if err != nil {
			return rd, stop, err
		}
		closers = append(closers, func() { lab.Close() })
		rd.SMTP, rd.KDC, rd.KDCUDP = lab.Hub.Addr(), lab.KDC.TCPAddr(), lab.KDC.UDPAddr()
		files, err := lab.Files()
		if err != nil {
			return rd, stop, err
		}
		rd.Krb5Conf, rd.Keytab = files.Krb5Conf, files.ClientKeytab
		cert, err := lab.Certificate()
		if err != nil {
			return rd, stop, err
		}
		// The baseline: the connector's own TLS settings (fakeserver.Serve)
		// and certificate, on a bare listener that does the handshake and
		// closes.
		tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return rd, stop, err
		}
		// The same TLS as the connector's X-ANONYMOUSTLS: at most 1.2,
		// where ExchangeAuth's EAP key is defined.
		conf := &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12, MaxVersion: exchangeauth.MaxTLSVersion}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			serveBareTLS(tlsLn, conf, false)
		}()
		closers = append(closers, func() { tlsLn.Close(); wg.Wait() })
		rd.TLS = tlsLn.Addr().String()
	case "kdc":
		aes := []int32{etypeID.AES256_CTS_HMAC_SHA1_96}
		k, err := fakekdc.Start(fakekdc.Config{
			Realm:        labRealm,
			Logf:         func(string, ...any) {},
			ClientETypes: aes,
			Accounts: []fakekdc.Account{
				// Random keys, as scenarios have them ("" = random).
				{Name: "krbtgt", KVNO: 1, ETypes: aes},
				{Name: labClient, KVNO: 2, ETypes: aes},
				{Name: "HUB01$", KVNO: 3, ETypes: aes, SPNs: []string{labSPN}},
			},
		})
		if err != nil {
			return rd, stop, err
		}
		closers = append(closers, func() { k.Close() })
		if err := writeLabFiles(k, dir, &rd); err != nil {
			return rd, stop, err
		}
	default:
		return rd, stop, fmt.Errorf("unknown child kind %q", kind)
	}
	return rd, stop, nil
}

// serveBareTLS is the baselines' TLS server: until ln closes, it does the
// handshake on each connection and then closes it (a handshake-only
// baseline) or, with drain, reads until the client closes (the TLS part of
// a probe, which goes on talking).
func serveBareTLS(ln net.Listener, conf *tls.Config, drain bool) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			tc := tls.Server(c, conf)
			if tc.Handshake() != nil {
				return
			}
			if drain {
				io.Copy(io.Discard, tc)
			}
			tc.Close()
		}()
	}
}
