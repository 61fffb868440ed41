package krbclient

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/iana/patype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exauth/exauth/internal/clock"
)

// This file holds the in-test servers: scriptKDC, a loopback listener that
// answers each request with whatever a handler returns (canned bytes,
// garbage, silence), and labKDC, a handler that speaks just enough AS/TGS
// (built with gokrb5's messages and crypto) to drive the client's protocol
// logic deterministically, including faults the real fake KDC does not
// replay (nonce mismatch, a reply for another client).

// scriptKDC listens on loopback TCP and, when the port is free, UDP on the
// same port.
type scriptKDC struct {
	t      *testing.T
	tcp    net.Listener
	udp    net.PacketConn
	handle func(network string, req []byte) []byte
	// rawTCP writes the handler's bytes as they are, without the RFC 4120
	// length prefix, to replay broken framing.
	rawTCP bool
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
	seen  []string // network of each request, in order
}

func startScriptKDC(t *testing.T, withUDP bool, handle func(network string, req []byte) []byte, opts ...func(*scriptKDC)) *scriptKDC {
	t.Helper()
	k := &scriptKDC{t: t, handle: handle, conns: map[net.Conn]bool{}}
	for _, o := range opts {
		o(k)
	}
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if !withUDP {
			k.tcp = ln
			break
		}
		pc, err := net.ListenPacket("udp", ln.Addr().String())
		if err != nil {
			ln.Close()
			continue
		}
		k.tcp, k.udp = ln, pc
		break
	}
	if k.tcp == nil {
		t.Fatal("no port free on both TCP and UDP")
	}
	k.wg.Add(1)
	go k.acceptLoop()
	if k.udp != nil {
		k.wg.Add(1)
		go k.udpLoop()
	}
	t.Cleanup(k.close)
	return k
}

func (k *scriptKDC) addr() string { return k.tcp.Addr().String() }

func (k *scriptKDC) close() {
	k.tcp.Close()
	if k.udp != nil {
		k.udp.Close()
	}
	k.mu.Lock()
	for c := range k.conns {
		c.Close()
	}
	k.mu.Unlock()
	k.wg.Wait()
}

func (k *scriptKDC) requests() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.seen...)
}

func (k *scriptKDC) note(network string) {
	k.mu.Lock()
	k.seen = append(k.seen, network)
	k.mu.Unlock()
}

func (k *scriptKDC) acceptLoop() {
	defer k.wg.Done()
	for {
		c, err := k.tcp.Accept()
		if err != nil {
			return
		}
		k.mu.Lock()
		k.conns[c] = true
		k.mu.Unlock()
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			defer func() {
				k.mu.Lock()
				delete(k.conns, c)
				k.mu.Unlock()
				c.Close()
			}()
			var hdr [4]byte
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			req := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(c, req); err != nil {
				return
			}
			k.note(TCP)
			rep := k.handle(TCP, req)
			if rep == nil {
				return
			}
			if !k.rawTCP {
				binary.BigEndian.PutUint32(hdr[:], uint32(len(rep)))
				rep = append(hdr[:], rep...)
			}
			c.Write(rep)
			if k.rawTCP {
				return // broken framing: hang up, as a confused peer does
			}
			// Wait for the client to hang up, so a test that blocks
			// forever (handler returned nil) can also be cancelled.
			io.Copy(io.Discard, c)
		}()
	}
}

func (k *scriptKDC) udpLoop() {
	defer k.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := k.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		k.note(UDP)
		if rep := k.handle(UDP, append([]byte(nil), buf[:n]...)); rep != nil {
			k.udp.WriteTo(rep, from)
		}
	}
}

// krbError is a marshalled KRB-ERROR with the given stime.
func krbError(t testing.TB, code int32, stime time.Time, edata []byte) []byte {
	t.Helper()
	e := messages.NewKRBError(types.PrincipalName{NameType: nametype.KRB_NT_SRV_INST, NameString: []string{"krbtgt", "LAB.TEST"}}, "LAB.TEST", code, "canned")
	e.STime = stime.UTC().Truncate(time.Second)
	e.Susec = stime.Nanosecond() / 1000
	e.EData = edata
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	labRealm    = "LAB.TEST"
	labClient   = "HUB02$"
	labPassword = "correct horse battery staple"
)

