package krbclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/krberror"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const spnHub01 = "SMTPSVC/hub01.lab.test"

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// labSetup starts a labKDC behind a scriptKDC with TCP and UDP.
// The options run before the KDC starts serving (the race detector cannot
// see the network's ordering).
func labSetup(t *testing.T, kdcClock clock.Clock, opts ...func(*labKDC)) (*labKDC, *scriptKDC) {
	t.Helper()
	lab := newLabKDC(t, kdcClock)
	lab.spns[spnHub01] = true
	for _, o := range opts {
		o(lab)
	}
	return lab, startScriptKDC(t, true, lab.handle)
}

func noPreauth(l *labKDC) { l.preauth = false }

func writeLabKeytab(t *testing.T) string {
	t.Helper()
	b, err := labKeytab(t).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "client.keytab")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newClient(t *testing.T, cfg Config, creds Credentials) *Client {
	t.Helper()
	c, err := New(cfg, creds)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestServiceTicket_PasswordPreauthRecordsKDCClock(t *testing.T) {
	clk := clock.NewFake(t0)
	lab, kdc := labSetup(t, clock.Offset{Base: clk, By: 10 * time.Minute})
	c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr()), Clock: clk}, FromPassword("HUB02$@LAB.TEST", labPassword))

	st, err := c.ServiceTicket(context.Background(), spnHub01)
	if err != nil {
		for _, e := range c.Exchanges() {
			t.Logf("%+v", e)
		}
		t.Fatalf("ServiceTicket: %v", err)
	}
	if st.SPN != spnHub01 || st.EType != 18 || st.KVNO != 3 || st.KDC != kdc.addr() || st.Transport != UDP || st.Realm != labRealm {
		t.Errorf("ticket = %v", st)
	}
	if got := lab.seenTimestamps(); len(got) != 1 || !got[0].Equal(t0) {
		t.Errorf("PA-ENC-TIMESTAMP = %v, want this host's (fake) clock %v", got, t0)
	}
	ex := c.Exchanges()
	if len(ex) != 3 {
		t.Fatalf("exchanges = %d, want AS (preauth required), AS, TGS", len(ex))
	}
	kerr, ok := errorsAs[*KDCError](ex[0].Err)
	if ex[0].Kind != KindAS || ex[0].Preauth || !ok || kerr.Code != krberror.KDC_ERR_PREAUTH_REQUIRED || kerr.Code.String() != "KDC_ERR_PREAUTH_REQUIRED" {
		t.Errorf("exchange 0 = %+v", ex[0])
	}
	if ex[1].Kind != KindAS || !ex[1].Preauth || ex[1].Err != nil || ex[2].Kind != KindTGS || ex[2].SPN != spnHub01 || ex[2].Err != nil {
		t.Errorf("exchanges 1, 2 = %+v, %+v", ex[1], ex[2])
	}
	for i, e := range ex {
		if off, ok := e.ClockOffset(); !ok || off != 10*time.Minute {
			t.Errorf("exchange %d: ClockOffset = %v, %v; want 10m", i, off, ok)
		}
		if e.Client != "HUB02$@LAB.TEST" || e.KDC != kdc.addr() || len(e.Attempts) != 1 {
			t.Errorf("exchange %d = %+v", i, e)
		}
	}
	if as, tgs := c.Stats(); as != 1 || tgs != 1 {
		t.Errorf("Stats = %d, %d; want 1, 1", as, tgs)
	}
}

func TestServiceTicket_KeytabWithoutPreauthOverTCP(t *testing.T) {
	_, kdc := labSetup(t, nil, noPreauth)
	krb5 := ConfigFor(labRealm, kdc.addr())
	krb5.LibDefaults.UDPPreferenceLimit = 1               // TCP first, like the fake KDC's krb5.conf
	creds, err := FromKeytab(writeLabKeytab(t), "HUB02$") // realm from default_realm
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, Config{Krb5: krb5}, creds)
	st, err := c.ServiceTicket(context.Background(), spnHub01+"@LAB.TEST")
	if err != nil {
		t.Fatalf("ServiceTicket: %v", err)
	}
	if st.Transport != TCP {
		t.Errorf("transport = %s, want tcp", st.Transport)
	}
	if got := kdc.requests(); len(got) != 2 || got[0] != TCP || got[1] != TCP {
		t.Errorf("KDC saw %v, want [tcp tcp]", got)
	}
	// A keytab pre-authenticates at once; a KDC that does not require it
	// accepts that too.
	if ex := c.Exchanges(); len(ex) != 2 || !ex[0].Preauth || ex[0].Err != nil {
		t.Errorf("exchanges = %+v", ex)
	}
}

