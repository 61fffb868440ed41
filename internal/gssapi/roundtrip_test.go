package gssapi

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

func TestRoundTrip(t *testing.T) {
	kt := serviceKeytab(t)
	etypes := []struct {
		name string
		id   int32
	}{
		{"aes256", etypeID.AES256_CTS_HMAC_SHA1_96},
		{"aes128", etypeID.AES128_CTS_HMAC_SHA1_96},
		{"rc4", etypeID.RC4_HMAC},
	}
	for _, et := range etypes {
		tkt, key := issue(t, ticketSpec{kt: kt, etype: et.id})
		for _, mode := range []Mode{ModeSASL, ModeExchange} {
			for _, spnego := range []bool{false, true} {
				for _, mutual := range []bool{true, false} {
					for _, wait := range []bool{false, true} {
						name := fmt.Sprintf("%s/%v/spnego=%v/mutual=%v/waitForChallenge=%v", et.name, mode, spnego, mutual, wait)
						t.Run(name, func(t *testing.T) {
							// The acceptor runs 4 minutes ahead: inside the 5-minute skew.
							c := newTestClient(t, tkt, key, mode, mutual, spnego, clock.NewFake(t0))
							s := newTestServer(t, kt, mode, clock.NewFake(t0.Add(4*time.Minute)), NewReplayCache())
							cerr, serr := converse(c, s, wait)
							if cerr != nil || serr != nil {
								t.Fatalf("client error %v, server error %v", cerr, serr)
							}
							if got := s.Principal(); got != "HUB02$@LAB.TEST" {
								t.Errorf("Principal() = %q", got)
							}
							if c.Mutual() != mutual {
								t.Errorf("client Mutual() = %v, want %v", c.Mutual(), mutual)
							}
							if !c.Done() || !s.Done() {
								t.Errorf("Done: client %v, server %v", c.Done(), s.Done())
							}
							a, ok := s.Accepted()
							if !ok {
								t.Fatal("Accepted() not ok")
							}
							wantFraming := FramingKRB5
							if spnego {
								wantFraming = FramingSPNEGO
							}
							if a.EType != et.id || a.KVNO != testKVNO || a.Mutual != mutual || a.Framing != wantFraming {
								t.Errorf("Accepted = %+v", a)
							}
							if len(a.SessionKey) == 0 || !bytes.Equal(a.SessionKey, c.SessionKey()) || bytes.Equal(a.SessionKey, key.KeyValue) {
								t.Errorf("session keys: acceptor %x, initiator %x; want the same authenticator subkey, not the ticket's key", a.SessionKey, c.SessionKey())
							}
							if a.Skew != -4*time.Minute {
								t.Errorf("Accepted.Skew = %v, want -4m", a.Skew)
							}
							if a.Service != "SMTPSVC/hub01.lab.test@LAB.TEST" {
								t.Errorf("Accepted.Service = %q", a.Service)
							}
							if mutual && c.ServerFraming() != wantFraming {
								t.Errorf("client saw server framing %v, want %v", c.ServerFraming(), wantFraming)
							}
						})
					}
				}
			}
		}
	}
}

func TestRoundTrip_AuthzIDAndCaseInsensitiveService(t *testing.T) {
	// A client that spelled the SPN in other case gets a ticket whose
	// sname differs in case from the acceptor's configuration and keytab.
	kt := serviceKeytab(t)
	// The sname is outside the ticket's encrypted part: rename it.
	tkt, key := issue(t, ticketSpec{kt: kt})
	tkt.SName = spnName("smtpsvc/HUB01.LAB.TEST")
	c, err := NewClient(ClientConfig{Ticket: tkt, SessionKey: key, Client: clientName, Realm: testRealm,
		Clock: clock.NewFake(t0), Mode: ModeSASL, Mutual: true, AuthzID: "postmaster"})
	if err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, kt, ModeSASL, clock.NewFake(t0), nil)
	if cerr, serr := converse(c, s, false); cerr != nil || serr != nil {
		t.Fatalf("client error %v, server error %v", cerr, serr)
	}
	a, _ := s.Accepted()
	if a.AuthzID != "postmaster" {
		t.Errorf("AuthzID = %q", a.AuthzID)
	}
}

// TestServer_RawAPReq: a bare AP-REQ (no GSS framing) gets a bare AP-REP,
// which the client accepts.
func TestServer_RawAPReq(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	for _, mode := range []Mode{ModeSASL, ModeExchange} {
		t.Run(mode.String(), func(t *testing.T) {
			c := newTestClient(t, tkt, key, mode, true, false, clock.NewFake(t0))
			_, tok, err := c.Start()
			if err != nil {
				t.Fatal(err)
			}
			_, inner, err := unframeGSS(tok)
			if err != nil {
				t.Fatal(err)
			}
			raw := inner[2:]
			if raw[0] != tagAPReq {
				t.Fatalf("inner token starts 0x%02x", raw[0])
			}
			s := newTestServer(t, kt, mode, clock.NewFake(t0), nil)
			rep, _, err := s.Next(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep) == 0 || rep[0] != tagAPRep {
				t.Fatalf("answer to a raw AP-REQ starts %x, want a raw AP-REP", rep[:min(len(rep), 4)])
			}
			if _, err := c.Next(rep); err != nil {
				t.Fatal(err)
			}
			if !c.Mutual() || c.ServerFraming() != FramingRaw {
				t.Errorf("Mutual %v, ServerFraming %v", c.Mutual(), c.ServerFraming())
			}
			if a, _ := s.Accepted(); a.Framing != FramingRaw {
				t.Errorf("Accepted.Framing = %v", a.Framing)
			}
		})
	}
}

