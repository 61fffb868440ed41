package fakekdc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"go.uber.org/goleak"

	"github.com/exauth/exauth/internal/clock"
)

const (
	testRealm = "LAB.TEST"
	testSPN   = "SMTPSVC/hub01.lab.test"
)

// testBase is the fixed instant the handler-level tests run at.
var testBase = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

var (
	kdcAES = []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96}
	kdcRC4 = []int32{etypeID.RC4_HMAC}
)

// testAccounts is the lab: HUB02$ sends, HUB01$ receives and owns the
// SMTP SPNs at key version 3, one password change after version 2.
func testAccounts() []Account {
	return []Account{
		{Name: "HUB02$", Password: "hub02-password"},
		{Name: "HUB01$", Password: "hub01-password-v3", KVNO: 3, PreviousPasswords: []string{"hub01-password-v2"},
			SPNs: []string{testSPN, "SMTP/hub01.lab.test"}},
	}
}

// kdcLeakCheck checks for leaked goroutines after the test's cleanups (the
// KDC's Close among them) have run.
func kdcLeakCheck(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// startKDC starts a KDC with test defaults and closes it when the test ends.
func startKDC(t *testing.T, cfg Config) *KDC {
	t.Helper()
	if cfg.Realm == "" {
		cfg.Realm = testRealm
	}
	if cfg.Accounts == nil {
		cfg.Accounts = testAccounts()
	}
	k, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := k.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return k
}

// kdcLog collects what the KDC logs.
type kdcLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *kdcLog) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (l *kdcLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// kdcRoundTrip sends one request over TCP and returns the reply.
func kdcRoundTrip(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial KDC: %v", err)
	}
	defer c.Close()
	rep, err := kdcTCPExchange(c, req)
	if err != nil {
		t.Fatalf("KDC exchange: %v", err)
	}
	return rep
}

func kdcTCPExchange(c net.Conn, req []byte) ([]byte, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(req)))
	if _, err := c.Write(append(msg, req...)); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	rep := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	_, err := io.ReadFull(c, rep)
	return rep, err
}

// kdcClientKey is an account's current key of one etype, as the client's
// keytab holds it.
func kdcClientKey(t testing.TB, k *KDC, account string, etype int32) types.EncryptionKey {
	t.Helper()
	kt, err := k.Keytab(account, 0)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := kt.GetEncryptionKey(types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, account), testRealm, 0, etype)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// kdcASReq builds an AS-REQ for a TGT; with a key it carries