func TestServiceTicket_OneASAndOneTGSPerSPNForConcurrentCallers(t *testing.T) {
	spns := []string{"SMTPSVC/hub01.lab.test", "SMTPSVC/hub03.lab.test", "SMTPSVC/hub04.lab.test", "SMTPSVC/hub05.lab.test", "SMTPSVC/hub06.lab.test"}
	lab, kdc := labSetup(t, nil, func(l *labKDC) {
		for _, s := range spns {
			l.spns[s] = true
		}
	})
	c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr())}, FromPassword("HUB02$@LAB.TEST", labPassword))
	var wg sync.WaitGroup
	errs := make(chan error, 50*len(spns))
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range spns {
				spn := spns[(i+j)%len(spns)]
				st, err := c.ServiceTicket(context.Background(), spn)
				if err == nil && st.SPN != spn {
					err = fmt.Errorf("asked %s, got %s", spn, st.SPN)
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if as, tgs := c.Stats(); as != 1 || tgs != len(spns) {
		t.Errorf("Stats = %d, %d; want 1, %d", as, tgs, len(spns))
	}
	if as, tgs := lab.counts(); as != 2 || tgs != len(spns) {
		t.Errorf("KDC saw %d AS-REQs and %d TGS-REQs; want 2 (preauth) and %d", as, tgs, len(spns))
	}
}

func TestServiceTicket_UnknownSPNIsTypedAndAskedOnce(t *testing.T) {
	_, kdc := labSetup(t, nil)
	c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr())}, FromPassword("HUB02$@LAB.TEST", labPassword))
	for range 2 {
		_, err := c.ServiceTicket(context.Background(), "SMTPSVC/nohub.lab.test")
		kerr, ok := errorsAs[*KDCError](err)
		if !ok || kerr.Code != krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN || kerr.Code.String() != "KDC_ERR_S_PRINCIPAL_UNKNOWN" ||
			kerr.Exchange != KindTGS || kerr.SPN != "SMTPSVC/nohub.lab.test" || kerr.KDC != kdc.addr() || kerr.STime.IsZero() {
			t.Fatalf("err = %#v", err)
		}
	}
	if as, tgs := c.Stats(); as != 1 || tgs != 1 {
		t.Errorf("Stats = %d, %d; want 1, 1 (the answer is remembered)", as, tgs)
	}
}

func TestLogin_ReplyToAnotherRequestIsProtocolError(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(*labKDC)
		want  string
	}{
		{"nonce", func(l *labKDC) { l.nonceDelta = 1 }, "nonce"},
		{"client", func(l *labKDC) { l.cname = "OTHER$" }, "another request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, kdc := labSetup(t, nil, noPreauth, tc.fault)
			c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr())}, FromPassword("HUB02$@LAB.TEST", labPassword))
			err := c.Login(context.Background())
			perr, ok := errorsAs[*ProtocolError](err)
			if !ok || perr.Exchange != KindAS || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a ProtocolError about %s", err, tc.want)
			}
		})
	}
}

