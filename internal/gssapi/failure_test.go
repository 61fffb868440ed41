package gssapi

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/clock"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

func TestServer_Failures(t *testing.T) {
	kt := serviceKeytab(t)
	otherAccount := newKeytab(t, ktEntry{testService, "hub03-secret", testKVNO, etypeID.AES256_CTS_HMAC_SHA1_96})
	newerKey := newKeytab(t, ktEntry{testService, "hub01-new-secret", testKVNO + 1, etypeID.AES256_CTS_HMAC_SHA1_96})
	aesOnly := newKeytab(t, ktEntry{testService, "hub01-secret", testKVNO, etypeID.AES256_CTS_HMAC_SHA1_96})
	hub02 := newKeytab(t, ktEntry{"SMTPSVC/hub02.lab.test", "hub02-secret", testKVNO, etypeID.AES256_CTS_HMAC_SHA1_96})
	other := newKeytab(t, ktEntry{"HTTP/web.lab.test", "web-secret", testKVNO, etypeID.AES256_CTS_HMAC_SHA1_96})

	tests := []struct {
		name     string
		ticket   ticketSpec
		acceptor *keytab.Keytab
		clock    time.Time // acceptor clock; client clock is t0
		cname    types.PrincipalName
		reason   Reason
		code     int32
		skew     time.Duration
	}{
		{name: "acceptor clock 7m ahead", ticket: ticketSpec{kt: kt}, clock: t0.Add(7 * time.Minute),
			reason: ReasonSkew, code: errorcode.KRB_AP_ERR_SKEW, skew: -7 * time.Minute},
		{name: "acceptor clock 10m behind", ticket: ticketSpec{kt: kt, start: t0.Add(-20 * time.Minute)}, clock: t0.Add(-10 * time.Minute),
			reason: ReasonSkew, code: errorcode.KRB_AP_ERR_SKEW, skew: 10 * time.Minute},
		{name: "just outside skew", ticket: ticketSpec{kt: kt}, clock: t0.Add(5*time.Minute + time.Microsecond),
			reason: ReasonSkew, code: errorcode.KRB_AP_ERR_SKEW, skew: -5*time.Minute - time.Microsecond},
		{name: "stale keytab: ticket kvno 4, keytab kvno 3", ticket: ticketSpec{kt: newerKey, kvno: testKVNO + 1}, acceptor: kt,
			reason: ReasonKeyVersion, code: errorcode.KRB_AP_ERR_BADKEYVER},
		// As on Windows, the keys of the keytab's account are tried for a
		// ticket to any of its SPNs: another account's key does not decrypt.
		{name: "keytab without the service", ticket: ticketSpec{kt: kt}, acceptor: other,
			reason: ReasonKeyMismatch, code: errorcode.KRB_AP_ERR_MODIFIED},
		{name: "rc4 ticket, aes-only keytab", ticket: ticketSpec{kt: kt, etype: etypeID.RC4_HMAC}, acceptor: aesOnly,
			reason: ReasonEncType, code: errorcode.KRB_AP_ERR_NOKEY},
		{name: "another account's key, same kvno", ticket: ticketSpec{kt: otherAccount}, acceptor: kt,
			reason: ReasonKeyMismatch, code: errorcode.KRB_AP_ERR_MODIFIED},
		{name: "ticket for another service", ticket: ticketSpec{kt: hub02, sname: "SMTPSVC/hub02.lab.test"}, acceptor: hub02,
			reason: ReasonWrongService, code: errorcode.KRB_AP_ERR_NOT_US},
		{name: "expired ticket", ticket: ticketSpec{kt: kt, start: t0.Add(-11 * time.Hour), end: t0.Add(-time.Hour)},
			reason: ReasonExpired, code: errorcode.KRB_AP_ERR_TKT_EXPIRED},
		{name: "ticket not yet valid", ticket: ticketSpec{kt: kt, start: t0.Add(30 * time.Minute)},
			reason: ReasonNotYetValid, code: errorcode.KRB_AP_ERR_TKT_NYV, skew: 30*time.Minute - 123456*time.Microsecond},
		{name: "authenticator names another client", ticket: ticketSpec{kt: kt},
			cname:  types.PrincipalName{NameType: nametype.KRB_NT_PRINCIPAL, NameString: []string{"EVIL$"}},
			reason: ReasonIntegrity, code: errorcode.KRB_AP_ERR_BADMATCH},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tkt, key := issue(t, tc.ticket)
			cname := clientName
			if tc.cname.NameString != nil {
				cname = tc.cname
			}
			c, err := NewClient(ClientConfig{Ticket: tkt, SessionKey: key, Client: cname, Realm: testRealm,
				Clock: clock.NewFake(t0), Mode: ModeExchange, Mutual: true})
			if err != nil {
				t.Fatal(err)
			}
			acceptor := tc.acceptor
			if acceptor == nil {
				acceptor = kt
			}
			clk := tc.clock
			if clk.IsZero() {
				clk = t0
			}
			s := newTestServer(t, acceptor, ModeExchange, clock.NewFake(clk), NewReplayCache())
			_, tok, err := c.Start()
			if err != nil {
				t.Fatal(err)
			}
			out, done, err := s.Next(tok)
			if err == nil {
				t.Fatalf("accepted (done %v, %d octets)", done, len(out))
			}
			ae := asAcceptError(t, fmt.Errorf("connector: %w", err))
			if ae.Reason != tc.reason || ae.Code != tc.code {
				t.Errorf("Reason %q code %d, want %q code %d (%v)", ae.Reason, ae.Code, tc.reason, tc.code, err)
			}
			if tc.skew != 0 && ae.Skew != tc.skew {
				t.Errorf("Skew = %v, want %v", ae.Skew, tc.skew)
			}
			if !ae.Temporary() {
				t.Errorf("Temporary() = false for %q", ae.Reason)
			}
			name := strings.Fields(errorcode.Lookup(tc.code))[1]
			if !strings.Contains(err.Error(), name) {
				t.Errorf("Error() %q does not name %s", err, name)
			}
			if s.Principal() != "" {
				t.Errorf("Principal() = %q after a failure", s.Principal())
			}
			if _, _, again := s.Next(tok); again != err {
				t.Errorf("Next after failure = %v, want the same error", again)
			}
		})
	}
}