// PA-ENC-TIMESTAMP of ctime encrypted in it.
func kdcASReq(t testing.TB, cname string, etypes []int32, key *types.EncryptionKey, ctime time.Time) []byte {
	t.Helper()
	r, err := messages.NewASReqForTGT(testRealm, config.New(), types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, cname))
	if err != nil {
		t.Fatal(err)
	}
	r.ReqBody.EType = etypes
	r.ReqBody.Till = ctime.Add(24 * time.Hour)
	types.SetFlag(&r.ReqBody.KDCOptions, flags.Forwardable)
	if key != nil {
		ts, err := asn1.Marshal(types.PAEncTSEnc{PATimestamp: ctime.UTC().Truncate(time.Second), PAUSec: ctime.Nanosecond() / 1000})
		if err != nil {
			t.Fatal(err)
		}
		ed, err := crypto.GetEncryptedData(ts, *key, keyusage.AS_REQ_PA_ENC_TIMESTAMP, 1)
		if err != nil {
			t.Fatal(err)
		}
		pb, err := ed.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		r.PAData = append(r.PAData, types.PAData{PADataType: patype.PA_ENC_TIMESTAMP, PADataValue: pb})
	}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kdcTGSReq builds a TGS-REQ the way gokrb5 does (or, with a subkey, the way
// MIT does), with the authenticator's time under the test's control.
func kdcTGSReq(t testing.TB, cname string, tgt messages.Ticket, sessionKey types.EncryptionKey, sname string, etypes []int32, ctime time.Time, subkey *types.EncryptionKey) []byte {
	t.Helper()
	cn := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, cname)
	r := messages.TGSReq{KDCReqFields: messages.KDCReqFields{
		PVNO:    iana.PVNO,
		MsgType: msgtype.KRB_TGS_REQ,
		ReqBody: messages.KDCReqBody{
			KDCOptions: types.NewKrbFlags(),
			Realm:      testRealm,
			CName:      cn,
			SName:      types.NewPrincipalName(nametype.KRB_NT_SRV_INST, sname),
			Till:       ctime.Add(24 * time.Hour),
			Nonce:      424242,
			EType:      etypes,
		},
	}}
	types.SetFlag(&r.ReqBody.KDCOptions, flags.Forwardable)
	body, err := r.ReqBody.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	et, err := crypto.GetEtype(sessionKey.KeyType)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := et.GetChecksumHash(sessionKey.KeyValue, body, keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR_CHKSUM)
	if err != nil {
		t.Fatal(err)
	}
	auth := types.Authenticator{
		AVNO:   iana.PVNO,
		CRealm: testRealm,
		CName:  cn,
		Cksum:  types.Checksum{CksumType: et.GetHashID(), Checksum: ck},
		CTime:  ctime.UTC().Truncate(time.Second),
		Cusec:  ctime.Nanosecond() / 1000,
	}
	if subkey != nil {
		auth.SubKey = *subkey
	}
	ap, err := messages.NewAPReq(tgt, sessionKey, auth)
	if err != nil {
		t.Fatal(err)
	}
	apb, err := ap.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r.PAData = types.PADataSequence{{PADataType: patype.PA_TGS_REQ, PADataValue: apb}}
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kdcAsError decodes a KRB-ERROR reply, or reports that it is not one.
func kdcAsError(b []byte) (messages.KRBError, bool) {
	var e messages.KRBError
	if len(b) == 0 || b[0] != 0x60|30 {
		return e, false
	}
	return e, e.Unmarshal(b) == nil
}

// kdcOpen decrypts a KDC reply's enc-part and checks its application tag.
func kdcOpen(t *testing.T, ed types.EncryptedData, key types.EncryptionKey, usage uint32, wantTag int) messages.EncKDCRepPart {
	t.Helper()
	plain, err := crypto.DecryptEncPart(ed, key, usage)
	if err != nil {
		t.Fatalf("decrypting enc-part: %v", err)
	}
	if plain[0] != byte(0x60|wantTag) {
		t.Errorf("enc-part application tag: got %#x, want [APPLICATION %d]", plain[0], wantTag)
	}
	var part messages.EncKDCRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	return part
}

// kdcLogin runs the AS exchange for HUB02$ at ctime: PREAUTH_REQUIRED, then
// PA-ENC-TIMESTAMP. It returns the TGT and its session key.
func kdcLogin(t *testing.T, k *KDC, etypes []int32, ctime time.Time) (messages.Ticket, types.EncryptionKey) {
	t.Helper()
	rep := kdcRoundTrip(t, k.TCPAddr(), kdcASReq(t, "HUB02$", etypes, nil, ctime))
	if e, ok := kdcAsError(rep); !ok || e.ErrorCode != errorcode.KDC_ERR_PREAUTH_REQUIRED {
		t.Fatalf("first AS-REQ: want KDC_ERR_PREAUTH_REQUIRED, got %v", e)
	}
	key := kdcClientKey(t, k, "HUB02$", etypes[0])
	rep = kdcRoundTrip(t, k.TCPAddr(), kdcASReq(t, "HUB02$", etypes, &key, ctime))
	if e, ok := kdcAsError(rep); ok {
		t.Fatalf("AS-REQ with pre-authentication: %v", e)
	}
	var as messages.ASRep
	if err := as.Unmarshal(rep); err != nil {
		t.Fatal(err)
	}
	part := kdcOpen(t, as.EncPart, key, keyusage.AS_REP_ENCPART, 25)
	return as.Ticket, part.Key
}

// TestKDC_GokrbClient drives the KDC with gokrb5's own client, over TCP with
// the generated krb5.conf, for each encryption type, from a keytab and from
// a password, and decrypts the service ticket with the exported service
// keytab.
func TestKDC_GokrbClient(t *testing.T) {
	kdcLeakCheck(t)
	for _, tc := range []struct {
		name  string
		etype int32
	}{
		{"aes256", etypeID.AES256_CTS_HMAC_SHA1_96},
		{"aes128", etypeID.AES128_CTS_HMAC_SHA1_96},
		{"rc4", etypeID.RC4_HMAC},
	} {
		for _, login := range []string{"keytab", "password"} {
			t.Run(tc.name+"/"+login, func(t *testing.T) {
				accounts := testAccounts()
				for i := range accounts {
					accounts[i].ETypes = []int32{tc.etype}
				}
				k := startKDC(t, Config{
					Accounts:     accounts,
					Clock:        clock.NewFake(time.Now()),
					ClientETypes: []int32{tc.etype},
				})
				cfg, err := config.NewFromString(string(k.Krb5Conf()))
				if err != nil {
					t.Fatalf("gokrb5 cannot parse Krb5Conf: %v", err)
				}
				var cl *client.Client
				if login == "keytab" {
					kt, err := k.Keytab("HUB02$", 0)
					if err != nil {
						t.Fatal(err)
					}
					cl = client.NewWithKeytab("HUB02$", testRealm, kt, cfg)
				} else {
					cl = client.NewWithPassword("HUB02$", testRealm, "hub02-password", cfg)
				}
				defer cl.Destroy()
				if err := cl.Login(); err != nil {
					t.Fatalf("Login: %v", err)
				}
				tkt, sessionKey, err := cl.GetServiceTicket(testSPN)
				if err != nil {
					t.Fatalf("GetServiceTicket: %v", err)
				}
				if tkt.EncPart.EType != tc.etype || tkt.EncPart.KVNO != 3 {
					t.Errorf("ticket etype %d kvno %d, want %d and 3", tkt.EncPart.EType, tkt.EncPart.KVNO, tc.etype)
				}
				skt, err := k.Keytab("HUB01$", 0)
				if err != nil {
					t.Fatal(err)
				}
				if err := tkt.DecryptEncPart(skt, nil); err != nil {
					t.Fatalf("service keytab cannot decrypt the ticket: %v", err)
				}
				if got := tkt.DecryptedEncPart.CName.PrincipalNameString(); got != "HUB02$" {
					t.Errorf("ticket client %q, want HUB02$", got)
				}
				if !bytes.Equal(tkt.DecryptedEncPart.Key.KeyValue, sessionKey.KeyValue) {
					t.Error("session key in the ticket differs from the one in the TGS-REP")
				}
				want := Stats{ASRequests: 2, TGSRequests: 1, Errors: 1} // PREAUTH_REQUIRED, as with AD
				if got := k.Stats(); got != want {
					t.Errorf("Stats = %+v, want %+v", got, want)
				}
			})
		}
	}
}

// TestKDC_GokrbClientFailures shows what a gokrb5 client (the probe's
// library) sees for the KDC-side faults. gokrb5 flattens the KRB-ERROR into
// its error text, so the checks are on the names of the codes.
func TestKDC_GokrbClientFailures(t *testing.T) {
	kdcLeakCheck(t)
	dup := append(testAccounts(), Account{Name: "OLDHUB$", Password: "old", SPNs: []string{testSPN}})
	for _, tc := range []struct {
		name     string
		cfg      Config
		password string
		spn      string
		wantErr  string // in the Login error, or else the GetServiceTicket error
	}{
		{name: "kdc clock 10m ahead", cfg: Config{Clock: clock.Offset{By: 10 * time.Minute}}, wantErr: "KRB_AP_ERR_SKEW"},
		{name: "wrong password", password: "nope", wantErr: "KDC_ERR_PREAUTH_FAILED"},
		{name: "missing SPN", spn: "SMTPSVC/hub09.lab.test", wantErr: "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{name: "duplicate SPN", cfg: Config{Accounts: dup}, wantErr: "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{name: "duplicate SPN not unique", cfg: Config{Accounts: dup, Faults: Faults{DuplicateSPN: DuplicateSPNNotUnique}}, wantErr: "KDC_ERR_PRINCIPAL_NOT_UNIQUE"},
		{name: "etype mismatch", cfg: Config{Accounts: []Account{{Name: "HUB02$", Password: "hub02-password"}, {Name: "HUB01$", Password: "x", ETypes: kdcRC4, SPNs: []string{testSPN}}}}, wantErr: "KDC_ERR_ETYPE_NOSUPP"},
		{name: "unreachable", cfg: Config{Faults: Faults{Unreachable: true}}, wantErr: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := startKDC(t, tc.cfg)
			cfg, err := config.NewFromString(string(k.Krb5Conf()))
			if err != nil {
				t.Fatal(err)
			}
			pw := tc.password
			if pw == "" {
				pw = "hub02-password"
			}
			cl := client.NewWithPassword("HUB02$", testRealm, pw, cfg)
			defer cl.Destroy()
			err = cl.Login()
			if err == nil {
				spn := tc.spn
				if spn == "" {
					spn = testSPN
				}
				_, _, err = cl.GetServiceTicket(spn)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestKDC_ASExchange covers the AS exchange at fixed clocks: the
// pre-authentication dialogue of Active Directory, skew, and each error.
func TestKDC_ASExchange(t *testing.T) {
	kdcLeakCheck(t)
	type preauth int
	const (
		none preauth = iota
		rightKey
		wrongKey
	)
	for _, tc := range []struct {
		name      string
		accounts  []Account
		cname     string
		realm     string
		etypes    []int32
		preauth   preauth
		clientOff time.Duration // client clock minus KDC clock
		wantCode  int32         // 0: a TGT
		wantInfo2 []types.ETypeInfo2Entry
	}{
		{name: "preauth required", cname: "HUB02$", etypes: kdcAES, preauth: none, wantCode: errorcode.KDC_ERR_PREAUTH_REQUIRED,
			wantInfo2: []types.ETypeInfo2Entry{{EType: 18, Salt: "LAB.TESThosthub02.lab.test"}, {EType: 17, Salt: "LAB.TESThosthub02.lab.test"}}},
		{name: "preauth required, client order", cname: "HUB02$", etypes: []int32{17, 23, 18}, preauth: none, wantCode: errorcode.KDC_ERR_PREAUTH_REQUIRED,
			wantInfo2: []types.ETypeInfo2Entry{{EType: 17, Salt: "LAB.TESThosthub02.lab.test"}, {EType: 18, Salt: "LAB.TESThosthub02.lab.test"}}},
		{name: "preauth required, rc4 has no salt", accounts: []Account{{Name: "HUB02$", Password: "p", ETypes: kdcRC4}},
			cname: "HUB02$", etypes: []int32{18, 23}, preauth: none, wantCode: errorcode.KDC_ERR_PREAUTH_REQUIRED,
			wantInfo2: []types.ETypeInfo2Entry{{EType: 23}}},
		{name: "TGT", cname: "HUB02$", etypes: kdcAES, preauth: rightKey},
		{name: "TGT, name case-insensitive", cname: "hub02$", etypes: kdcAES, preauth: rightKey},
		{name: "TGT, rc4", accounts: []Account{{Name: "HUB02$", Password: "p", ETypes: kdcRC4}}, cname: "HUB02$", etypes: kdcRC4, preauth: rightKey},
		{name: "client 4m59s behind", cname: "HUB02$", etypes: kdcAES, preauth: rightKey, clientOff: -(4*time.Minute + 59*time.Second)},
		{name: "client 10m behind", cname: "HUB02$", etypes: kdcAES, preauth: rightKey, clientOff: -10 * time.Minute, wantCode: errorcode.KRB_AP_ERR_SKEW},
		{name: "client 7m ahead", cname: "HUB02$", etypes: kdcAES, preauth: rightKey, clientOff: 7 * time.Minute, wantCode: errorcode.KRB_AP_ERR_SKEW},
		{name: "wrong key", cname: "HUB02$", etypes: kdcAES, preauth: wrongKey, wantCode: errorcode.KDC_ERR_PREAUTH_FAILED,
			wantInfo2: []types.ETypeInfo2Entry{{EType: 18, Salt: "LAB.TESThosthub02.lab.test"}, {EType: 17, Salt: "LAB.TESThosthub02.lab.test"}}},
		{name: "unknown client", cname: "HUB09$", etypes: kdcAES, preauth: none, wantCode: errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN},
		{name: "wrong realm", cname: "HUB02$", realm: "OTHER.TEST", etypes: kdcAES, preauth: none, wantCode: errorcode.KDC_ERR_WRONG_REALM},
		{name: "no common etype", cname: "HUB02$", etypes: kdcRC4, preauth: none, wantCode: errorcode.KDC_ERR_ETYPE_NOSUPP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kdcClock := clock.NewFake(testBase)
			k := startKDC(t, Config{Accounts: tc.accounts, Clock: kdcClock})
			var key *types.EncryptionKey
			switch tc.preauth {
			case rightKey:
				kk := kdcClientKey(t, k, "HUB02$", tc.etypes[0])
				key = &kk
			case wrongKey:
				kk := kdcClientKey(t, k, "HUB01$", tc.etypes[0])
				key = &kk
			}
			req := kdcASReq(t, tc.cname, tc.etypes, key, testBase.Add(tc.clientOff))
			if tc.realm != "" {
				var r messages.ASReq
				r.Unmarshal(req)
				r.ReqBody.Realm = tc.realm
				req, _ = r.Marshal()
			}
			rep := kdcRoundTrip(t, k.TCPAddr(), req)
			e, isErr := kdcAsError(rep)
			if tc.wantCode != 0 {
				if !isErr {
					t.Fatalf("want KRB-ERROR %s, got a %d-byte reply", errorcode.Lookup(tc.wantCode), len(rep))
				}
				kdcCheckError(t, e, tc.wantCode, testBase, "krbtgt/LAB.TEST")
				if tc.wantInfo2 != nil {
					if got := kdcETypeInfo2(t, e.EData); !reflect.DeepEqual(got, tc.wantInfo2) {
						t.Errorf("PA-ETYPE-INFO2 = %+v, want %+v", got, tc.wantInfo2)
					}
				}
				return
			}
			if isErr {
				t.Fatalf("want a TGT, got %v", e)
			}
			var as messages.ASRep
			if err := as.Unmarshal(rep); err != nil {
				t.Fatal(err)
			}
			part := kdcOpen(t, as.EncPart, *key, keyusage.AS_REP_ENCPART, 25)
			now := testBase.Truncate(time.Second)
			if !part.AuthTime.Equal(now) || !part.EndTime.Equal(now.Add(10*time.Hour)) {
				t.Errorf("authtime %v endtime %v, want %v and +10h", part.AuthTime, part.EndTime, now)
			}
			for _, f := range []int{flags.Initial, flags.PreAuthent, flags.Forwardable} {
				if !types.IsFlagSet(&part.Flags, f) {
					t.Errorf("TGT flag %d not set", f)
				}
			}
			if as.EncPart.KVNO != 1 {
				t.Errorf("AS-REP enc-part kvno %d, want 1", as.EncPart.KVNO)
			}
			tgtKeys, err := k.Keytab("krbtgt", 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := as.Ticket.DecryptEncPart(tgtKeys, nil); err != nil {
				t.Fatalf("TGT does not decrypt with krbtgt's keys: %v", err)
			}
			if !bytes.Equal(as.Ticket.DecryptedEncPart.Key.KeyValue, part.Key.KeyValue) {
				t.Error("TGT session key differs from the AS-REP's")
			}
		})
	}
}

// kdcCheckError checks what every KRB-ERROR must carry: the code, the KDC's
// time in stime/susec, the realm, the requested server and an e-text.
func kdcCheckError(t *testing.T, e messages.KRBError, code int32, kdcNow time.Time, sname string) {
	t.Helper()
	if e.ErrorCode != code {
		t.Fatalf("error %s (%s), want %s", errorcode.Lookup(e.ErrorCode), e.EText, errorcode.Lookup(code))
	}
	if !e.STime.Equal(kdcNow.Truncate(time.Second)) || e.Susec != kdcNow.Nanosecond()/1000 {
		t.Errorf("stime %v susec %d, want the KDC clock %v", e.STime, e.Susec, kdcNow)
	}
	if e.Realm != testRealm {
		t.Errorf("realm %q", e.Realm)
	}
	if got := e.SName.PrincipalNameString(); got != sname {
		t.Errorf("sname %q, want %q", got, sname)
	}
	if e.EText == "" {
		t.Error("no e-text")
	}
}

// kdcETypeInfo2 finds PA-ETYPE-INFO2 in METHOD-DATA e-data.
func kdcETypeInfo2(t *testing.T, edata []byte) []types.ETypeInfo2Entry {
	t.Helper()
	var md types.MethodData
	if _, err := asn1.Unmarshal(edata, &md); err != nil {
		t.Fatalf("e-data is not METHOD-DATA: %v", err)
	}
	var info types.ETypeInfo2
	found := map[int32]bool{}
	for _, pa := range md {
		found[pa.PADataType] = true
		if pa.PADataType == patype.PA_ETYPE_INFO2 {
			if _, err := asn1.Unmarshal(pa.PADataValue, &info); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !found[patype.PA_ETYPE_INFO2] || !found[patype.PA_ENC_TIMESTAMP] {
		t.Errorf("METHOD-DATA types %v, want PA-ETYPE-INFO2 and PA-ENC-TIMESTAMP", found)
	}
	return info
}

// TestKDC_TGSExchange covers the TGS exchange: SPN lookup, the duplicate-SPN
// modes, key versions, etype restriction, clocks and ticket lifetimes.
func TestKDC_TGSExchange(t *testing.T) {
	kdcLeakCheck(t)
	dup := append(testAccounts(), Account{Name: "OLDHUB$", Password: "oldhub", KVNO: 2, SPNs: []string{testSPN}})
	rc4Service := []Account{
		{Name: "HUB02$", Password: "hub02-password"},
		{Name: "HUB01$", Password: "hub01", ETypes: kdcRC4, SPNs: []string{testSPN}},
	}
	unsetService := []Account{
		{Name: "HUB02$", Password: "hub02-password"},
		{Name: "HUB01$", Password: "hub01", ETypesUnset: true, SPNs: []string{testSPN}},
	}
	for _, tc := range []struct {
		name      string
		accounts  []Account
		faults    Faults
		spn       string
		etypes    []int32       // TGS-REQ etypes; nil = AES
		advance   time.Duration // KDC clock moves between AS and TGS
		authOff   time.Duration // authenticator time minus KDC time
		subkey    bool
		wantCode  int32
		wantOwner string // account whose current key decrypts the ticket
		wantKVNO  int
		wantEType int32
		wantLog   string
	}{
		{name: "SMTPSVC", spn: testSPN, wantOwner: "HUB01$", wantKVNO: 3, wantEType: 18},
		{name: "SMTP alias", spn: "SMTP/hub01.lab.test", wantOwner: "HUB01$", wantKVNO: 3, wantEType: 18},
		{name: "SPN case-insensitive", spn: "smtpsvc/HUB01.Lab.Test", wantOwner: "HUB01$", wantKVNO: 3, wantEType: 18},
		{name: "account name as service", spn: "HUB01$", wantOwner: "HUB01$", wantKVNO: 3, wantEType: 18},
		{name: "subkey (MIT)", spn: testSPN, subkey: true, wantOwner: "HUB01$", wantKVNO: 3, wantEType: 18},
		{name: "aes128 preferred", spn: testSPN, etypes: []int32{17, 18}, wantOwner: "HUB01$", wantKVNO: 3, wantEType: 17},
		{name: "TGT from TGS", spn: "krbtgt/LAB.TEST", wantOwner: "krbtgt", wantKVNO: 1, wantEType: 18},
		{name: "missing SPN", spn: "SMTPSVC/hub03.lab.test", wantCode: errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN},
		{name: "duplicate SPN, as Windows", accounts: dup, spn: testSPN, wantCode: errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN,
			wantLog: "KDC event 11: " + Event11Message(testSPN)},
		{name: "duplicate SPN, not unique", accounts: dup, faults: Faults{DuplicateSPN: DuplicateSPNNotUnique}, spn: testSPN,
			wantCode: errorcode.KDC_ERR_PRINCIPAL_NOT_UNIQUE, wantLog: "KDC event 11: " + Event11Message(testSPN)},
		{name: "duplicate SPN, wrong account", accounts: dup, faults: Faults{DuplicateSPN: DuplicateSPNWrongAccount}, spn: testSPN,
			wantOwner: "OLDHUB$", wantKVNO: 2, wantEType: 18, wantLog: "OLDHUB$"},
		{name: "service has only rc4, client asks aes", accounts: rc4Service, spn: testSPN, wantCode: errorcode.KDC_ERR_ETYPE_NOSUPP},
		{name: "service has only rc4, client asks rc4 too", accounts: rc4Service, spn: testSPN, etypes: []int32{18, 17, 23},
			wantOwner: "HUB01$", wantKVNO: 1, wantEType: 23},
		{name: "enctypes unset: RC4 although AES preferred", accounts: unsetService, spn: testSPN, etypes: []int32{18, 17, 23},
			wantOwner: "HUB01$", wantKVNO: 1, wantEType: 23},
		{name: "enctypes unset, client without RC4", accounts: unsetService, spn: testSPN, wantCode: errorcode.KDC_ERR_ETYPE_NOSUPP},
		{name: "authenticator 6m ahead", spn: testSPN, authOff: 6 * time.Minute, wantCode: errorcode.KRB_AP_ERR_SKEW},
		{name: "KDC 4h later", spn: testSPN, advance: 4 * time.Hour, wantOwner: "HUB01$", wantKVNO: 3, wantEType: 18},
		{name: "TGT expired", spn: testSPN, advance: 11 * time.Hour, wantCode: errorcode.KRB_AP_ERR_TKT_EXPIRED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kdcClock := clock.NewFake(testBase)
			var log kdcLog
			k := startKDC(t, Config{Accounts: tc.accounts, Clock: kdcClock, Faults: tc.faults, Logf: log.logf})
			tgt, tgtKey := kdcLogin(t, k, kdcAES, testBase)
			kdcClock.Advance(tc.advance)
			now := kdcClock.Now()
			etypes := tc.etypes
			if etypes == nil {
				etypes = kdcAES
			}
			var subkey *types.EncryptionKey
			if tc.subkey {
				et, _ := crypto.GetEtype(etypeID.AES256_CTS_HMAC_SHA1_96)
				sk, err := types.GenerateEncryptionKey(et)
				if err != nil {
					t.Fatal(err)
				}
				subkey = &sk
			}
			rep := kdcRoundTrip(t, k.TCPAddr(), kdcTGSReq(t, "HUB02$", tgt, tgtKey, tc.spn, etypes, now.Add(tc.authOff), subkey))
			if tc.wantLog != "" && !strings.Contains(log.text(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, log.text())
			}
			if l := log.text(); strings.Contains(l, "hub02-password") || strings.Contains(l, "hub01-password") || strings.Contains(l, "oldhub") {
				t.Errorf("a password is in the log:\n%s", log.text())
			}
			e, isErr := kdcAsError(rep)
			if tc.wantCode != 0 {
				if !isErr {
					t.Fatalf("want KRB-ERROR %s, got a ticket", errorcode.Lookup(tc.wantCode))
				}
				kdcCheckError(t, e, tc.wantCode, now, tc.spn)
				if got := e.CName.PrincipalNameString(); got != "HUB02$" {
					t.Errorf("error cname %q, want HUB02$ (from the TGT)", got)
				}
				return
			}
			if isErr {
				t.Fatalf("want a ticket, got %v", e)
			}
			var tgs messages.TGSRep
			if err := tgs.Unmarshal(rep); err != nil {
				t.Fatal(err)
			}
			replyKey, usage := tgtKey, uint32(keyusage.TGS_REP_ENCPART_SESSION_KEY)
			if subkey != nil {
				replyKey, usage = *subkey, keyusage.TGS_REP_ENCPART_AUTHENTICATOR_SUB_KEY
			}
			part := kdcOpen(t, tgs.EncPart, replyKey, usage, 26)
			tkt := tgs.Ticket
			if tkt.EncPart.KVNO != tc.wantKVNO || tkt.EncPart.EType != tc.wantEType {
				t.Errorf("ticket kvno %d etype %d, want %d and %d", tkt.EncPart.KVNO, tkt.EncPart.EType, tc.wantKVNO, tc.wantEType)
			}
			if got := tkt.SName.PrincipalNameString(); got != tc.spn {
				t.Errorf("ticket sname %q, want the requested %q", got, tc.spn)
			}
			if err := kdcDecryptWith(t, k, tc.wantOwner, &tkt); err != nil {
				t.Fatalf("ticket does not decrypt with %s's key: %v", tc.wantOwner, err)
			}
			if tc.wantOwner != "HUB01$" && tc.wantOwner != "krbtgt" {
				if err := kdcDecryptWith(t, k, "HUB01$", &tkt); err == nil {
					t.Error("ticket decrypts with HUB01$'s key too")
				}
			}
			dec := tkt.DecryptedEncPart
			if !bytes.Equal(dec.Key.KeyValue, part.Key.KeyValue) {
				t.Error("ticket session key differs from the TGS-REP's")
			}
			tgtEnd := testBase.Truncate(time.Second).Add(10 * time.Hour)
			if !dec.AuthTime.Equal(testBase.Truncate(time.Second)) || dec.EndTime.After(tgtEnd) || !dec.StartTime.Equal(now.Truncate(time.Second)) {
				t.Errorf("ticket times auth %v start %v end %v; TGT ends %v", dec.AuthTime, dec.StartTime, dec.EndTime, tgtEnd)
			}
			if types.IsFlagSet(&dec.Flags, flags.Initial) || !types.IsFlagSet(&dec.Flags, flags.PreAuthent) || !types.IsFlagSet(&dec.Flags, flags.Forwardable) {
				t.Errorf("ticket flags %x: want pre-authent and forwardable, not initial", dec.Flags.Bytes)
			}
		})
	}
}

// kdcDecryptWith decrypts a ticket with an account's current key of the
// ticket's etype, whatever kvno the ticket names.
func kdcDecryptWith(t *testing.T, k *KDC, account string, tkt *messages.Ticket) error {
	t.Helper()
	kt, err := k.Keytab(account, 0)
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := kt.GetEncryptionKey(types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, account), testRealm, 0, tkt.EncPart.EType)
	if err != nil {
		return err
	}
	return tkt.Decrypt(key)
}

// TestKDC_Keytab covers keytab export: aliases, key history for a
// stale-keytab scenario, and the errors.
func TestKDC_Keytab(t *testing.T) {
	k, err := newKDC(Config{Realm: testRealm, Clock: clock.NewFake(testBase), Accounts: append(testAccounts(),
		Account{Name: "OLDHUB$", Password: "o", SPNs: []string{testSPN}})})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ref      string
		kvno     int
		wantKVNO uint32
		wantErr  string
	}{
		{ref: "HUB01$", wantKVNO: 3},
		{ref: "hub01$@LAB.TEST", wantKVNO: 3},
		{ref: "HUB01$", kvno: 2, wantKVNO: 2},
		{ref: "SMTP/hub01.lab.test", wantKVNO: 3},
		{ref: "HUB01$", kvno: 1, wantErr: "no key version 1"},
		{ref: testSPN, wantErr: "owned by 2 accounts (HUB01$, OLDHUB$)"},
		{ref: "HUB09$", wantErr: "no account or SPN"},
	} {
		kt, err := k.Keytab(tc.ref, tc.kvno)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Keytab(%q, %d): error %v, want %q", tc.ref, tc.kvno, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Keytab(%q, %d): %v", tc.ref, tc.kvno, err)
			continue
		}
		// The keytab survives the file format, and an SPN's key is its
		// account's key.
		b, err := kt.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var back keytab.Keytab
		if err := back.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		var principals []string
		accountKey := map[int32][]byte{}
		for _, e := range back.Entries {
			principals = append(principals, e.Principal.String())
			if e.KVNO != tc.wantKVNO || e.Timestamp.Unix() != testBase.Unix() {
				t.Errorf("%s: kvno %d time %v, want %d at %v", e.Principal, e.KVNO, e.Timestamp, tc.wantKVNO, testBase)
			}
			if e.Principal.String() == "HUB01$@LAB.TEST" {
				accountKey[e.Key.KeyType] = e.Key.KeyValue
			} else if !bytes.Equal(e.Key.KeyValue, accountKey[e.Key.KeyType]) {
				t.Errorf("%s: etype %d key differs from the account's", e.Principal, e.Key.KeyType)
			}
		}
		want := []string{"HUB01$@LAB.TEST", "HUB01$@LAB.TEST", "SMTPSVC/hub01.lab.test@LAB.TEST", "SMTPSVC/hub01.lab.test@LAB.TEST", "SMTP/hub01.lab.test@LAB.TEST", "SMTP/hub01.lab.test@LAB.TEST"}
		if !slices.Equal(principals, want) {
			t.Errorf("Keytab(%q) principals %v, want %v", tc.ref, principals, want)
		}
	}
}

// TestStartKDC_ConfigErrors checks that Start explains what is wrong.
func TestStartKDC_ConfigErrors(t *testing.T) {
	kdcLeakCheck(t)
	ok := testAccounts()
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no realm", Config{Accounts: ok}, "Realm is empty"},
		{"bad realm", Config{Realm: "LAB TEST", Accounts: ok}, "not allowed in a realm"},
		{"duplicate account", Config{Realm: "R", Accounts: append(ok, Account{Name: "hub01$", Password: "x"})}, "listed twice"},
		{"bad SPN", Config{Realm: "R", Accounts: []Account{{Name: "A$", Password: "x", SPNs: []string{"SMTPSVC"}}}}, "not service/host"},
		{"bad etype", Config{Realm: "R", Accounts: []Account{{Name: "A$", Password: "x", ETypes: []int32{1}}}}, "unsupported encryption type 1"},
		{"no etypes", Config{Realm: "R", Accounts: []Account{{Name: "A$", Password: "x", ETypes: []int32{}}}}, "ETypes is empty"},
		{"enctypes unset without RC4", Config{Realm: "R", Accounts: []Account{{Name: "A$", Password: "x", ETypesUnset: true, ETypes: []int32{18}}}}, "ETypesUnset needs an RC4 key"},
		{"history longer than kvno", Config{Realm: "R", Accounts: []Account{{Name: "A$", Password: "x", KVNO: 2, PreviousPasswords: []string{"a", "b"}}}}, "previous passwords need KVNO > 2"},
		{"bad duplicate mode", Config{Realm: "R", Faults: Faults{DuplicateSPN: "random"}}, "unknown Faults.DuplicateSPN"},
		{"bad client etype", Config{Realm: "R", ClientETypes: []int32{99}}, "unsupported encryption type 99"},
		{"bad addr", Config{Realm: "R", Addr: "localhost"}, "Config.Addr"},
		{"negative skew", Config{Realm: "R", MaxSkew: -time.Second}, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Start(tc.cfg)
			if err == nil {
				k.Close()
				t.Fatal("Start accepted the configuration")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestKDC_Krb5Conf compares the generated krb5.conf with the golden file
// (ports replaced) and checks that gokrb5 reads what was meant.
func TestKDC_Krb5Conf(t *testing.T) {
	kdcLeakCheck(t)
	k := startKDC(t, Config{})
	conf := string(k.Krb5Conf())
	masked := regexp.MustCompile(`127\.0\.0\.1:\d+`).ReplaceAllString(conf, "127.0.0.1:PORT")
	golden := filepath.Join("testdata", "kdc", "krb5.conf.golden")
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if k.TCPAddr() == k.UDPAddr() && masked != string(want) {
		t.Errorf("Krb5Conf differs from %s:\n%s", golden, masked)
	}
	cfg, err := config.NewFromString(conf)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LibDefaults.DefaultRealm != testRealm || cfg.LibDefaults.UDPPreferenceLimit != 1 || cfg.LibDefaults.Clockskew != 5*time.Minute {
		t.Errorf("default_realm %q udp_preference_limit %d clockskew %v", cfg.LibDefaults.DefaultRealm, cfg.LibDefaults.UDPPreferenceLimit, cfg.LibDefaults.Clockskew)
	}
	if !slices.Equal(cfg.LibDefaults.DefaultTktEnctypeIDs, kdcAES) || !slices.Equal(cfg.LibDefaults.DefaultTGSEnctypeIDs, kdcAES) {
		t.Errorf("enctypes %v %v, want %v", cfg.LibDefaults.DefaultTktEnctypeIDs, cfg.LibDefaults.DefaultTGSEnctypeIDs, kdcAES)
	}
	_, kdcs, err := cfg.GetKDCs(testRealm, true)
	found := false
	for _, addr := range kdcs {
		found = found || addr == k.TCPAddr()
	}
	if err != nil || !found {
		t.Errorf("KDCs %v (%v), want %s among them", kdcs, err, k.TCPAddr())
	}
	if realm := cfg.ResolveRealm("hub01.lab.test"); realm != testRealm {
		t.Errorf("hub01.lab.test maps to realm %q", realm)
	}
}

// TestKDC_TCPFraming covers RFC 4120 7.2.2 framing and hostile input on TCP.
func TestKDC_TCPFraming(t *testing.T) {
	kdcLeakCheck(t)
	k := startKDC(t, Config{Clock: clock.NewFake(testBase)})
	asReq := kdcASReq(t, "HUB02$", kdcAES, nil, testBase)

	t.Run("several requests per connection", func(t *testing.T) {
		c, err := net.Dial("tcp", k.TCPAddr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for i := range 3 {
			rep, err := kdcTCPExchange(c, asReq)
			if err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			if e, ok := kdcAsError(rep); !ok || e.ErrorCode != errorcode.KDC_ERR_PREAUTH_REQUIRED {
				t.Fatalf("request %d: %v", i, e)
			}
		}
	})
	for _, tc := range []struct {
		name     string
		send     []byte
		wantCode int32 // 0: the KDC closes without answering
	}{
		{"zero length", []byte{0, 0, 0, 0}, 0},
		{"absurd length", []byte{0x00, 0x20, 0, 0}, 0},
		{"reserved high bit", []byte{0x80, 0, 0, 4, 1, 2, 3, 4}, errorcode.KRB_ERR_FIELD_TOOLONG},
		{"not kerberos", append([]byte{0, 0, 0, 5}, "hello"...), 0},
		{"broken AS-REQ", append([]byte{0, 0, 0, 4}, 0x6a, 0x02, 0x30, 0x00), errorcode.KRB_ERR_GENERIC},
		{"broken TGS-REQ", append([]byte{0, 0, 0, 3}, 0x6c, 0x01, 0x00), errorcode.KRB_ERR_GENERIC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", k.TCPAddr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			if tc.wantCode == 0 {
				all, err := io.ReadAll(c) // until the KDC closes
				if err != nil {
					t.Fatalf("reading: %v", err)
				}
				if len(all) != 0 {
					t.Fatalf("got a %d-byte answer, want the connection closed", len(all))
				}
				return
			}
			var hdr [4]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				t.Fatalf("reading: %v", err)
			}
			rep := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(c, rep); err != nil {
				t.Fatalf("reading: %v", err)
			}
			e, ok := kdcAsError(rep)
			if !ok || e.ErrorCode != tc.wantCode {
				t.Fatalf("got %v, want %s", e, errorcode.Lookup(tc.wantCode))
			}
		})
	}
}

// TestKDC_UDP covers one datagram per request, and RESPONSE_TOO_BIG for a
// reply larger than AD's MaxDatagramReplySize.
func TestKDC_UDP(t *testing.T) {
	kdcLeakCheck(t)
	k := startKDC(t, Config{Clock: clock.NewFake(testBase)})
	c, err := net.Dial("udp", k.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(req []byte) messages.KRBError {
		t.Helper()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(req); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := kdcAsError(buf[:n])
		if !ok {
			t.Fatalf("want a KRB-ERROR, got %d bytes", n)
		}
		return e
	}
	if e := exchange(kdcASReq(t, "HUB02$", kdcAES, nil, testBase)); e.ErrorCode != errorcode.KDC_ERR_PREAUTH_REQUIRED {
		t.Errorf("got %v, want PREAUTH_REQUIRED", e)
	}
	// A ticket echoes the request's addresses; 200 of them make the
	// AS-REP too big for one datagram.
	var r messages.ASReq
	key := kdcClientKey(t, k, "HUB02$", etypeID.AES256_CTS_HMAC_SHA1_96)
	if err := r.Unmarshal(kdcASReq(t, "HUB02$", kdcAES, &key, testBase)); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		r.ReqBody.Addresses = append(r.ReqBody.Addresses, types.HostAddressFromNetIP(net.IPv4(10, 0, byte(i), 1)))
	}
	big, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if e := exchange(big); e.ErrorCode != errorcode.KRB_ERR_RESPONSE_TOO_BIG {
		t.Errorf("got %v, want KRB_ERR_RESPONSE_TOO_BIG", e)
	}
	// Over TCP the same request gets its TGT.
	if e, isErr := kdcAsError(kdcRoundTrip(t, k.TCPAddr(), big)); isErr {
		t.Errorf("over TCP: %v", e)
	}
}

// TestKDC_SilentUDP checks that with SilentUDP a datagram is read and never
// answered, while TCP still answers.
func TestKDC_SilentUDP(t *testing.T) {
	kdcLeakCheck(t)
	k := startKDC(t, Config{Clock: clock.NewFake(testBase), Faults: Faults{SilentUDP: true}})
	c, err := net.Dial("udp", k.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(kdcASReq(t, "HUB02$", kdcAES, nil, testBase)); err != nil {
		t.Fatal(err)
	}
	// Wait until the KDC has read and dropped the datagram; the UDP loop
	// drops before it would write, so nothing can still be on its way.
	deadline := time.Now().Add(10 * time.Second)
	for k.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the KDC never read the datagram")
		}
		runtime.Gosched()
	}
	c.SetReadDeadline(time.Now())
	if n, err := c.Read(make([]byte, 1500)); err == nil {
		t.Fatalf("got a %d-byte answer over UDP", n)
	}
	if e, ok := kdcAsError(kdcRoundTrip(t, k.TCPAddr(), kdcASReq(t, "HUB02$", kdcAES, nil, testBase))); !ok || e.ErrorCode != errorcode.KDC_ERR_PREAUTH_REQUIRED {
		t.Errorf("TCP: got %v, want PREAUTH_REQUIRED", e)
	}
	if s := k.Stats(); s.ASRequests != 1 || s.Dropped != 1 {
		t.Errorf("Stats = %+v", s)
	}
}

// TestKDC_Unreachable checks the kdc-unreachable fault: TCP refused, UDP
// answered by ICMP port unreachable, the addresses still reported.
func TestKDC_Unreachable(t *testing.T) {
	kdcLeakCheck(t)
	k := startKDC(t, Config{Faults: Faults{Unreachable: true}})
	if k.TCPAddr() == "" || k.UDPAddr() == "" {
		t.Fatal("no addresses")
	}
	if c, err := net.Dial("tcp", k.TCPAddr()); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Errorf("TCP dial: %v, want connection refused", err)
	}
	c, err := net.Dial("udp", k.UDPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte{0x6a, 0x00})
	if _, err := c.Read(make([]byte, 100)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("UDP read: %v, want connection refused (ICMP port unreachable)", err)
	}
}

// TestKDC_Shutdown checks that Shutdown ends idle connections at once and
// that Close after Shutdown is harmless; kdcLeakCheck checks the goroutines.
func TestKDC_Shutdown(t *testing.T) {
	kdcLeakCheck(t)
	k, err := Start(Config{Realm: testRealm, Accounts: testAccounts()})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", k.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := kdcTCPExchange(c, kdcASReq(t, "HUB02$", kdcAES, nil, time.Now())); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := k.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := k.Close(); err != nil {
		t.Fatalf("Close after Shutdown: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection after Shutdown: %v, want EOF", err)
	}
}

// TestKDC_Concurrent runs many full AS and TGS exchanges at once, over TCP
// and UDP, for the race detector.
func TestKDC_Concurrent(t *testing.T) {
	kdcLeakCheck(t)
	k := startKDC(t, Config{Clock: clock.NewFake(testBase)})
	key := kdcClientKey(t, k, "HUB02$", etypeID.AES256_CTS_HMAC_SHA1_96)
	asReq := kdcASReq(t, "HUB02$", kdcAES, &key, testBase)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			network, addr := "tcp", k.TCPAddr()
			if i%2 == 1 {
				network, addr = "udp", k.UDPAddr()
			}
			c, err := net.Dial(network, addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			var rep []byte
			if network == "tcp" {
				rep, err = kdcTCPExchange(c, asReq)
			} else {
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err = c.Write(asReq); err == nil {
					buf := make([]byte, 65535)
					var n int
					n, err = c.Read(buf)
					rep = buf[:n]
				}
			}
			if err != nil {
				errs <- err
				return
			}
			var as messages.ASRep
			if err := as.Unmarshal(rep); err != nil {
				errs <- fmt.Errorf("%s: %v", network, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if s := k.Stats(); s.ASRequests != 40 || s.Errors != 0 {
		t.Errorf("Stats = %+v", s)
	}
}