// TestClient_AcceptsAnyAPRepFraming: the AP-REP reaches the client raw,
// RFC 1964-framed, or in an SPNEGO NegTokenResp around either.
func TestClient_AcceptsAnyAPRepFraming(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	rewrap := map[string]func(raw []byte) []byte{
		"raw":         func(raw []byte) []byte { return raw },
		"krb5":        func(raw []byte) []byte { return frameKRB5(tokIDAPRep, raw) },
		"spnego-krb5": func(raw []byte) []byte { return spnegoResp(t, frameKRB5(tokIDAPRep, raw)) },
		"spnego-raw":  func(raw []byte) []byte { return spnegoResp(t, raw) },
	}
	for name, f := range rewrap {
		t.Run(name, func(t *testing.T) {
			c := newTestClient(t, tkt, key, ModeExchange, true, false, clock.NewFake(t0))
			s := newTestServer(t, kt, ModeExchange, clock.NewFake(t0), nil)
			_, tok, _ := c.Start()
			rep, done, err := s.Next(tok)
			if err != nil || !done {
				t.Fatalf("server: done %v, err %v", done, err)
			}
			raw := rawAPRep(t, rep)
			resp, err := c.Next(f(raw))
			if err != nil {
				t.Fatal(err)
			}
			if resp != nil || !c.Mutual() || !c.Done() {
				t.Errorf("resp %v, Mutual %v, Done %v", resp, c.Mutual(), c.Done())
			}
		})
	}
}

func rawAPRep(t testing.TB, framed []byte) []byte {
	t.Helper()
	_, inner, err := unframeGSS(framed)
	if err != nil {
		t.Fatal(err)
	}
	if string(inner[:2]) != tokIDAPRep {
		t.Fatalf("TOK_ID %x", inner[:2])
	}
	return inner[2:]
}

func spnegoResp(t testing.TB, inner []byte) []byte {
	t.Helper()
	out, err := spnegoAccept(inner, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestClient_EmptyChallenge: in ModeSASL a server's empty first challenge
// asks for the token; in ModeExchange an empty answer to the token (a bare
// "235") completes the exchange without mutual authentication.
func TestClient_EmptyChallenge(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	t.Run("sasl", func(t *testing.T) {
		c := newTestClient(t, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
		_, tok, err := c.Start()
		if err != nil {
			t.Fatal(err)
		}
		again, err := c.Next([]byte{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tok, again) {
			t.Error("Next(empty) before any server token did not return the initial token")
		}
	})
	t.Run("exchange", func(t *testing.T) {
		c := newTestClient(t, tkt, key, ModeExchange, true, false, clock.NewFake(t0))
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		resp, err := c.Next(nil)
		if err != nil || resp != nil {
			t.Fatalf("Next(nil) = %v, %v", resp, err)
		}
		if !c.Done() || c.Mutual() {
			t.Errorf("Done %v, Mutual %v; want done without mutual authentication", c.Done(), c.Mutual())
		}
	})
}

// TestUnwrap_RotatedToken: Windows rotates wrap tokens (RRC, RFC 4121
// section 4.2.5); unwrap undoes it.
func TestUnwrap_RotatedToken(t *testing.T) {
	kt := serviceKeytab(t)
	_, key := issue(t, ticketSpec{kt: kt})
	k := wrapKey{key: key}
	tok, err := wrap([]byte{1, 0, 0, 0, 'x'}, k, true, 7)
	if err != nil {
		t.Fatal(err)
	}
	const rrc = 5
	body := tok[16:]
	rot := append(append(append([]byte{}, tok[:16]...), body[len(body)-rrc:]...), body[:len(body)-rrc]...)
	rot[6], rot[7] = 0, rrc
	p, err := unwrap(rot, k, true)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p, []byte{1, 0, 0, 0, 'x'}) {
		t.Errorf("payload %x", p)
	}
}

// A keytab that names the account only, as ktpass and samba-tool export it,
// accepts a ticket for any SPN of that account: Windows finds keys by
// account, kvno and etype.
func TestServer_AccountOnlyKeytab(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	account := *kt
	account.Entries = nil
	for _, e := range kt.Entries {
		e.Principal.Components = []string{"HUB01$"}
		e.Principal.NumComponents = 1
		account.Entries = append(account.Entries, e)
	}
	c := newTestClient(t, tkt, key, ModeExchange, true, false, clock.NewFake(t0))
	s := newTestServer(t, &account, ModeExchange, clock.NewFake(t0), NewReplayCache())
	if cerr, serr := converse(c, s, false); cerr != nil || serr != nil {
		t.Fatalf("client error %v, server error %v", cerr, serr)
	}
}