// labKeytab is HUB02$'s keytab: aes256 and aes128 keys derived from
// labPassword with the default salt, kvno 2.
func labKeytab(t testing.TB) *keytab.Keytab {
	t.Helper()
	kt := keytab.New()
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, et := range []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96} {
		if err := kt.AddEntry(labClient, labRealm, labPassword, ts, 2, et); err != nil {
			t.Fatal(err)
		}
	}
	return kt
}

// labKDC answers AS-REQs and TGS-REQs for HUB02$@LAB.TEST. The knobs replay
// what a real KDC does (pre-authentication) and what a broken path does
// (wrong nonce, wrong client).
type labKDC struct {
	t       testing.TB
	clock   clock.Clock
	key     types.EncryptionKey // HUB02$'s aes256 key
	preauth bool
	spns    map[string]bool
	// faults
	nonceDelta int    // added to the nonce in replies
	cname      string // client name put in AS-REPs instead of the asked one

	mu         sync.Mutex
	sessionKey types.EncryptionKey // of the TGT last issued
	timestamps []time.Time         // PA-ENC-TIMESTAMPs received
	nAS, nTGS  int
}

func newLabKDC(t testing.TB, clk clock.Clock) *labKDC {
	key, _, err := labKeytab(t).GetEncryptionKey(types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, labClient), labRealm, 0, etypeID.AES256_CTS_HMAC_SHA1_96)
	if err != nil {
		t.Fatal(err)
	}
	return &labKDC{t: t, clock: clk, key: key, preauth: true, spns: map[string]bool{}}
}

func (l *labKDC) handle(_ string, req []byte) []byte {
	if len(req) > 0 && req[0] == 0x6a { // [APPLICATION 10] AS-REQ
		return l.as(req)
	}
	return l.tgs(req)
}

func (l *labKDC) now() time.Time { return clock.Or(l.clock).Now().UTC() }

func (l *labKDC) as(b []byte) []byte {
	var req messages.ASReq
	if err := req.Unmarshal(b); err != nil {
		return krbError(l.t, errorcode.KRB_ERR_GENERIC, l.now(), nil)
	}
	l.mu.Lock()
	l.nAS++
	l.mu.Unlock()
	if req.ReqBody.CName.PrincipalNameString() != labClient {
		return krbError(l.t, errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN, l.now(), nil)
	}
	var ts *types.PAData
	for i := range req.PAData {
		if req.PAData[i].PADataType == patype.PA_ENC_TIMESTAMP {
			ts = &req.PAData[i]
		}
	}
	if ts == nil && l.preauth {
		info, err := asn1.Marshal(types.ETypeInfo2{{EType: etypeID.AES256_CTS_HMAC_SHA1_96, Salt: labRealm + labClient}})
		if err != nil {
			l.t.Fatal(err)
		}
		edata, err := asn1.Marshal(types.PADataSequence{{PADataType: patype.PA_ETYPE_INFO2, PADataValue: info}})
		if err != nil {
			l.t.Fatal(err)
		}
		return krbError(l.t, errorcode.KDC_ERR_PREAUTH_REQUIRED, l.now(), edata)
	}
	if ts != nil {
		var ed types.EncryptedData
		if err := ed.Unmarshal(ts.PADataValue); err != nil {
			return krbError(l.t, errorcode.KDC_ERR_PREAUTH_FAILED, l.now(), nil)
		}
		plain, err := crypto.DecryptEncPart(ed, l.key, keyusage.AS_REQ_PA_ENC_TIMESTAMP)
		if err != nil {
			return krbError(l.t, errorcode.KDC_ERR_PREAUTH_FAILED, l.now(), nil)
		}
		var p types.PAEncTSEnc
		if err := p.Unmarshal(plain); err != nil {
			return krbError(l.t, errorcode.KDC_ERR_PREAUTH_FAILED, l.now(), nil)
		}
		l.mu.Lock()
		l.timestamps = append(l.timestamps, p.PATimestamp.Add(time.Duration(p.PAUSec)*time.Microsecond))
		l.mu.Unlock()
	}
	skey, err := types.GenerateEncryptionKey(mustEtype(l.t, etypeID.AES256_CTS_HMAC_SHA1_96))
	if err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	l.sessionKey = skey
	l.mu.Unlock()
	cname := req.ReqBody.CName
	if l.cname != "" {
		cname = types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, l.cname)
	}
	return l.reply(msgtype.KRB_AS_REP, cname, req.ReqBody.SName, req.ReqBody.Nonce, skey, l.key, keyusage.AS_REP_ENCPART, 2, false)
}