func TestLogin_WrongPassword(t *testing.T) {
	t.Run("no preauth: the reply does not decrypt", func(t *testing.T) {
		_, kdc := labSetup(t, nil, noPreauth)
		c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr())}, FromPassword("HUB02$@LAB.TEST", "wrong"))
		err := c.Login(context.Background())
		if cerr, ok := errorsAs[*CredentialsError](err); !ok || !strings.Contains(cerr.Hint, "wrong password") {
			t.Fatalf("err = %v, want a CredentialsError", err)
		}
		if strings.Contains(err.Error(), "wrong\"") || strings.Contains(err.Error(), labPassword) {
			t.Errorf("error shows a password: %v", err)
		}
	})
	t.Run("preauth: the KDC refuses", func(t *testing.T) {
		_, kdc := labSetup(t, nil)
		c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr())}, FromPassword("HUB02$@LAB.TEST", "wrong"))
		err := c.Login(context.Background())
		if kerr, ok := errorsAs[*KDCError](err); !ok || kerr.Code != krberror.KDC_ERR_PREAUTH_FAILED || kerr.Exchange != KindAS {
			t.Fatalf("err = %v, want KDC_ERR_PREAUTH_FAILED", err)
		}
	})
}

func TestServiceTicket_CancelledCallIsAskedAgain(t *testing.T) {
	lab := newLabKDC(t, nil)
	lab.preauth = false
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	var mu sync.Mutex
	block := true
	kdc := startScriptKDC(t, false, func(network string, req []byte) []byte {
		mu.Lock()
		b := block
		block = false
		mu.Unlock()
		if b {
			started <- struct{}{}
			<-release
			return nil
		}
		return lab.handle(network, req)
	})
	defer close(release) // before the scriptKDC's cleanup waits for its handlers
	krb5 := ConfigFor(labRealm, kdc.addr())
	krb5.LibDefaults.UDPPreferenceLimit = 1
	c := newClient(t, Config{Krb5: krb5}, FromPassword("HUB02$@LAB.TEST", labPassword))

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	err := c.Login(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if _, ok := errorsAs[*UnreachableError](err); !ok {
		t.Errorf("err = %T, want the attempts in an UnreachableError", err)
	}
	if err := c.Login(context.Background()); err != nil {
		t.Fatalf("second Login: %v", err)
	}
	if as, _ := c.Stats(); as != 2 {
		t.Errorf("AS exchanges = %d, want 2: a cancelled login is not remembered", as)
	}
}

func TestLogin_InvalidRepliesAreProtocolErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		network string
		raw     bool
		reply   []byte
		want    string
	}{
		{"garbage over TCP", TCP, false, []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "not a Kerberos reply"},
		{"garbage over UDP", UDP, false, []byte("\x00\x01garbage"), "not a Kerberos reply"},
		{"SSH banner", TCP, true, []byte("SSH-2.0-OpenSSH_9.6\r\n"), "exceeds the 1048576-byte limit"},
		{"reserved bit", TCP, true, []byte{0x80, 0, 0, 1, 0}, "reserved high bit"},
		{"zero length", TCP, true, []byte{0, 0, 0, 0}, "length 0"},
		{"short body", TCP, true, []byte{0, 0, 0, 10, 0x7e, 1}, "closed after part"},
		{"short prefix", TCP, true, []byte{0, 0}, "inside the length prefix"},
		{"truncated KRB-ERROR", TCP, false, []byte{0x7e, 0x81, 0x20, 0x30}, "malformed KRB-ERROR"},
		{"TGS-REP to an AS-REQ", TCP, false, []byte{0x6d, 0x03, 0x02, 0x01, 0x05}, "TGS-REP in answer to an AS-REQ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kdc := startScriptKDC(t, tc.network == UDP, func(string, []byte) []byte { return tc.reply },
				func(k *scriptKDC) { k.rawTCP = tc.raw })
			krb5 := ConfigFor(labRealm, kdc.addr())
			if tc.network == TCP {
				krb5.LibDefaults.UDPPreferenceLimit = 1
			}
			c := newClient(t, Config{Krb5: krb5}, FromPassword("HUB02$@LAB.TEST", labPassword))
			err := c.Login(context.Background())
			perr, ok := errorsAs[*ProtocolError](err)
			if !ok || perr.Transport != tc.network || perr.KDC != kdc.addr() || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a ProtocolError over %s: %s", err, tc.network, tc.want)
			}
			if ex := c.Exchanges(); len(ex) != 1 || ex[0].Err != err {
				t.Errorf("exchanges = %+v", ex)
			}
		})
	}
}

