package krbclient_test

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

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/krberror"
)

// Integration with the bundled fake KDC (package fakeserver): the client and
// the KDC share nothing but the wire.

const (
	realm    = "LAB.TEST"
	client   = "HUB02$@LAB.TEST"
	clientPW = "hub02-machine-password"
	spn      = "SMTPSVC/hub01.lab.test"
)

var epoch = time.Date(2025, 6, 2, 9, 30, 0, 0, time.UTC)

func startKDC(t *testing.T, mod func(*fakekdc.Config)) *fakekdc.KDC {
	t.Helper()
	cfg := fakekdc.Config{
		Realm: realm,
		Accounts: []fakekdc.Account{
			{Name: "HUB02$", Password: clientPW, KVNO: 1},
			{Name: "HUB01$", Password: "hub01-machine-password", KVNO: 3, SPNs: []string{spn, "SMTP/hub01.lab.test"}},
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	k, err := fakekdc.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func krb5Conf(t *testing.T, k *fakekdc.KDC) *config.Config {
	t.Helper()
	c, err := config.NewFromString(string(k.Krb5Conf()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func clientKeytab(t *testing.T, k *fakekdc.KDC) krbclient.Credentials {
	t.Helper()
	kt, err := k.Keytab("HUB02$", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "hub02.keytab")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	creds, err := krbclient.FromKeytab(p, client)
	if err != nil {
		t.Fatal(err)
	}
	return creds
}

func newClient(t *testing.T, cfg krbclient.Config, creds krbclient.Credentials) *krbclient.Client {
	t.Helper()
	c, err := krbclient.New(cfg, creds)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFakeKDC_Logins(t *testing.T) {
	k := startKDC(t, nil)
	// A keytab pre-authenticates at once (AS, TGS); a password needs the
	// KDC's salt first (AS refused with PREAUTH_REQUIRED, AS, TGS).
	for _, tc := range []struct {
		name      string
		creds     krbclient.Credentials
		exchanges int
	}{
		{"keytab", clientKeytab(t, k), 2},
		{"password", krbclient.FromPassword(client, clientPW), 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k)}, tc.creds)
			st, err := c.ServiceTicket(context.Background(), spn)
			if err != nil {
				t.Fatalf("ServiceTicket: %v", err)
			}
			if st.KVNO != 3 || st.EType != 18 || st.SPN != spn || st.Client.PrincipalNameString() != "HUB02$" || st.Transport != krbclient.TCP {
				t.Errorf("ticket = %v", st)
			}
			ex := c.Exchanges()
			n := len(ex)
			if n != tc.exchanges || ex[n-2].Err != nil || !ex[n-2].Preauth || ex[n-2].Kind != krbclient.KindAS || ex[n-1].Err != nil || ex[n-1].Kind != krbclient.KindTGS {
				t.Fatalf("exchanges = %+v", ex)
			}
			for i, e := range ex {
				if off, ok := e.ClockOffset(); !ok || off > 2*time.Second || off < -2*time.Second {
					t.Errorf("exchange %d: clock offset %v, %v; want about 0", i, off, ok)
				}
			}
		})
	}
}

func TestFakeKDC_OneASForManySPNsAndConcurrentCallers(t *testing.T) {
	var spns []string
	k := startKDC(t, func(cfg *fakekdc.Config) {
		for i := range 10 {
			name := fmt.Sprintf("HUB%02d$", 10+i)
			s := fmt.Sprintf("SMTPSVC/hub%02d.lab.test", 10+i)
			spns = append(spns, s)
			cfg.Accounts = append(cfg.Accounts, fakekdc.Account{Name: name, Password: name + "-pw", SPNs: []string{s}})
		}
	})
	c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k)}, krbclient.FromPassword(client, clientPW))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range spns {
				if _, err := c.ServiceTicket(context.Background(), spns[(i+j)%len(spns)]); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if as, tgs := c.Stats(); as != 1 || tgs != len(spns) {
		t.Errorf("client Stats = %d, %d; want 1, %d", as, tgs, len(spns))
	}
	if s := k.Stats(); s.ASRequests != 2 || s.TGSRequests != int64(len(spns)) {
		t.Errorf("KDC saw %+v; want 2 AS-REQs (pre-authentication) and %d TGS-REQs", s, len(spns))
	}
}

func TestFakeKDC_KDCClockTenMinutesAhead(t *testing.T) {
	local := clock.NewFake(epoch)
	k := startKDC(t, func(cfg *fakekdc.Config) { cfg.Clock = clock.Offset{Base: local, By: 10 * time.Minute} })
	c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k), Clock: local}, clientKeytab(t, k))
	_, err := c.ServiceTicket(context.Background(), spn)
	var kerr *krbclient.KDCError
	if !errors.As(err, &kerr) || kerr.Code != krberror.KRB_AP_ERR_SKEW || kerr.Code.String() != "KRB_AP_ERR_SKEW" || kerr.Exchange != krbclient.KindAS {
		t.Fatalf("err = %v, want KRB_AP_ERR_SKEW from the AS exchange", err)
	}
	if want := epoch.Add(10 * time.Minute); !kerr.STime.Equal(want) || !kerr.LocalTime.Equal(epoch) || kerr.ClockOffset() != 10*time.Minute {
		t.Errorf("STime %v, LocalTime %v; want %v, %v", kerr.STime, kerr.LocalTime, want, epoch)
	}
	for i, e := range c.Exchanges() {
		if off, ok := e.ClockOffset(); !ok || off != 10*time.Minute {
			t.Errorf("exchange %d: offset %v, %v; want 10m", i, off, ok)
		}
	}
}