func (l *labKDC) tgs(b []byte) []byte {
	var req messages.TGSReq
	if err := req.Unmarshal(b); err != nil {
		return krbError(l.t, errorcode.KRB_ERR_GENERIC, l.now(), nil)
	}
	l.mu.Lock()
	l.nTGS++
	tgtKey := l.sessionKey
	l.mu.Unlock()
	if !l.spns[req.ReqBody.SName.PrincipalNameString()] {
		return krbError(l.t, errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN, l.now(), nil)
	}
	skey, err := types.GenerateEncryptionKey(mustEtype(l.t, etypeID.AES256_CTS_HMAC_SHA1_96))
	if err != nil {
		l.t.Fatal(err)
	}
	return l.reply(msgtype.KRB_TGS_REP, req.ReqBody.CName, req.ReqBody.SName, req.ReqBody.Nonce, skey, tgtKey, keyusage.TGS_REP_ENCPART_SESSION_KEY, 0, true)
}

// reply builds an AS-REP or TGS-REP whose ticket is opaque (the client never
// opens it) and whose encrypted part is sealed in replyKey.
func (l *labKDC) reply(mt int, cname, sname types.PrincipalName, nonce int, skey, replyKey types.EncryptionKey, usage uint32, kvno int, withStart bool) []byte {
	now := l.now().Truncate(time.Second)
	cipher := make([]byte, 64)
	rand.Read(cipher)
	tkt := messages.Ticket{TktVNO: 5, Realm: labRealm, SName: sname,
		EncPart: types.EncryptedData{EType: etypeID.AES256_CTS_HMAC_SHA1_96, KVNO: 3, Cipher: cipher}}
	part := messages.EncKDCRepPart{
		Key:      skey,
		LastReqs: []messages.LastReq{{LRType: 0, LRValue: now}},
		Nonce:    nonce + l.nonceDelta,
		Flags:    types.NewKrbFlags(),
		AuthTime: now,
		EndTime:  now.Add(10 * time.Hour),
		SRealm:   labRealm,
		SName:    sname,
	}
	if withStart {
		part.AuthTime = now.Add(-time.Minute)
		part.StartTime = now
	}
	pb, err := part.Marshal()
	if err != nil {
		l.t.Fatal(err)
	}
	ed, err := crypto.GetEncryptedData(pb, replyKey, usage, kvno)
	if err != nil {
		l.t.Fatal(err)
	}
	f := messages.KDCRepFields{PVNO: 5, MsgType: mt, CRealm: labRealm, CName: cname, Ticket: tkt, EncPart: ed}
	var b []byte
	if mt == msgtype.KRB_AS_REP {
		r := messages.ASRep{KDCRepFields: f}
		b, err = r.Marshal()
	} else {
		r := messages.TGSRep{KDCRepFields: f}
		b, err = r.Marshal()
	}
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

func (l *labKDC) counts() (as, tgs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nAS, l.nTGS
}

func (l *labKDC) seenTimestamps() []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.timestamps...)
}

func mustEtype(t testing.TB, id int32) etype.EType {
	t.Helper()
	et, err := crypto.GetEtype(id)
	if err != nil {
		t.Fatal(err)
	}
	return et
}

// deadAddr is a loopback address where nothing listens (TCP and UDP).
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
