package gssapi

import (
	"bytes"
	"errors"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// The clear text of a token's ticket reads the same in every framing an
// initiator may use, RC4 and AES alike.
func TestInspectClientToken_Framings(t *testing.T) {
	for _, tc := range []struct {
		name           string
		etype          int32
		mutual, spnego bool
		framing        Framing
	}{
		{"krb5 aes256 one leg", etypeID.AES256_CTS_HMAC_SHA1_96, false, false, FramingKRB5},
		{"krb5 rc4 mutual", etypeID.RC4_HMAC, true, false, FramingKRB5},
		{"spnego aes128 mutual", etypeID.AES128_CTS_HMAC_SHA1_96, true, true, FramingSPNEGO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tkt, key := issue(t, ticketSpec{kt: serviceKeytab(t), etype: tc.etype})
			_, tok, err := newTestClient(t, tkt, key, ModeExchange, tc.mutual, tc.spnego, nil).Start()
			if err != nil {
				t.Fatal(err)
			}
			info, err := InspectClientToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if info.Framing != tc.framing || info.Service != testService || info.Realm != testRealm ||
				info.EType != tc.etype || info.KVNO == nil || *info.KVNO != testKVNO || info.Mutual != tc.mutual {
				t.Errorf("%+v (kvno %v)", info, info.KVNO)
			}
		})
	}
}

// Negotiate's fallback to NTLM is named as such, bare or inside SPNEGO;
// anything else unparseable is a plain error.
func TestInspectClientToken_NTLMAndGarbage(t *testing.T) {
	ntlm := append([]byte("NTLMSSP\x00"), 1, 0, 0, 0)
	if _, err := InspectClientToken(ntlm); !errors.Is(err, ErrNTLMToken) {
		t.Errorf("bare NTLM: %v", err)
	}
	if _, err := InspectClientToken([]byte{0x30, 0x03, 0x02, 0x01, 0x00}); err == nil || errors.Is(err, ErrNTLMToken) {
		t.Errorf("garbage: %v", err)
	}
	if _, err := InspectClientToken(nil); err == nil {
		t.Error("an empty token inspected")
	}
}

// FuzzInspectClientToken: whatever an initiator hands over (Windows'
// SSPI builds these tokens, but a broken or hostile package could too),
// inspecting it never panics, and a result names a framing.
func FuzzInspectClientToken(f *testing.F) {
	for _, spnego := range []bool{false, true} {
		tkt, key := issue(f, ticketSpec{kt: serviceKeytab(f), etype: etypeID.AES256_CTS_HMAC_SHA1_96})
		_, tok, err := newTestClient(f, tkt, key, ModeExchange, true, spnego, nil).Start()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
		if !spnego {
			// The bare AP-REQ (application tag 14) after the RFC 1964
			// framing's token ID 01 00: the raw framing.
			if i := bytes.Index(tok, []byte{0x01, 0x00, 0x6e}); i > 0 {
				f.Add(tok[i+2:])
			}
		}
	}
	f.Add(append([]byte("NTLMSSP\x00"), 1, 0, 0, 0))
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := InspectClientToken(b)
		if err == nil && info.Framing != FramingRaw && info.Framing != FramingKRB5 && info.Framing != FramingSPNEGO {
			t.Fatalf("inspected without a framing: %+v", info)
		}
	})
}
