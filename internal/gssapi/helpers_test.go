package gssapi

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testRealm   = "LAB.TEST"
	testService = "SMTPSVC/hub01.lab.test"
	testClient  = "HUB02$"
	testKVNO    = 3
)

// t0 has whole microseconds so that skews come out exact.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 123456000, time.UTC)

var clientName = types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: []string{testClient}}

func spnName(spn string) types.PrincipalName {
	pn, _ := types.ParseSPNString(spn)
	pn.NameType = nametype.KRB_NT_SRV_INST
	return pn
}

type ktEntry struct {
	principal string
	password  string
	kvno      uint8
	etype     int32
}

func newKeytab(t testing.TB, entries ...ktEntry) *keytab.Keytab {
	t.Helper()
	kt := keytab.New()
	for _, e := range entries {
		if err := kt.AddEntry(e.principal, testRealm, e.password, t0.Add(-24*time.Hour), e.kvno, e.etype); err != nil {
			t.Fatalf("AddEntry(%+v): %v", e, err)
		}
	}
	return kt
}

// serviceKeytab holds SMTPSVC/hub01.lab.test, kvno 3, in the three etypes.
func serviceKeytab(t testing.TB) *keytab.Keytab {
	return newKeytab(t,
		ktEntry{testService, "hub01-secret", testKVNO, etypeID.AES256_CTS_HMAC_SHA1_96},
		ktEntry{testService, "hub01-secret", testKVNO, etypeID.AES128_CTS_HMAC_SHA1_96},
		ktEntry{testService, "hub01-secret", testKVNO, etypeID.RC4_HMAC},
	)
}

type ticketSpec struct {
	kt      *keytab.Keytab // encrypts the ticket; its entry must exist
	sname   string
	etype   int32
	kvno    int
	start   time.Time
	end     time.Time
	crealm  string
	cname   types.PrincipalName
	noStart bool
}

// issue plays the KDC: a service ticket for HUB02$@LAB.TEST made with
// messages.NewTicket, valid from t0-1m to t0+10h unless told otherwise.
func issue(t testing.TB, s ticketSpec) (messages.Ticket, types.EncryptionKey) {
	t.Helper()
	if s.sname == "" {
		s.sname = testService
	}
	if s.etype == 0 {
		s.etype = etypeID.AES256_CTS_HMAC_SHA1_96
	}
	if s.kvno == 0 {
		s.kvno = testKVNO
	}
	if s.start.IsZero() {
		s.start = t0.Add(-time.Minute)
	}
	if s.end.IsZero() {
		s.end = t0.Add(10 * time.Hour)
	}
	if s.cname.NameString == nil {
		s.cname = clientName
	}
	if s.crealm == "" {
		s.crealm = testRealm
	}
	start := s.start
	if s.noStart {
		start = time.Time{}
	}
	tkt, key, err := messages.NewTicket(s.cname, s.crealm, spnName(s.sname), testRealm, types.NewKrbFlags(), s.kt, s.etype, s.kvno,
		s.start.Truncate(time.Second), start.Truncate(time.Second), s.end.Truncate(time.Second), s.end.Truncate(time.Second))
	if err != nil {
		t.Fatalf("NewTicket: %v", err)
	}
	return tkt, key
}

func newTestClient(t testing.TB, tkt messages.Ticket, key types.EncryptionKey, mode Mode, mutual, spnego bool, clk clock.Clock) *Client {
	t.Helper()
	c, err := NewClient(ClientConfig{
		Ticket: tkt, SessionKey: key, Client: clientName, Realm: testRealm,
		Clock: clk, Mode: mode, Mutual: mutual, SPNEGO: spnego,
	})
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

func newTestServer(t testing.TB, kt *keytab.Keytab, mode Mode, clk clock.Clock, rc *ReplayCache) *Server {
	t.Helper()
	s, err := NewServer(ServerConfig{Keytab: kt, Service: testService, Clock: clk, Mode: mode, Replay: rc})
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	return s
}

// converse drives a client and a server the way an SMTP dialogue does.
// With waitForChallenge the client sends no initial response (X-EXPS
// style): the server's empty challenge asks for the token. It returns the
// first error and which side produced it.
func converse(c *Client, s *Server, waitForChallenge bool) (clientErr, serverErr error) {
	_, ir, err := c.Start()
	if err != nil {
		return err, nil
	}
	resp := ir
	if waitForChallenge {
		ch, done, err := s.Next(nil)
		if err != nil {
			return nil, err
		}
		if done || len(ch) != 0 {
			return nil, fmt.Errorf("server's first challenge: done %v, %d octets", done, len(ch))
		}
		if c.cfg.Mode == ModeSASL {
			if resp, err = c.Next(ch); err != nil {
				return err, nil
			}
		}
	}
	for range 10 {
		ch, done, err := s.Next(resp)
		if err != nil {
			return nil, err
		}
		if done {
			// "235 2.7.0 <AP-REP>", or a bare 235 (X-EXPS without
			// mutual authentication): the probe hands the data to Next.
			if !c.Done() {
				if _, err := c.Next(ch); err != nil {
					return err, nil
				}
			}
			return nil, nil
		}
		resp, err = c.Next(ch)
		if err != nil {
			return err, nil
		}
	}
	return errors.New("no end after 10 steps"), nil
}

func asAcceptError(t testing.TB, err error) *AcceptError {
	t.Helper()
	var ae *AcceptError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *AcceptError", err, err)
	}
	return ae
}

func asInitError(t testing.TB, err error) *InitError {
	t.Helper()
	var ie *InitError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not an *InitError", err, err)
	}
	return ie
}
