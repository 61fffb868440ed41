package gssapi

import (
	"errors"
	"testing"

	"github.com/exauth/exauth/internal/clock"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// FuzzServerToken feeds arbitrary bytes to a fresh acceptor, in both
// modes, as the first response and then again as every later one. It must
// never panic, and every failure must be an *AcceptError.
func FuzzServerToken(f *testing.F) {
	kt := serviceKeytab(f)
	for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.RC4_HMAC} {
		tkt, key := issue(f, ticketSpec{kt: kt, etype: et})
		for _, spnego := range []bool{false, true} {
			c := newTestClient(f, tkt, key, ModeSASL, true, spnego, clock.NewFake(t0))
			_, tok, err := c.Start()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(tok)
			if !spnego {
				_, inner, _ := unframeGSS(tok)
				f.Add(inner[2:]) // raw AP-REQ
			}
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x60, 0x80})
	f.Add([]byte{0xa1, 0x03, 0x30, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, mode := range []Mode{ModeSASL, ModeExchange} {
			s, err := NewServer(ServerConfig{Keytab: kt, Service: testService, Clock: clock.NewFake(t0), Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				_, done, err := s.Next(data)
				if err != nil {
					var ae *AcceptError
					if !errors.As(err, &ae) {
						t.Fatalf("error %v (%T) is not an *AcceptError", err, err)
					}
					_ = ae.Error()
					break
				}
				if done {
					break
				}
			}
		}
	})
}

// FuzzClientToken feeds arbitrary bytes to a started initiator as the
// server's context token and then as the security-layer offer. It must
// never panic, and every failure must be an *InitError.
func FuzzClientToken(f *testing.F) {
	kt := serviceKeytab(f)
	tkt, key := issue(f, ticketSpec{kt: kt})
	// Genuine server data for a client on the same clock and ticket: the
	// AP-REP only echoes the authenticator's time, so it verifies for
	// every fresh client below.
	for _, spnego := range []bool{false, true} {
		c := newTestClient(f, tkt, key, ModeSASL, true, spnego, clock.NewFake(t0))
		s := newTestServer(f, kt, ModeSASL, clock.NewFake(t0), nil)
		_, tok, _ := c.Start()
		rep, _, err := s.Next(tok)
		if err != nil {
			f.Fatal(err)
		}
		offer, _, err := s.Next([]byte{})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rep, offer)
		if !spnego {
			f.Add(rawAPRep(f, rep), offer)
		}
	}
	f.Add([]byte{}, []byte{0x05, 0x04, 0x01, 0xff, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x7e, 0x00}, []byte{0x02, 0x01})
	f.Fuzz(func(t *testing.T, rep, offer []byte) {
		for _, mode := range []Mode{ModeSASL, ModeExchange} {
			c := newTestClient(t, tkt, key, mode, true, false, clock.NewFake(t0))
			if _, _, err := c.Start(); err != nil {
				t.Fatal(err)
			}
			for _, data := range [][]byte{rep, offer, rep} {
				if _, err := c.Next(data); err != nil {
					var ie *InitError
					if !errors.As(err, &ie) {
						t.Fatalf("error %v (%T) is not an *InitError", err, err)
					}
					_ = ie.Error()
					break
				}
			}
		}
	})
}

