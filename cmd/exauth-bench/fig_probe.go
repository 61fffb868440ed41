package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/exchangeauth"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/krbkey"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// startHealthy starts the bundled healthy scenario in this process, as
// `exauth probe --scenario healthy` does.
func startHealthy() (*scenarios.Lab, error) {
	sc, err := scenarios.Bundled("healthy")
	if err != nil {
		return nil, err
	}
	return scenarios.Run(sc, scenarios.Options{})
}

// probeOnce runs one probe against the lab and checks the verdict.
func probeOnce(lab *scenarios.Lab, cfg smtpprobe.Config) (*verdict.Report, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t0 := time.Now()
	r := smtpprobe.Probe(ctx, cfg)
	d := time.Since(t0)
	if string(r.Verdict) != "ok" {
		return r, d, fmt.Errorf("probe verdict %s (%s), want ok", r.Verdict, r.Summary)
	}
	return r, d, nil
}

// bareParts measures, each on its own, the parts of a healthy probe that no
// implementation can skip: a TCP connect, a TLS handshake (same TLS
// settings, a certificate of the same kind from the same CA), the AS
// exchange (with its pre-authentication round), the TGS exchange, and one
// AP-REQ verification by the acceptor.
type bareParts struct {
	lab      *scenarios.Lab
	tcpLn    net.Listener
	tlsLn    net.Listener
	wg       sync.WaitGroup
	krb5     *krbConf
	acceptor func(mutual bool) (*gssapi.Server, error)
	// ExchangeAuth's reverse leg: the hub's ticket for the client host
	// (fetched once, as the hub caches it) and the client host's keytab.
	reverseTicket *krbclient.ServiceTicket
	reverseSPN    string
	clientKeytab  *keytab.Keytab
	hubKeys       *krbkey.Cache // the acceptor's, as KerberosAcceptor keeps one
	probeKeys     *krbkey.Cache // the probe's, as its kerberos.Client keeps one
}

// The parts' indices; partReverse is ExchangeAuth's alone.
const (
	partConnect = iota
	partTLS
	partAS
	partTGS
	partAPVerify
	partReverse
	nParts
)

var partNames = [nParts]string{"TCP connect", "TLS 1.2 handshake", "AS", "TGS", "AP verify", "reverse token (hub builds, probe verifies)"}

type krbConf struct {
	cfg   krbclient.Config
	creds krbclient.Credentials
}

func newBareParts(lab *scenarios.Lab) (*bareParts, error) {
	p := &bareParts{lab: lab}
	var err error
	if p.tcpLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	now := time.Now()
	cert, err := lab.CA.Issue([]string{lab.Host}, now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err != nil {
		return nil, err
	}
	if p.tlsLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	// TLS 1.2, as inside X-ANONYMOUSTLS on both paths (the probe and the
	// connector stop at 1.2 there, where ExchangeAuth's EAP key is defined).
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, MaxVersion: exchangeauth.MaxTLSVersion}
	p.wg.Add(2)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.tcpLn.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	go func() {
		defer p.wg.Done()
		serveBareTLS(p.tlsLn, conf, true)
	}()
	files, err := lab.Files()
	if err != nil {
		return nil, err
	}
	krb5, err := krbclient.LoadKrb5Conf(files.Krb5Conf)
	if err != nil {
		return nil, err
	}
	creds, err := krbclient.FromKeytab(files.ClientKeytab, lab.Principal)
	if err != nil {
		return nil, err
	}
	p.krb5 = &krbConf{cfg: krbclient.Config{Krb5: krb5}, creds: creds}
	hubKT, err := lab.KDC.Keytab("HUB01$", 0)
	if err != nil {
		return nil, err
	}
	replay := gssapi.NewReplayCache()
	p.hubKeys, p.probeKeys = krbkey.NewCache(), krbkey.NewCache()
	p.acceptor = func(bool) (*gssapi.Server, error) {
		return gssapi.NewServer(gssapi.ServerConfig{Keytab: hubKT, Service: lab.SPN, Mode: gssapi.ModeExchange, Replay: replay, Keys: p.hubKeys})
	}
	hub, err := krbclient.New(krbclient.Config{Krb5: krbclient.ConfigFor(lab.Realm, "tcp/"+lab.KDC.TCPAddr())},
		krbclient.FromKeytabValue(hubKT, "HUB01$@"+lab.Realm))
	if err != nil {
		return nil, err
	}
	p.reverseSPN = "SMTPSVC/" + lab.ProbeConfig().EHLOName
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if p.reverseTicket, err = hub.ServiceTicket(ctx, p.reverseSPN); err != nil {
		return nil, fmt.Errorf("the hub's reverse ticket: %w", err)
	}
	if p.clientKeytab, err = keytab.Load(files.ClientKeytab); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *bareParts) close() {
	p.tcpLn.Close()
	p.tlsLn.Close()
	p.wg.Wait()
}

