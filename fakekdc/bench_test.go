package fakekdc

import (
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"

	"github.com/exauth/exauth/internal/clock"
)

// BenchmarkHandleASTGS is the KDC's own work for one AS exchange
// (pre-authenticated from a keytab) and one TGS exchange, without the
// network: the CPU figure 3 of exauth-bench compares with MIT's krb5kdc,
// steady enough for benchstat on a busy machine. The KDC keeps no replay
// cache of AS-REQs and TGS-REQs, so the same two requests can be answered
// again and again.
func BenchmarkHandleASTGS(b *testing.B) {
	aes := []int32{etypeID.AES256_CTS_HMAC_SHA1_96}
	k, err := newKDC(Config{Realm: testRealm, Clock: clock.NewFake(testBase), ClientETypes: aes, Accounts: []Account{
		{Name: "HUB02$", KVNO: 2, ETypes: aes},
		{Name: "HUB01$", KVNO: 3, ETypes: aes, SPNs: []string{testSPN}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	key := kdcClientKey(b, k, "HUB02$", etypeID.AES256_CTS_HMAC_SHA1_96)
	as := kdcASReq(b, "HUB02$", aes, &key, testBase)
	var rep messages.ASRep
	if err := rep.Unmarshal(k.handle(as)); err != nil {
		b.Fatal(err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, key, keyusage.AS_REP_ENCPART)
	if err != nil {
		b.Fatal(err)
	}
	var part messages.EncKDCRepPart
	if err := part.Unmarshal(plain); err != nil {
		b.Fatal(err)
	}
	tgs := kdcTGSReq(b, "HUB02$", rep.Ticket, part.Key, testSPN, aes, testBase, nil)
	var trep messages.TGSRep
	if err := trep.Unmarshal(k.handle(tgs)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if r := k.handle(as); len(r) == 0 || r[0] != 0x60|11 {
			b.Fatal("no AS-REP")
		}
		if r := k.handle(tgs); len(r) == 0 || r[0] != 0x60|13 {
			b.Fatal("no TGS-REP")
		}
	}
}