func TestServer_Replay(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	c := newTestClient(t, tkt, key, ModeExchange, true, false, clock.NewFake(t0))
	_, tok, _ := c.Start()
	rc := NewReplayCache()
	serverClock := clock.NewFake(t0)
	if _, _, err := newTestServer(t, kt, ModeExchange, serverClock, rc).Next(tok); err != nil {
		t.Fatalf("first presentation: %v", err)
	}
	_, _, err := newTestServer(t, kt, ModeExchange, serverClock, rc).Next(tok)
	if ae := asAcceptError(t, err); ae.Reason != ReasonReplay || ae.Code != errorcode.KRB_AP_ERR_REPEAT {
		t.Fatalf("second presentation: %v", err)
	}
	// Without a cache (or with another one) the same token passes.
	if _, _, err := newTestServer(t, kt, ModeExchange, serverClock, nil).Next(tok); err != nil {
		t.Fatalf("no replay cache: %v", err)
	}
	// Once the authenticator is older than the skew, the entry is dropped
	// (the token would now fail as skewed anyway).
	serverClock.Advance(6 * time.Minute)
	_, _, err = newTestServer(t, kt, ModeExchange, serverClock, rc).Next(tok)
	if ae := asAcceptError(t, err); ae.Reason != ReasonSkew {
		t.Fatalf("late replay: %v", err)
	}
	c2 := newTestClient(t, tkt, key, ModeExchange, true, false, serverClock)
	_, tok2, _ := c2.Start()
	if _, _, err := newTestServer(t, kt, ModeExchange, serverClock, rc).Next(tok2); err != nil {
		t.Fatal(err)
	}
	if n := rc.Len(); n != 1 {
		t.Errorf("replay cache holds %d entries, want 1 after expiry", n)
	}
}