// measure measures each part once: connect, TLS, AS, TGS, AP verify and,
// for ExchangeAuth, the reverse token. The AP-REQ asks for an AP-REP on
// the X-EXPS GSSAPI path, not on the ExchangeAuth one.
func (p *bareParts) measure(exchangeAuth bool) ([nParts]time.Duration, error) {
	var d [nParts]time.Duration
	t0 := time.Now()
	c, err := net.Dial("tcp", p.tcpLn.Addr().String())
	d[partConnect] = time.Since(t0)
	if err != nil {
		return d, err
	}
	c.Close()

	c, err = net.Dial("tcp", p.tlsLn.Addr().String())
	if err != nil {
		return d, err
	}
	tc := tls.Client(c, clientTLS())
	t0 = time.Now()
	err = tc.Handshake()
	d[partTLS] = time.Since(t0)
	tc.Close()
	if err != nil {
		return d, err
	}

	kc, err := krbclient.New(p.krb5.cfg, p.krb5.creds)
	if err != nil {
		return d, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t0 = time.Now()
	err = kc.Login(ctx)
	d[partAS] = time.Since(t0)
	if err != nil {
		return d, err
	}
	t0 = time.Now()
	st, err := kc.ServiceTicket(ctx, p.lab.SPN)
	d[partTGS] = time.Since(t0)
	if err != nil {
		return d, err
	}

	g, err := gssapi.NewClient(gssapi.ClientConfig{Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm, Mode: gssapi.ModeExchange, Mutual: !exchangeAuth})
	if err != nil {
		return d, err
	}
	_, tok, err := g.Start()
	if err != nil {
		return d, err
	}
	srv, err := p.acceptor(!exchangeAuth)
	if err != nil {
		return d, err
	}
	if _, _, err := srv.Next(nil); err != nil { // the empty 334
		return d, err
	}
	t0 = time.Now()
	_, done, err := srv.Next(tok)
	d[partAPVerify] = time.Since(t0)
	if err == nil && !done {
		err = errors.New("acceptor not done after the AP-REQ")
	}
	if err != nil || !exchangeAuth {
		return d, err
	}

	// The reverse leg: the hub's AP-REQ from its cached ticket, verified
	// with the client host's keytab, as the connector and the probe do it.
	t0 = time.Now()
	rt := p.reverseTicket
	hc, err := gssapi.NewClient(gssapi.ClientConfig{Ticket: rt.Ticket, SessionKey: rt.SessionKey, Client: rt.Client, Realm: rt.Realm, Mode: gssapi.ModeExchange, Keys: p.hubKeys})
	if err != nil {
		return d, err
	}
	_, rtok, err := hc.Start()
	if err != nil {
		return d, err
	}
	rsrv, err := gssapi.NewServer(gssapi.ServerConfig{Keytab: p.clientKeytab, Service: p.reverseSPN, Mode: gssapi.ModeExchange, Keys: p.probeKeys})
	if err != nil {
		return d, err
	}
	_, done, err = rsrv.Next(rtok)
	d[partReverse] = time.Since(t0)
	if err == nil && !done {
		err = errors.New("reverse token: acceptor not done")
	}
	return d, err
}

// figProbeLatency is figure 4 on the default path (X-EXPS EXCHANGEAUTH);
// figProbeLatencyGSSAPI is the same on the downgraded X-EXPS GSSAPI path.
func figProbeLatency() row { return probeLatency(verdict.MechAuto) }

func figProbeLatencyGSSAPI() row { return probeLatency(verdict.MechGSSAPI) }

func probeLatency(mech verdict.Mech) row {
	exchangeAuth := mech != verdict.MechGSSAPI
	path, profile := "ExchangeAuth", "fig4"
	if !exchangeAuth {
		path, profile = "X-EXPS GSSAPI", "fig4g"
	}
	r := row{figure: "probe: time to verdict, healthy, loopback, " + path, target: "≤ 1.30×"}
	lab, err := startHealthy()
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer lab.Close()
	parts, err := newBareParts(lab)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer parts.close()
	config := func() smtpprobe.Config {
		cfg := lab.ProbeConfig()
		cfg.Mech = mech
		return cfg
	}
	// Warm up both (first TLS handshake, first allocations).
	for range 10 {
		if _, _, err := probeOnce(lab, config()); err != nil {
			r.failed = err.Error()
			return r
		}
		if _, err := parts.measure(exchangeAuth); err != nil {
			r.failed = "bare parts: " + err.Error()
			return r
		}
	}
	// Alternate one probe and one set of bare parts, so that both see the
	// same machine.
	var probes []time.Duration
	var each [nParts][]time.Duration
	var phases [4][]time.Duration // the probe's own connect, tls, kdc, auth timings
	stop := startProfile(profile)
	end := time.Now().Add(opts.probes)
	for time.Now().Before(end) {
		rep, d, err := probeOnce(lab, config())
		if err != nil {
			stop()
			r.failed = err.Error()
			return r
		}
		if exchangeAuth != (rep.Auth != nil && rep.Auth.Mechanism == "EXCHANGEAUTH") {
			stop()
			r.failed = fmt.Sprintf("the probe authenticated with %+v, not on the %s path", rep.Auth, path)
			return r
		}
		probes = append(probes, d)
		for i, v := range []*float64{rep.Timings.Connect, rep.Timings.TLS, rep.Timings.KDC, rep.Timings.Auth} {
			if v != nil {
				phases[i] = append(phases[i], time.Duration(*v*float64(time.Millisecond)))
			}
		}
		pd, err := parts.measure(exchangeAuth)
		if err != nil {
			stop()
			r.failed = "bare parts: " + err.Error()
			return r
		}
		for i := range pd {
			each[i] = append(each[i], pd[i])
		}
	}
	stop()
	var sum time.Duration
	var detail []string
	for i := range each {
		if i == partReverse && !exchangeAuth {
			continue
		}
		m := median(each[i])
		sum += m
		detail = append(detail, fmt.Sprintf("%s %s", partNames[i], us(m)))
	}
	mp := median(probes)
	r.ours = fmt.Sprintf("%s (median of %d)", us(mp), len(probes))
	r.baseline = fmt.Sprintf("%s (sum of part medians)", us(sum))
	r.ratio, r.hasRatio = float64(mp)/float64(sum), true
	r.passed = r.ratio <= 1.3
	r.notes = append(r.notes,
		fmt.Sprintf("probe p10 %s, p90 %s", us(percentile(probes, 0.1)), us(percentile(probes, 0.9))),
		"bare parts (medians): "+strings.Join(detail, ", "),
		fmt.Sprintf("the probe's own phase timings (medians): connect %s, TLS upgrade %s, KDC %s, X-EXPS %s; the rest is SMTP round trips, reading the keytab, certificate verification and the diagnosis",
			us(median(phases[0])), us(median(phases[1])), us(median(phases[2])), us(median(phases[3]))))
	return r
}

// rtConn counts the times the probe waited for its peer: a read that
// follows a write (or the first read, the banner). On a request/response
// protocol over loopback each is one round trip.
type rtConn struct {
	net.Conn
	mu                sync.Mutex
	started, wrote    bool
	waits             int
	reads, writes     int
	bytesIn, bytesOut int
}

func (c *rtConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	if !c.started || c.wrote {
		c.waits++
	}
	c.started, c.wrote = true, false
	c.reads++
	c.mu.Unlock()
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	c.bytesIn += n
	c.mu.Unlock()
	return n, err
}

func (c *rtConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.started, c.wrote = true, true
	c.writes++
	c.bytesOut += len(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// kdcProxy forwards TCP to the KDC and counts connections and request
// turns (client bytes after server bytes, or first).
type kdcProxy struct {
	ln           net.Listener
	target       string
	mu           sync.Mutex
	conns, turns int
	wg           sync.WaitGroup
}

func startKDCProxy(target string) (*kdcProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &kdcProxy{ln: ln, target: target}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns++
			p.mu.Unlock()
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	return p, nil
}

func (p *kdcProxy) serve(c net.Conn) {
	defer c.Close()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	var mu sync.Mutex
	lastFromClient := false
	pipe := func(dst, src net.Conn, fromClient bool) {
		buf := make([]byte, 64*1024)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				mu.Lock()
				if fromClient && !lastFromClient {
					p.mu.Lock()
					p.turns++
					p.mu.Unlock()
				}
				lastFromClient = fromClient
				mu.Unlock()
				dst.Write(buf[:n])
			}
			if err != nil {
				if tc, ok := dst.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return
			}
		}
	}
	done := make(chan struct{})
	go func() { pipe(up, c, true); close(done) }()
	pipe(c, up, false)
	<-done
}

func (p *kdcProxy) close() { p.ln.Close(); p.wg.Wait() }

func figRoundTrips() row {
	r := row{figure: "probe: round trips on the wire, healthy", target: "= minimum"}
	lab, err := startHealthy()
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer lab.Close()
	proxy, err := startKDCProxy(lab.KDC.TCPAddr())
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer proxy.close()
	// The lab's krb5.conf with the KDC behind the counting proxy.
	files, err := lab.Files()
	if err != nil {
		r.failed = err.Error()
		return r
	}
	conf, err := os.ReadFile(files.Krb5Conf)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	if !strings.Contains(string(conf), "kdc = "+lab.KDC.TCPAddr()) {
		r.failed = "unexpected krb5.conf: no kdc line for " + lab.KDC.TCPAddr()
		return r
	}
	var kept []string
	for _, l := range strings.Split(string(conf), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "kdc = ") {
			if strings.Contains(l, lab.KDC.TCPAddr()) {
				kept = append(kept, "  kdc = "+proxy.ln.Addr().String())
			}
			continue
		}
		kept = append(kept, l)
	}
	proxyConf := filepath.Join(files.Dir, "krb5-proxy.conf")
	if err := os.WriteFile(proxyConf, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		r.failed = err.Error()
		return r
	}
	cfg := lab.ProbeConfig()
	cfg.Kerberos = kerberos.New(kerberos.Settings{Krb5Conf: proxyConf, Keytab: files.ClientKeytab, Principal: lab.Principal})
	var smtpConn *rtConn
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		smtpConn = &rtConn{Conn: c}
		return smtpConn, nil
	}
	before := lab.KDC.Stats()
	rep, _, err := probeOnce(lab, cfg)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	after := lab.KDC.Stats()
	if smtpConn == nil {
		r.failed = "the probe did not dial"
		return r
	}
	smtpConn.mu.Lock()
	smtpWaits := smtpConn.waits
	smtpConn.mu.Unlock()
	proxy.mu.Lock()
	kdcConns, kdcTurns := proxy.conns, proxy.turns
	proxy.mu.Unlock()
	kdcRequests := int((after.ASRequests - before.ASRequests) + (after.TGSRequests - before.TGSRequests))

	tlsRTs := 1
	if tlsVersion(rep) == "TLS 1.2" {
		tlsRTs = 2
	}
	// The minimum: see BENCHMARKS.md, "Figure 5". Connect, banner, EHLO,
	// X-ANONYMOUSTLS, EHLO and QUIT are one round trip each; the handshake
	// one (TLS 1.3) or two (TLS 1.2, which ExchangeAuth needs); the
	// authentication one for ExchangeAuth (one line each way) and three for
	// X-EXPS GSSAPI (the verb, the token answered by the AP-REP, the empty
	// line answered by 235).
	authRTs := 3
	if rep.Auth != nil && rep.Auth.Mechanism == "EXCHANGEAUTH" {
		authRTs = 1
	}
	smtpMinimum := 6 + tlsRTs + authRTs
	// KDC: AS with PA-ENC-TIMESTAMP at once (a keytab holds the key, no
	// salt round trip) and TGS, each on its own TCP connection: MIT's
	// krb5kdc closes a TCP connection after its reply, so a client that
	// must work with every KDC cannot count on keeping one. Over UDP it
	// would be 2.
	const kdcMin = 4
	ours := 1 + smtpWaits + kdcConns + kdcTurns
	minimum := smtpMinimum + kdcMin
	r.ours = fmt.Sprintf("%d round trips", ours)
	r.baseline = fmt.Sprintf("%d (minimum)", minimum)
	r.ratio, r.hasRatio = float64(ours)/float64(minimum), true
	r.passed = ours == minimum
	r.notes = append(r.notes,
		fmt.Sprintf("SMTP: 1 TCP connect + %d waits for the server (%d for the %s handshake, %d for %s); minimum %d",
			smtpWaits, tlsRTs, tlsVersion(rep), authRTs, authName(rep), smtpMinimum),
		fmt.Sprintf("KDC: %d TCP connects + %d requests from the probe; minimum %d = AS pre-authenticated from the keytab + TGS, one TCP connection each (MIT's KDC closes a connection after its reply; over UDP it would be 2). The KDC saw %d AS + %d TGS in all (%d): ExchangeAuth's receiving hub gets its reverse ticket too, on its own connections",
			kdcConns, kdcTurns, kdcMin, after.ASRequests-before.ASRequests, after.TGSRequests-before.TGSRequests, kdcRequests),
		"the KDC exchanges run alongside the SMTP dialogue (the probe fetches the SMTPSVC ticket while it talks SMTP)")
	return r
}

func tlsVersion(rep *verdict.Report) string {
	if rep.TLS == nil || rep.TLS.Version == nil {
		return "TLS"
	}
	return *rep.TLS.Version
}

func authName(rep *verdict.Report) string {
	if rep.Auth == nil {
		return "authentication"
	}
	return rep.Auth.Verb + " " + rep.Auth.Mechanism
}