func TestFakeKDC_UnknownAndDuplicateSPN(t *testing.T) {
	k := startKDC(t, func(cfg *fakekdc.Config) {
		cfg.Faults.DuplicateSPN = fakekdc.DuplicateSPNNotUnique
		cfg.Accounts = append(cfg.Accounts,
			fakekdc.Account{Name: "HUB07$", Password: "a", SPNs: []string{"SMTPSVC/dup.lab.test"}},
			fakekdc.Account{Name: "HUB08$", Password: "b", SPNs: []string{"SMTPSVC/dup.lab.test"}})
	})
	c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k)}, clientKeytab(t, k))
	for _, tc := range []struct {
		spn  string
		code krberror.Code
	}{
		{"SMTPSVC/hub99.lab.test", krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN},
		{"SMTPSVC/dup.lab.test", krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE},
	} {
		_, err := c.ServiceTicket(context.Background(), tc.spn)
		var kerr *krbclient.KDCError
		if !errors.As(err, &kerr) || kerr.Code != tc.code || kerr.Exchange != krbclient.KindTGS || kerr.SPN != tc.spn {
			t.Errorf("%s: err = %v, want code %d", tc.spn, err, tc.code)
		}
	}
}

func TestFakeKDC_Unreachable(t *testing.T) {
	k := startKDC(t, func(cfg *fakekdc.Config) { cfg.Faults.Unreachable = true })
	c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k)}, krbclient.FromPassword(client, clientPW))
	_, err := c.ServiceTicket(context.Background(), spn)
	var uerr *krbclient.UnreachableError
	if !errors.As(err, &uerr) || len(uerr.Attempts) == 0 {
		t.Fatalf("err = %v, want UnreachableError", err)
	}
	for _, a := range uerr.Attempts {
		if !a.Refused {
			t.Errorf("attempt %v: not refused", a)
		}
	}
	got := krbclient.Reachability(context.Background(), realm, []string{k.TCPAddr()}, time.Second)
	if len(got) != 2 || !got[0].Refused || !got[1].Refused {
		t.Errorf("Reachability = %v, want TCP and UDP refused", got)
	}
}