func TestServer_MalformedTokens(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	c := newTestClient(t, tkt, key, ModeExchange, true, true, clock.NewFake(t0))
	_, good, _ := c.Start()
	_, inner, _ := unframeGSS(frameKRB5(tokIDAPReq, []byte{1}))

	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0xff
	krbErr := messages.NewKRBError(spnName(testService), testRealm, errorcode.KRB_AP_ERR_SKEW, "x")
	krbErrBytes, err := krbErr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	shortTicket := shortCiphertexts(t, good, true)
	shortAuth := shortCiphertexts(t, good, false)
	tokens := map[string][]byte{
		"short ticket ciphertext":        shortTicket,
		"short authenticator ciphertext": shortAuth,
		"garbage":                        []byte("EHLO hub02.lab.test\r\n"),
		"truncated SPNEGO":               good[:len(good)/2],
		"one byte":                       {0x60},
		"huge":                           bytes.Repeat([]byte{0x60}, MaxTokenSize+1),
		"krb5 OID, TOK_ID 02":            frameKRB5(tokIDAPRep, []byte{0x6f, 0}),
		"krb5 OID, no TOK_ID":            append([]byte{0x60, byte(len(inner) - 1)}, inner[:len(inner)-1]...),
		"KRB-ERROR":                      krbErrBytes,
		"unknown mech":                   append([]byte{0x60, 0x08, 0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x03}, 0),
		"flipped byte":                   flipped,
		"SPNEGO without token":           mustSPNEGOInitNoToken(t),
	}
	for name, tok := range tokens {
		for _, mode := range []Mode{ModeSASL, ModeExchange} {
			t.Run(name+"/"+mode.String(), func(t *testing.T) {
				s := newTestServer(t, kt, mode, clock.NewFake(t0), nil)
				_, _, err := s.Next(tok)
				if err == nil {
					t.Fatal("accepted")
				}
				ae := asAcceptError(t, err)
				if name == "flipped byte" {
					// A flipped byte lands in the ciphertext or the ASN.1.
					if ae.Reason != ReasonMalformed && ae.Reason != ReasonKeyMismatch && ae.Reason != ReasonIntegrity {
						t.Errorf("Reason %q: %v", ae.Reason, err)
					}
					return
				}
				if ae.Reason != ReasonMalformed {
					t.Errorf("Reason %q, want malformed: %v", ae.Reason, err)
				}
			})
		}
	}
}

// shortCiphertexts rebuilds the AP-REQ in tok with a ciphertext too short
// for a confounder and checksum: gokrb5 would slice out of range on it.
func shortCiphertexts(t testing.TB, tok []byte, inTicket bool) []byte {
	t.Helper()
	ct, err := parseClientToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	ap := ct.apReq
	if inTicket {
		ap.Ticket.EncPart.Cipher = []byte{1, 2, 3}
	} else {
		ap.EncryptedAuthenticator.Cipher = []byte{1, 2, 3}
	}
	b, err := ap.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return frameKRB5(tokIDAPReq, b)
}

func mustSPNEGOInitNoToken(t testing.TB) []byte {
	t.Helper()
	tok := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes: []asn1.ObjectIdentifier{krbgss.OIDKRB5.OID()},
	}}
	b, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServer_SecurityLayerProtocol: ModeSASL's steps after the context.
func TestServer_SecurityLayerProtocol(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	start := func(t *testing.T) (*Client, *Server, []byte) {
		c := newTestClient(t, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
		s := newTestServer(t, kt, ModeSASL, clock.NewFake(t0), nil)
		_, tok, _ := c.Start()
		rep, done, err := s.Next(tok)
		if err != nil || done {
			t.Fatalf("AP-REQ: done %v err %v", done, err)
		}
		if _, ok := s.Accepted(); !ok {
			t.Fatal("Accepted() not ok after the AP-REQ")
		}
		if s.Principal() != "" {
			t.Fatal("Principal() set before the security layer completed")
		}
		return c, s, rep
	}
	wantProtocol := func(t *testing.T, err error) {
		t.Helper()
		ae := asAcceptError(t, err)
		if ae.Reason != ReasonProtocol || ae.Temporary() {
			t.Errorf("Reason %q Temporary %v: %v", ae.Reason, ae.Temporary(), err)
		}
	}
	t.Run("non-empty response after AP-REP", func(t *testing.T) {
		_, s, _ := start(t)
		_, _, err := s.Next([]byte{1, 2, 3})
		wantProtocol(t, err)
	})
	t.Run("garbage choice", func(t *testing.T) {
		_, s, _ := start(t)
		if _, _, err := s.Next([]byte{}); err != nil {
			t.Fatal(err)
		}
		_, _, err := s.Next([]byte("garbage garbage garbage"))
		wantProtocol(t, err)
	})
	for _, tc := range []struct {
		name    string
		payload []byte
	}{
		{"integrity layer chosen", []byte{layerIntegrity, 0, 0x10, 0}},
		{"short choice", []byte{layerNone, 0}},
		{"authzid not UTF-8", []byte{layerNone, 0, 0, 0, 0xff, 0xfe}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, s, rep := start(t)
			if _, err := c.Next(rep); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Next([]byte{}); err != nil {
				t.Fatal(err)
			}
			tok, err := wrap(tc.payload, c.key, false, 0)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = s.Next(tok)
			wantProtocol(t, err)
		})
	}
	t.Run("response after done", func(t *testing.T) {
		c, s, rep := start(t)
		resp, err := c.Next(rep)
		for err == nil {
			var ch []byte
			var done bool
			ch, done, err = s.Next(resp)
			if err != nil {
				t.Fatal(err)
			}
			if done {
				break
			}
			resp, err = c.Next(ch)
		}
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = s.Next([]byte{})
		wantProtocol(t, err)
	})
}

