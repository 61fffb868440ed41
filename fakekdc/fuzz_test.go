package fakekdc

import (
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/exauth/exauth/internal/clock"
)

// FuzzKDCRequest feeds arbitrary bytes to the request handler, the function
// both transports call, seeded with real AS-REQs and a real TGS-REQ. The
// handler must never panic, and whatever it answers must be an AS-REP, a
// TGS-REP or a well-formed KRB-ERROR.
func FuzzKDCRequest(f *testing.F) {
	k, err := newKDC(Config{
		Realm:  testRealm,
		Clock:  clock.NewFake(testBase),
		Faults: Faults{DuplicateSPN: DuplicateSPNWrongAccount},
		Accounts: append(testAccounts(),
			Account{Name: "OLDHUB$", Password: "oldhub", KVNO: 2, ETypes: kdcRC4, SPNs: []string{testSPN}}),
	})
	if err != nil {
		f.Fatal(err)
	}
	key := kdcClientKey(f, k, "HUB02$", kdcAES[0])
	asPlain := kdcASReq(f, "HUB02$", kdcAES, nil, testBase)
	asPreauth := kdcASReq(f, "HUB02$", kdcAES, &key, testBase)
	var as messages.ASRep
	if err := as.Unmarshal(k.handle(asPreauth)); err != nil {
		f.Fatalf("seed AS exchange: %v", err)
	}
	plain, err := crypto.DecryptEncPart(as.EncPart, key, keyusage.AS_REP_ENCPART)
	if err != nil {
		f.Fatal(err)
	}
	var part messages.EncKDCRepPart
	if err := part.Unmarshal(plain); err != nil {
		f.Fatal(err)
	}
	tgs := kdcTGSReq(f, "HUB02$", as.Ticket, part.Key, testSPN, []int32{18, 17, 23}, testBase, nil)
	if rep := k.handle(tgs); len(rep) == 0 || rep[0] != 0x60|13 {
		f.Fatalf("seed TGS-REQ not answered with a TGS-REP")
	}
	for _, seed := range [][]byte{asPlain, asPreauth, tgs, {}, {0x6a}, {0x6c, 0x80}, []byte("GET / HTTP/1.0\r\n\r\n")} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		rep := k.handle(req)
		if rep == nil {
			return
		}
		switch rep[0] {
		case 0x60 | 11, 0x60 | 13: // AS-REP, TGS-REP
		case 0x60 | 30:
			var e messages.KRBError
			if err := e.Unmarshal(rep); err != nil {
				t.Fatalf("KRB-ERROR does not decode: %v", err)
			}
			if e.ErrorCode == 0 || e.STime.IsZero() || e.Realm != testRealm {
				t.Fatalf("incomplete KRB-ERROR %+v", e)
			}
			if e.ErrorCode == errorcode.KRB_ERR_GENERIC && e.EText == "" {
				t.Fatal("KRB_ERR_GENERIC without e-text")
			}
		default:
			t.Fatalf("reply starts with %#x", rep[0])
		}
	})
}