// FuzzServerDecrypted reaches what FuzzServerToken rarely does: the
// plaintexts behind the ciphertexts. It encrypts arbitrary bytes as the
// ticket's EncTicketPart (with the service key) and as the authenticator
// (with the session key), so that hostile or buggy content from a KDC or
// a client holding the keys (odd key types and lengths, short checksums,
// bad times) is exercised. An empty argument keeps the genuine part.
func FuzzServerDecrypted(f *testing.F) {
	kt := serviceKeytab(f)
	tkt, key := issue(f, ticketSpec{kt: kt})
	c := newTestClient(f, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
	_, tok, err := c.Start()
	if err != nil {
		f.Fatal(err)
	}
	ct, err := parseClientToken(tok)
	if err != nil {
		f.Fatal(err)
	}
	serviceKey, _, err := kt.GetEncryptionKey(tkt.SName, testRealm, testKVNO, tkt.EncPart.EType)
	if err != nil {
		f.Fatal(err)
	}
	genuineTicket := ct.apReq.Ticket
	if err := genuineTicket.Decrypt(serviceKey); err != nil {
		f.Fatal(err)
	}
	encTicket, err := asn1.Marshal(genuineTicket.DecryptedEncPart)
	if err != nil {
		f.Fatal(err)
	}
	encTicket = asn1tools.AddASNAppTag(encTicket, asnAppTag.EncTicketPart)
	authBytes, err := c.auth.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(encTicket, authBytes)
	f.Add([]byte{}, authBytes)
	f.Add(encTicket, []byte{})
	f.Add([]byte{0x63, 0x00}, []byte{0x62, 0x00})
	f.Fuzz(func(t *testing.T, ticketPlain, authPlain []byte) {
		ap := ct.apReq
		if len(ticketPlain) > 0 {
			ed, err := crypto.GetEncryptedData(ticketPlain, serviceKey, keyusage.KDC_REP_TICKET, testKVNO)
			if err != nil {
				t.Fatal(err)
			}
			ap.Ticket.EncPart = ed
		}
		if len(authPlain) > 0 {
			ed, err := crypto.GetEncryptedData(authPlain, key, keyusage.AP_REQ_AUTHENTICATOR, 0)
			if err != nil {
				t.Fatal(err)
			}
			ap.EncryptedAuthenticator = ed
		}
		b, err := ap.Marshal()
		if err != nil {
			t.Skip()
		}
		for _, mode := range []Mode{ModeSASL, ModeExchange} {
			s := newTestServer(t, kt, mode, clock.NewFake(t0), nil)
			resp := frameKRB5(tokIDAPReq, b)
			for range 3 {
				_, done, err := s.Next(resp)
				if err != nil {
					var ae *AcceptError
					if !errors.As(err, &ae) {
						t.Fatalf("error %v (%T) is not an *AcceptError", err, err)
					}
					break
				}
				if done {
					break
				}
				resp = []byte{}
			}
		}
	})
}

// FuzzClientDecrypted encrypts arbitrary bytes as the AP-REP's
// EncAPRepPart with the session key (odd subkeys, times, sequence
// numbers) and continues with a security-layer offer wrapped with
// whatever subkey the client adopted.
func FuzzClientDecrypted(f *testing.F) {
	kt := serviceKeytab(f)
	tkt, key := issue(f, ticketSpec{kt: kt})
	c := newTestClient(f, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
	s := newTestServer(f, kt, ModeSASL, clock.NewFake(t0), nil)
	_, tok, _ := c.Start()
	framed, _, err := s.Next(tok)
	if err != nil {
		f.Fatal(err)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(rawAPRep(f, framed)); err != nil {
		f.Fatal(err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, key, keyusage.AP_REP_ENCPART)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain, []byte{layerNone, 0, 0, 0})
	f.Add([]byte{0x7b, 0x00}, []byte{})
	f.Fuzz(func(t *testing.T, repPlain, offer []byte) {
		c := newTestClient(t, tkt, key, ModeSASL, true, false, clock.NewFake(t0))
		if _, _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		ed, err := crypto.GetEncryptedData(repPlain, key, keyusage.AP_REP_ENCPART, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := marshalAPRep(messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
		if err != nil {
			t.Fatal(err)
		}
		check := func(err error) bool {
			if err == nil {
				return true
			}
			var ie *InitError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not an *InitError", err, err)
			}
			return false
		}
		if _, err := c.Next(b); !check(err) {
			return
		}
		w, err := wrap(offer, c.key, true, 0)
		if err != nil {
			return // the adopted subkey is unusable; wrap is ours, not under test
		}
		_, err = c.Next(w)
		check(err)
	})
}