func TestLogin_UnreachableRecordsEveryAttempt(t *testing.T) {
	dead1, dead2 := deadAddr(t), deadAddr(t)
	c := newClient(t, Config{Realm: labRealm, KDCs: []string{dead1, dead2}}, FromPassword("HUB02$", labPassword))
	err := c.Login(context.Background())
	uerr, ok := errorsAs[*UnreachableError](err)
	if !ok || uerr.Realm != labRealm {
		t.Fatalf("err = %v, want UnreachableError", err)
	}
	want := []string{dead1 + "/udp", dead2 + "/udp", dead1 + "/tcp", dead2 + "/tcp"}
	if len(uerr.Attempts) != len(want) {
		t.Fatalf("attempts = %v, want %v", uerr.Attempts, want)
	}
	for i, a := range uerr.Attempts {
		if a.Addr+"/"+a.Transport != want[i] || !a.Refused || a.TimedOut || a.Err == nil {
			t.Errorf("attempt %d = %+v, want %s refused", i, a, want[i])
		}
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("message %q does not say refused", err)
	}
}

// A realm without a KDC is the configuration's problem, not an
// unreachable KDC: nothing was tried, so no firewall is to blame.
func TestLogin_NoKDCKnown(t *testing.T) {
	krb5 := ConfigFor(labRealm, "")
	krb5.LibDefaults.DNSLookupKDC = false
	c := newClient(t, Config{Krb5: krb5}, FromPassword("HUB02$", labPassword))
	err := c.Login(context.Background())
	if cerr, ok := errorsAs[*ConfigError](err); !ok || !strings.Contains(cerr.Error(), "no KDC for realm "+labRealm) {
		t.Fatalf("err = %v, want a ConfigError naming the realm", err)
	}
}

func TestLogin_TransportFallbacks(t *testing.T) {
	t.Run("TCP closed without reply: next KDC", func(t *testing.T) {
		mute := startScriptKDC(t, false, func(string, []byte) []byte { return nil })
		_, good := labSetup(t, nil, noPreauth)
		krb5 := ConfigFor(labRealm, mute.addr())
		krb5.LibDefaults.UDPPreferenceLimit = 1
		c := newClient(t, Config{Krb5: krb5, KDCs: []string{mute.addr(), good.addr()}}, FromPassword("HUB02$", labPassword))
		if err := c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
		ex := c.Exchanges()[0]
		if ex.KDC != good.addr() || ex.Transport != TCP || len(ex.Attempts) != 2 || !errors.Is(ex.Attempts[0].Err, errNoReply) {
			t.Errorf("exchange = %+v", ex)
		}
	})
	t.Run("UDP silent: TCP after UDPTimeout", func(t *testing.T) {
		lab := newLabKDC(t, nil)
		lab.preauth = false
		kdc := startScriptKDC(t, true, func(network string, req []byte) []byte {
			if network == UDP {
				return nil
			}
			return lab.handle(network, req)
		})
		c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr()), UDPTimeout: 50 * time.Millisecond}, FromPassword("HUB02$", labPassword))
		if err := c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
		ex := c.Exchanges()[0]
		if ex.Transport != TCP || len(ex.Attempts) != 2 || !ex.Attempts[0].TimedOut || ex.Attempts[0].Transport != UDP {
			t.Errorf("exchange = %+v", ex)
		}
	})
	t.Run("KRB_ERR_RESPONSE_TOO_BIG: TCP on the same KDC", func(t *testing.T) {
		lab := newLabKDC(t, nil)
		lab.preauth = false
		kdc := startScriptKDC(t, true, func(network string, req []byte) []byte {
			if network == UDP {
				return krbError(t, errorcode.KRB_ERR_RESPONSE_TOO_BIG, time.Now(), nil)
			}
			return lab.handle(network, req)
		})
		c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr()), KDCs: []string{kdc.addr(), deadAddr(t)}}, FromPassword("HUB02$", labPassword))
		if err := c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
		ex := c.Exchanges()[0]
		if ex.Transport != TCP || ex.KDC != kdc.addr() || len(ex.Attempts) != 2 || !errors.Is(ex.Attempts[0].Err, errResponseTooBig) {
			t.Errorf("exchange = %+v", ex)
		}
	})
	t.Run("transport prefixes restrict", func(t *testing.T) {
		_, kdc := labSetup(t, nil, noPreauth)
		c := newClient(t, Config{Krb5: ConfigFor(labRealm, ""), KDCs: []string{"tcp/" + kdc.addr()}}, FromPassword("HUB02$", labPassword))
		if err := c.Login(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := kdc.requests(); len(got) != 1 || got[0] != TCP {
			t.Errorf("KDC saw %v, want only tcp", got)
		}
	})
}