func TestFakeKDC_SilentUDPFallsBackToTCP(t *testing.T) {
	k := startKDC(t, func(cfg *fakekdc.Config) { cfg.Faults.SilentUDP = true })
	krb5 := krb5Conf(t, k)
	krb5.LibDefaults.UDPPreferenceLimit = 1465 // MIT's default: UDP first
	c := newClient(t, krbclient.Config{Krb5: krb5, KDCs: []string{"udp/" + k.UDPAddr(), "tcp/" + k.TCPAddr()}, UDPTimeout: 50 * time.Millisecond},
		krbclient.FromPassword(client, clientPW))
	st, err := c.ServiceTicket(context.Background(), spn)
	if err != nil {
		t.Fatal(err)
	}
	if st.Transport != krbclient.TCP {
		t.Errorf("transport = %s", st.Transport)
	}
	ex := c.Exchanges()[0]
	if len(ex.Attempts) != 2 || ex.Attempts[0].Transport != krbclient.UDP || !ex.Attempts[0].TimedOut {
		t.Errorf("attempts = %v", ex.Attempts)
	}
	got := krbclient.Reachability(context.Background(), realm, []string{k.UDPAddr()}, 50*time.Millisecond)
	if got[1].Err == nil || !got[1].TimedOut {
		t.Errorf("Reachability UDP = %v, want no answer", got[1])
	}
}

// TestFakeKDC_KeytabPreauthAttempts: pre-authenticating at once must not cost
// the account more failed logons than the classic exchange, and must cope
// with an account whose keys are of another etype than the keytab's first.
func TestFakeKDC_KeytabPreauthAttempts(t *testing.T) {
	t.Run("stale keytab: one failed pre-authentication", func(t *testing.T) {
		k := startKDC(t, nil)
		stale := writeKeytabFor(t, client, "not-the-password", 1, etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96)
		creds, err := krbclient.FromKeytab(stale, client)
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k)}, creds)
		_, err = c.ServiceTicket(context.Background(), spn)
		if err == nil {
			t.Fatal("a stale keytab logged in")
		}
		if st := k.Stats(); st.ASRequests != 1 {
			t.Errorf("KDC saw %d AS-REQs (%d errors), want 1: each further one is another failed logon", st.ASRequests, st.Errors)
		}
	})
	t.Run("account with RC4 only, keytab with AES first", func(t *testing.T) {
		k := startKDC(t, func(cfg *fakekdc.Config) {
			for i := range cfg.Accounts {
				if cfg.Accounts[i].Name == "HUB02$" {
					cfg.Accounts[i].ETypes = []int32{etypeID.RC4_HMAC}
				}
			}
			cfg.ClientETypes = []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC}
		})
		kt := writeKeytabFor(t, client, clientPW, 1, etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC)
		creds, err := krbclient.FromKeytab(kt, client)
		if err != nil {
			t.Fatal(err)
		}
		c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k)}, creds)
		if _, err := c.ServiceTicket(context.Background(), spn); err != nil {
			t.Fatalf("ServiceTicket: %v", err)
		}
		if st := k.Stats(); st.ASRequests != 2 {
			t.Errorf("KDC saw %d AS-REQs, want 2 (AES refused with hints, then RC4)", st.ASRequests)
		}
	})
}

