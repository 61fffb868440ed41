package krbclient

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// FuzzKDCReply feeds arbitrary bytes to everything that reads a KDC's
// reply: the classifier and decoders, the PA-ETYPE-INFO2 reader, and the AS
// and TGS reply checks. Nothing may panic, and every failure must be typed.
func FuzzKDCReply(f *testing.F) {
	lab := newLabKDC(f, nil)
	lab.preauth = false
	lab.spns[spnHub01] = true
	asReq, tgsReq, c, tgt := fuzzRequests(f)
	f.Add(lab.handle(TCP, mustMarshal(f, asReq.Marshal)))
	lab.sessionKey = tgt.key
	f.Add(lab.handle(TCP, mustMarshal(f, tgsReq.Marshal)))
	f.Add(krbError(f, errorcode.KDC_ERR_PREAUTH_REQUIRED, t0, []byte{0x30, 0x00}))
	f.Add(krbError(f, errorcode.KRB_AP_ERR_SKEW, t0, nil))
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n"))
	f.Add([]byte{0x6b, 0x80})
	f.Add([]byte{0x6d, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = etypeHints(b)
		for _, kind := range []string{KindAS, KindTGS} {
			r, err := decodeReply(kind, b)
			if err != nil {
				continue
			}
			switch {
			case r.as != nil:
				_, err = c.finishAS(asReq, r.as, etypeHints(b), Exchange{})
				if err != nil && !isType[*ProtocolError](err) && !isType[*CredentialsError](err) {
					t.Fatalf("finishAS: untyped error %T: %v", err, err)
				}
			case r.tgs != nil:
				_, err = c.finishTGS(tgsReq, r.tgs, tgt, spnHub01, Exchange{})
				if err != nil && !isType[*ProtocolError](err) {
					t.Fatalf("finishTGS: untyped error %T: %v", err, err)
				}
			case r.krbErr != nil:
				_ = kdcTime(r.krbErr)
				_ = etypeHints(r.krbErr.EData)
			default:
				t.Fatal("decodeReply returned neither a reply nor an error")
			}
		}
	})
}

// fuzzRequests builds, once, a keytab client and the AS-REQ and TGS-REQ
// whose replies the fuzzer forges.
func fuzzRequests(f *testing.F) (messages.ASReq, messages.TGSReq, *Client, *tgt) {
	b, err := labKeytab(f).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	p := filepath.Join(f.TempDir(), "kt")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		f.Fatal(err)
	}
	creds, err := FromKeytab(p, "HUB02$@LAB.TEST")
	if err != nil {
		f.Fatal(err)
	}
	c, err := New(Config{Realm: labRealm, KDCs: []string{"127.0.0.1:1"}}, creds)
	if err != nil {
		f.Fatal(err)
	}
	asReq, err := messages.NewASReqForTGT(labRealm, c.krb5, c.cname)
	if err != nil {
		f.Fatal(err)
	}
	key, _, err := creds.keytab.GetEncryptionKey(c.cname, labRealm, 0, 18)
	if err != nil {
		f.Fatal(err)
	}
	t := &tgt{cname: c.cname, realm: labRealm, key: key,
		ticket: messages.Ticket{TktVNO: 5, Realm: labRealm, SName: types.NewPrincipalName(2, "krbtgt/"+labRealm),
			EncPart: types.EncryptedData{EType: 18, KVNO: 1, Cipher: make([]byte, 48)}}}
	sname, _ := types.ParseSPNString(spnHub01)
	tgsReq, err := messages.NewTGSReq(c.cname, labRealm, c.krb5, t.ticket, t.key, sname, false)
	if err != nil {
		f.Fatal(err)
	}
	return asReq, tgsReq, c, t
}

func mustMarshal(f *testing.F, marshal func() ([]byte, error)) []byte {
	b, err := marshal()
	if err != nil {
		f.Fatal(err)
	}
	return b
}