// TestClient_BadServerData: forged, garbled, or hostile data from the
// server fails with an *InitError, never a panic, and Mutual stays false.
func TestClient_BadServerData(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	_, otherKey := issue(t, ticketSpec{kt: kt})

	// A genuine AP-REP for the client under test, and forgeries.
	type fixture struct {
		c   *Client
		rep []byte // raw AP-REP from a real acceptor
	}
	setup := func(t *testing.T) fixture {
		c := newTestClient(t, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
		s := newTestServer(t, kt, ModeSASL, clock.NewFake(t0), nil)
		_, tok, _ := c.Start()
		framed, _, err := s.Next(tok)
		if err != nil {
			t.Fatal(err)
		}
		return fixture{c: c, rep: rawAPRep(t, framed)}
	}
	forge := func(t *testing.T, k types.EncryptionKey, ctime time.Time, cusec int) []byte {
		part, err := marshalEncAPRepPart(messages.EncAPRepPart{CTime: ctime, Cusec: cusec})
		if err != nil {
			t.Fatal(err)
		}
		ed, err := crypto.GetEncryptedData(part, k, keyusage.AP_REP_ENCPART, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := marshalAPRep(messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	krbError := func(t *testing.T) []byte {
		ke := messages.NewKRBError(spnName(testService), testRealm, errorcode.KRB_AP_ERR_SKEW, "clock skew too great")
		b, err := ke.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name   string
		data   func(t *testing.T, f fixture) []byte
		reason Reason
		code   int32
	}{
		{"AP-REP under another key", func(t *testing.T, f fixture) []byte {
			return forge(t, otherKey, f.c.auth.CTime, f.c.auth.Cusec)
		}, ReasonMutualFailed, errorcode.KRB_AP_ERR_MUT_FAIL},
		{"AP-REP echoing another time", func(t *testing.T, f fixture) []byte {
			return forge(t, key, f.c.auth.CTime.Add(-time.Second), f.c.auth.Cusec)
		}, ReasonMutualFailed, errorcode.KRB_AP_ERR_MUT_FAIL},
		{"AP-REP with a flipped ciphertext byte", func(t *testing.T, f fixture) []byte {
			b := bytes.Clone(f.rep)
			b[len(b)-3] ^= 0x01
			return b
		}, ReasonMutualFailed, errorcode.KRB_AP_ERR_MUT_FAIL},
		{"AP-REP with a 3-octet ciphertext", func(t *testing.T, f fixture) []byte {
			var rep messages.APRep
			if err := rep.Unmarshal(f.rep); err != nil {
				t.Fatal(err)
			}
			rep.EncPart.Cipher = []byte{1, 2, 3}
			b, err := marshalAPRep(rep)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, ReasonMalformed, 0},
		{"truncated AP-REP", func(t *testing.T, f fixture) []byte { return f.rep[:len(f.rep)-10] }, ReasonMalformed, 0},
		{"truncated RFC 1964 AP-REP", func(t *testing.T, f fixture) []byte {
			return frameKRB5(tokIDAPRep, f.rep)[:20]
		}, ReasonMalformed, 0},
		{"garbage", func(t *testing.T, f fixture) []byte { return []byte("250 OK") }, ReasonMalformed, 0},
		{"huge", func(t *testing.T, f fixture) []byte { return bytes.Repeat([]byte{0x6f}, MaxTokenSize+1) }, ReasonMalformed, 0},
		{"raw KRB-ERROR", func(t *testing.T, f fixture) []byte { return krbError(t) }, ReasonPeerError, errorcode.KRB_AP_ERR_SKEW},
		{"RFC 1964 KRB-ERROR", func(t *testing.T, f fixture) []byte {
			return frameKRB5(tokIDKRBError, krbError(t))
		}, ReasonPeerError, errorcode.KRB_AP_ERR_SKEW},
		{"SPNEGO reject", func(t *testing.T, f fixture) []byte { return mustSPNEGOReject(t) }, ReasonPeerError, 0},
		{"legacy RFC 1964 wrap token", func(t *testing.T, f fixture) []byte {
			return append([]byte{0x02, 0x01, 0x11, 0x00, 0x10, 0x00, 0xff, 0xff}, make([]byte, 32)...)
		}, ReasonUnsupported, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t)
			_, err := f.c.Next(tc.data(t, f))
			if err == nil {
				t.Fatal("accepted")
			}
			ie := asInitError(t, err)
			if ie.Reason != tc.reason || ie.Code != tc.code {
				t.Errorf("Reason %q code %d, want %q code %d: %v", ie.Reason, ie.Code, tc.reason, tc.code, err)
			}
			if tc.reason == ReasonPeerError && tc.code != 0 {
				var ke messages.KRBError
				if !errors.As(err, &ke) || ke.ErrorCode != tc.code {
					t.Errorf("errors.As KRBError: %v", err)
				}
			}
			if f.c.Mutual() {
				t.Error("Mutual() = true")
			}
			if _, again := f.c.Next(f.rep); again != err {
				t.Errorf("Next after failure = %v, want the same error", again)
			}
		})
	}
}

// TestClient_BadSecurityLayerOffer: the wrapped offer after a good AP-REP.
func TestClient_BadSecurityLayerOffer(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	tests := []struct {
		name   string
		offer  func(k wrapKey) []byte
		reason Reason
	}{
		{"integrity required", func(k wrapKey) []byte { b, _ := wrap([]byte{layerIntegrity, 0, 0x10, 0}, k, true, 0); return b }, ReasonUnsupported},
		{"five octets", func(k wrapKey) []byte { b, _ := wrap([]byte{layerNone, 0, 0, 0, 0}, k, true, 0); return b }, ReasonProtocol},
		{"initiator's token reflected", func(k wrapKey) []byte { b, _ := wrap([]byte{layerNone, 0, 0, 0}, k, false, 0); return b }, ReasonMalformed},
		{"wrong key", func(k wrapKey) []byte {
			b, _ := wrap([]byte{layerNone, 0, 0, 0}, wrapKey{key: key, acceptorSubkey: true}, true, 0)
			return b
		}, ReasonMalformed},
		{"sealed", func(k wrapKey) []byte {
			b, _ := wrap([]byte{layerNone, 0, 0, 0}, k, true, 0)
			b[2] |= wrapFlagSealed
			return b
		}, ReasonUnsupported},
		{"short", func(k wrapKey) []byte { return []byte{0x05, 0x04, 0x01} }, ReasonMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
			s := newTestServer(t, kt, ModeSASL, clock.NewFake(t0), nil)
			_, tok, _ := c.Start()
			rep, _, err := s.Next(tok)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Next(rep); err != nil {
				t.Fatal(err)
			}
			_, err = c.Next(tc.offer(s.key))
			ie := asInitError(t, err)
			if ie.Reason != tc.reason {
				t.Errorf("Reason %q, want %q: %v", ie.Reason, tc.reason, err)
			}
			if !c.Mutual() {
				t.Error("Mutual() should stay true: the AP-REP was good")
			}
		})
	}
}

func mustSPNEGOReject(t testing.TB) []byte {
	t.Helper()
	tok := spnego.SPNEGOToken{Resp: true, NegTokenResp: spnego.NegTokenResp{
		NegState: asn1.Enumerated(spnego.NegStateReject),
	}}
	b, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestServer_SameMicrosecondIsNotReplay: two sessions of one client whose
// authenticators carry the same time (a busy sender, a fake clock) are two
// authentications, not a replay; the cache keys on the ciphertext.
func TestServer_SameMicrosecondIsNotReplay(t *testing.T) {
	kt := serviceKeytab(t)
	tkt, key := issue(t, ticketSpec{kt: kt})
	rc := NewReplayCache()
	for i := range 3 {
		c := newTestClient(t, tkt, key, ModeExchange, true, false, clock.NewFake(t0))
		_, tok, _ := c.Start()
		if _, _, err := newTestServer(t, kt, ModeExchange, clock.NewFake(t0), rc).Next(tok); err != nil {
			t.Fatalf("session %d with the same authenticator time: %v", i, err)
		}
	}
	if n := rc.Len(); n != 3 {
		t.Errorf("replay cache holds %d entries, want 3", n)
	}
}