func TestLogin_CanonicalKRBErrorOverUDP(t *testing.T) {
	stime := t0.Add(-7*time.Minute + 250*time.Millisecond)
	kdc := startScriptKDC(t, true, func(string, []byte) []byte {
		return krbError(t, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, stime, nil)
	})
	clk := clock.NewFake(t0)
	c := newClient(t, Config{Krb5: ConfigFor(labRealm, kdc.addr()), Clock: clk}, FromPassword("NOBODY$@LAB.TEST", labPassword))
	err := c.Login(context.Background())
	kerr, ok := errorsAs[*KDCError](err)
	if !ok || kerr.Code != 6 || kerr.Code.String() != "KDC_ERR_C_PRINCIPAL_UNKNOWN" || kerr.Transport != UDP || kerr.Client != "NOBODY$@LAB.TEST" || kerr.EText != "canned" {
		t.Fatalf("err = %#v", err)
	}
	if !kerr.STime.Equal(stime) || !kerr.LocalTime.Equal(t0) || kerr.ClockOffset() != -7*time.Minute+250*time.Millisecond {
		t.Errorf("STime %v LocalTime %v offset %v", kerr.STime, kerr.LocalTime, kerr.ClockOffset())
	}
	if !strings.Contains(err.Error(), "KDC_ERR_C_PRINCIPAL_UNKNOWN") {
		t.Errorf("message = %q", err)
	}
}

func TestServiceTicket_BadSPN(t *testing.T) {
	c := newClient(t, Config{Realm: labRealm, KDCs: []string{"127.0.0.1"}}, FromPassword("HUB02$", labPassword))
	for _, spn := range []string{"", "SMTPSVC/", "SMTPSVC/hub01.other.test@OTHER.TEST"} {
		if _, err := c.ServiceTicket(context.Background(), spn); !isType[*ConfigError](err) {
			t.Errorf("ServiceTicket(%q) = %v, want ConfigError", spn, err)
		}
	}
	if as, tgs := c.Stats(); as != 0 || tgs != 0 {
		t.Errorf("Stats = %d, %d; want no exchange", as, tgs)
	}
}

func isType[T error](err error) bool {
	_, ok := errorsAs[T](err)
	return ok
}

func TestReachability(t *testing.T) {
	answering := startScriptKDC(t, true, func(string, []byte) []byte {
		return krbError(t, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, time.Now(), nil)
	})
	silentUDP := startScriptKDC(t, true, func(string, []byte) []byte { return nil })
	dead := deadAddr(t)
	got := Reachability(context.Background(), labRealm, []string{answering.addr(), silentUDP.addr(), dead}, 100*time.Millisecond)
	type res struct{ ok, refused, timedOut bool }
	want := []res{{true, false, false}, {true, false, false}, {true, false, false}, {false, false, true}, {false, true, false}, {false, true, false}}
	if len(got) != len(want) {
		t.Fatalf("got %d attempts, want %d: %v", len(got), len(want), got)
	}
	for i, a := range got {
		r := res{a.Err == nil, a.Refused, a.TimedOut}
		if r != want[i] {
			t.Errorf("attempt %d (%s) = %+v, want %+v", i, a, r, want[i])
		}
	}
	if got[0].Transport != TCP || got[1].Transport != UDP {
		t.Errorf("order = %s, %s; want tcp, udp", got[0].Transport, got[1].Transport)
	}
}
