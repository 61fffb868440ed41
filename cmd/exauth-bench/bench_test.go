package main

import (
	"testing"

	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
)

// The Go benchmarks run the operations of exauth-bench's figures in one
// process, one at a time: numbers for `go test -bench` and -cpuprofile,
// not the side-by-side ratios (run `go run ./cmd/exauth-bench` for those).

func startTestLab(b *testing.B, kind string) ready {
	b.Helper()
	rd, stop, err := startLab(kind, b.TempDir(), 0, false)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(stop)
	return rd
}

// BenchmarkHealthySession is figure 1's session: connect, banner, EHLO,
// X-ANONYMOUSTLS, handshake, EHLO, X-EXPS GSSAPI (fresh AP-REQ), QUIT.
func BenchmarkHealthySession(b *testing.B) {
	rd := startTestLab(b, "hub")
	st, err := fetchTicket(rd)
	if err != nil {
		b.Fatal(err)
	}
	gcfg := gssapi.ClientConfig{Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm, Mode: gssapi.ModeExchange, Mutual: true}
	tconf := clientTLS()
	for b.Loop() {
		if err := healthySession(rd.SMTP, tconf, gcfg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTLSHandshake is figure 1's baseline: the same certificate and
// TLS settings, handshake and close.
func BenchmarkTLSHandshake(b *testing.B) {
	rd := startTestLab(b, "hub")
	tconf := clientTLS()
	for b.Loop() {
		if err := tlsHandshake(rd.TLS, tconf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlainSession is figure 2's session: banner, EHLO, QUIT.
func BenchmarkPlainSession(b *testing.B) {
	rd := startTestLab(b, "hub")
	for b.Loop() {
		if err := plainSession(rd.SMTP); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKDCASTGS is figure 3's operation against the fake KDC: a fresh
// client's AS (with pre-authentication) and TGS exchanges over TCP.
func BenchmarkKDCASTGS(b *testing.B) {
	rd := startTestLab(b, "kdc")
	conf, err := kdcClientConf(rd.KDC, false)
	if err != nil {
		b.Fatal(err)
	}
	creds, err := krbclient.FromKeytab(rd.Keytab, labPrincipal)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := kdcOp(conf, creds); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProbeHealthy is figure 4's probe: time to verdict against the
// healthy scenario in process.
func BenchmarkProbeHealthy(b *testing.B) {
	lab, err := startHealthy()
	if err != nil {
		b.Fatal(err)
	}
	defer lab.Close()
	for b.Loop() {
		if _, _, err := probeOnce(lab, lab.ProbeConfig()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBareParts is figure 4's baseline: connect, TLS handshake, AS,
// TGS and one AP verification, each bare.
func BenchmarkBareParts(b *testing.B) {
	lab, err := startHealthy()
	if err != nil {
		b.Fatal(err)
	}
	defer lab.Close()
	p, err := newBareParts(lab)
	if err != nil {
		b.Fatal(err)
	}
	defer p.close()
	for b.Loop() {
		if _, err := p.measure(true); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFiguresSmoke runs the in-process figures' operations once, so that
// `go test ./...` notices when a production change breaks the script.
func TestFiguresSmoke(t *testing.T) {
	rd, stop, err := startLab("hub", t.TempDir(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	st, err := fetchTicket(rd)
	if err != nil {
		t.Fatal(err)
	}
	gcfg := gssapi.ClientConfig{Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm, Mode: gssapi.ModeExchange, Mutual: true}
	if err := healthySession(rd.SMTP, clientTLS(), gcfg); err != nil {
		t.Fatal("healthy session:", err)
	}
	if err := plainSession(rd.SMTP); err != nil {
		t.Fatal("plain session:", err)
	}
	if err := tlsHandshake(rd.TLS, clientTLS()); err != nil {
		t.Fatal("TLS handshake:", err)
	}
	lab, err := startHealthy()
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	if _, _, err := probeOnce(lab, lab.ProbeConfig()); err != nil {
		t.Fatal(err)
	}
	if r := figRoundTrips(); r.failed != "" {
		t.Fatal("round trips:", r.failed)
	}
}