// writeKeytabFor writes a keytab for principal with keys derived from
// password (gokrb5's keytab.AddEntry, default salt) for the etypes.
func writeKeytabFor(t *testing.T, principal, password string, kvno uint8, etypes ...int32) string {
	t.Helper()
	name, _, _ := strings.Cut(principal, "@")
	kt := keytab.New()
	for _, e := range etypes {
		if err := kt.AddEntry(name, realm, password, epoch, kvno, e); err != nil {
			t.Fatal(err)
		}
	}
	b, err := kt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "client.keytab")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A long-lived client (the exporter's) renews its tickets ahead of their
// end and asks again after a failure, while one within a ticket's life
// still costs the KDC nothing.
func TestFakeKDC_RenewsAheadAndRetriesFailures(t *testing.T) {
	clk := clock.NewFake(epoch)
	k := startKDC(t, func(cfg *fakekdc.Config) { cfg.Clock = clk })
	c := newClient(t, krbclient.Config{
		Krb5: krb5Conf(t, k), Clock: clk,
		RenewBefore: time.Hour, RetryAfter: time.Minute, KeepExchanges: 2,
	}, clientKeytab(t, k))
	ctx := context.Background()
	ticket := func() *krbclient.ServiceTicket {
		t.Helper()
		st, err := c.ServiceTicket(ctx, spn)
		if err != nil {
			t.Fatalf("ServiceTicket: %v", err)
		}
		return st
	}
	stats := func(wantAS, wantTGS int) {
		t.Helper()
		if as, tgs := c.Stats(); as != wantAS || tgs != wantTGS {
			t.Fatalf("AS %d, TGS %d; want %d, %d", as, tgs, wantAS, wantTGS)
		}
	}
	first := ticket()
	life := first.EndTime.Sub(first.StartTime)
	stats(1, 1)
	// Inside the ticket's life, before the renewal point: shared.
	clk.Set(first.EndTime.Add(-time.Hour - time.Minute))
	if ticket() != first {
		t.Fatal("a ticket an hour and a minute before its end was not reused")
	}
	stats(1, 1)
	// Within RenewBefore of the end: renewed, TGT included (same lifetime).
	clk.Set(first.EndTime.Add(-time.Hour + time.Minute))
	if renewed := ticket(); renewed == first || !renewed.EndTime.After(first.EndTime) {
		t.Fatalf("ticket not renewed ahead of its end (life %s)", life)
	}
	stats(2, 2)

	// A failure is remembered for RetryAfter, then asked again.
	missing := "SMTPSVC/nobody.lab.test"
	for range 3 {
		if _, err := c.ServiceTicket(ctx, missing); err == nil {
			t.Fatal("ticket for an unknown SPN")
		}
	}
	stats(2, 3)
	clk.Advance(time.Minute)
	if _, err := c.ServiceTicket(ctx, missing); err == nil {
		t.Fatal("ticket for an unknown SPN")
	}
	stats(2, 4)
	// The exchange log keeps between KeepExchanges and twice as many.
	if n := len(c.Exchanges()); n < 2 || n > 4 {
		t.Errorf("%d exchanges kept, want 2 to 4", n)
	}
}

// A name alone reads the KDC's clock: one AS-REQ without
// pre-authentication, refused with PREAUTH_REQUIRED and the KDC's time;
// no key is tried, and the name cannot log in.
func TestFakeKDC_SampleKDCClock(t *testing.T) {
	k := startKDC(t, func(c *fakekdc.Config) { c.Clock = clock.Offset{By: 7 * time.Minute} })
	c := newClient(t, krbclient.Config{Krb5: krb5Conf(t, k)}, krbclient.FromPrincipal(client))
	ex, err := c.SampleKDCClock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	off, ok := ex.ClockOffset()
	if !ok || off < 7*time.Minute-2*time.Second || off > 7*time.Minute+2*time.Second {
		t.Errorf("ClockOffset = %v, %v; want about 7m", off, ok)
	}
	var kerr *krbclient.KDCError
	if !errors.As(ex.Err, &kerr) || kerr.Code != krberror.KDC_ERR_PREAUTH_REQUIRED || ex.Preauth {
		t.Errorf("exchange %+v; want a refusal without pre-authentication", ex)
	}
	if got := c.Exchanges(); len(got) != 1 {
		t.Errorf("%d exchanges recorded, want 1", len(got))
	}
	if st := k.Stats(); st.ASRequests != 1 || st.Errors != 1 {
		t.Errorf("KDC stats %+v; want the one AS-REQ, refused", st)
	}
	if _, err := c.ServiceTicket(context.Background(), spn); err == nil {
		t.Error("a name alone logged in")
	}
}
