package gssapi

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/krbkey"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/crypto"
	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// DefaultMaxSkew is Kerberos' customary allowed clock skew, also Active
// Directory's default ("Maximum tolerance for computer clock
// synchronization").
const DefaultMaxSkew = 5 * time.Minute

// ServerConfig configures the acceptor.
type ServerConfig struct {
	// Keytab holds the service's keys. Required.
	Keytab *keytab.Keytab
	// Service is the expected service principal, e.g.
	// "SMTPSVC/hub01.lab.test", optionally with "@REALM". The ticket's
	// sname (and realm, when given) must match, case-insensitively. Empty
	// accepts a ticket for any principal in the keytab.
	Service string
	// Clock is the acceptor's own clock (a scenario's skewed hub); nil
	// means the system clock.
	Clock clock.Clock
	// MaxSkew is the allowed clock skew; 0 means DefaultMaxSkew.
	MaxSkew time.Duration
	// Mode must be ModeSASL or ModeExchange.
	Mode Mode
	// Replay, when set, refuses authenticators seen before
	// (KRB_AP_ERR_REPEAT).
	Replay *ReplayCache
	// Keys, when set, keeps the keytab keys' derived keys from one Server
	// to the next: an acceptor that serves many sessions shares one.
	Keys *krbkey.Cache
}

type serverState int

const (
	serverNew         serverState = iota
	serverAwaitToken              // an empty challenge went out; the token is due
	serverAwaitEmpty              // ModeSASL: the AP-REP went out; the empty response is due
	serverAwaitChoice             // ModeSASL: the security-layer offer went out
	serverDone
	serverFailed
)

// Accepted describes an established security context.
type Accepted struct {
	// Client and Realm are the authenticated client (cname, crealm).
	Client types.PrincipalName
	Realm  string
	// Service is the ticket's service principal, "SMTPSVC/hub01.lab.test@LAB.TEST".
	Service string
	// EType and KVNO are the ticket's encryption type and key version.
	EType int32
	KVNO  int
	// Framing is how the client framed its token; the answer used the same.
	Framing Framing
	// Mutual is true when the client asked for, and got, an AP-REP.
	Mutual bool
	// ClientTime is the authenticator's time; Skew is ClientTime minus
	// the acceptor's clock (within the allowed skew, or it would have
	// failed).
	ClientTime time.Time
	Skew       time.Duration
	// AuthTime and EndTime come from the ticket.
	AuthTime, EndTime time.Time
	// AuthzID is the RFC 4752 authorization identity (ModeSASL only).
	AuthzID string
	// SessionKey is the context's session key: the authenticator subkey,
	// or the ticket's session key when there is none (as the initiator's
	// Client.SessionKey). It is a secret, bound by ExchangeAuth's hash.
	SessionKey []byte
}

// Principal returns "NAME@REALM".
func (a Accepted) Principal() string {
	return a.Client.PrincipalNameString() + "@" + a.Realm
}

// Server is the acceptor side of the GSSAPI mechanism. It implements
// sasl.Server. A Server serves one authentication and is not safe for
// concurrent use; share a ReplayCache, not a Server.
type Server struct {
	cfg      ServerConfig
	clk      clock.Clock
	skew     time.Duration
	svc      types.PrincipalName
	svcRealm string

	state    serverState
	err      error
	accepted Accepted
	key      wrapKey
	seq      uint64
}

var _ sasl.Server = (*Server)(nil)

// NewServer checks cfg and returns a Server ready for the client's first
// response.
func NewServer(cfg ServerConfig) (*Server, error) {
	if cfg.Keytab == nil {
		return nil, errors.New("gssapi: server needs a keytab")
	}
	if !cfg.Mode.valid() {
		return nil, fmt.Errorf("gssapi: server mode %v: want ModeSASL or ModeExchange", cfg.Mode)
	}
	if cfg.MaxSkew < 0 {
		return nil, fmt.Errorf("gssapi: negative MaxSkew %v", cfg.MaxSkew)
	}
	s := &Server{cfg: cfg, clk: clock.Or(cfg.Clock), skew: cfg.MaxSkew}
	if s.skew == 0 {
		s.skew = DefaultMaxSkew
	}
	if cfg.Service != "" {
		s.svc, s.svcRealm = types.ParseSPNString(cfg.Service)
		if slices.Contains(s.svc.NameString, "") {
			return nil, fmt.Errorf("gssapi: service principal %q has an empty component", cfg.Service)
		}
	}
	return s, nil
}

// Next consumes the client's response.
//
// A nil or empty first response (a client that waits for a challenge,
// as Exchange's X-EXPS does) yields an empty challenge. The client's
// context token is verified with the acceptor's clock; the answer is
// framed like the token (raw in, raw out; RFC 1964 in, RFC 1964 out;
// SPNEGO in, NegTokenResp out). In ModeExchange Next is then done and the
// challenge is the AP-REP (nil without mutual authentication), to be sent
// with the success reply. In ModeSASL the AP-REP goes out as a challenge,
// the client's empty response is answered with the wrapped security-layer
// offer ("no security layer"), and the client's wrapped choice completes
// the exchange.
//
// Every failure is an *AcceptError; after one, Next keeps returning it.
func (s *Server) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := s.next(response)
	if err != nil {
		s.state = serverFailed
		s.err = err
		return nil, false, err
	}
	if done {
		s.state = serverDone
	}
	return challenge, done, nil
}

func (s *Server) next(response []byte) ([]byte, bool, error) {
	switch s.state {
	case serverFailed:
		return nil, false, s.err
	case serverDone:
		return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_ERR_GENERIC, Detail: "response after the exchange completed", Err: sasl.ErrUnexpectedClientResponse}
	case serverNew:
		if len(response) == 0 {
			s.state = serverAwaitToken
			return []byte{}, false, nil
		}
		return s.accept(response)
	case serverAwaitToken:
		return s.accept(response)
	case serverAwaitEmpty:
		if len(response) != 0 {
			return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_ERR_GENERIC, Detail: fmt.Sprintf("expected the empty response after the AP-REP (RFC 4752 section 3.1), got %d octets", len(response))}
		}
		return s.offer()
	case serverAwaitChoice:
		return s.choice(response)
	}
	return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_ERR_GENERIC, Detail: "unknown state"}
}

func malformed(err error) *AcceptError {
	code := errorcode.KRB_ERR_GENERIC
	var ke messages.KRBError
	if errors.As(err, &ke) {
		code = ke.ErrorCode
	}
	return &AcceptError{Reason: ReasonMalformed, Code: code, Err: err}
}

// accept verifies the AP-REQ: RFC 4120 section 3.2.3, with the acceptor's
// own clock (gokrb5's APReq.Verify reads time.Now, which a scenario with a
// skewed hub cannot use).
func (s *Server) accept(b []byte) ([]byte, bool, error) {
	ct, err := parseClientToken(b)
	if err != nil {
		return nil, false, malformed(err)
	}
	ap := ct.apReq
	if ap.PVNO != iana.PVNO || ap.Ticket.TktVNO != iana.PVNO {
		return nil, false, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_AP_ERR_BADVERSION, Detail: fmt.Sprintf("protocol version %d, ticket version %d", ap.PVNO, ap.Ticket.TktVNO)}
	}
	if bitSet(ap.APOptions, flags.APOptionUseSessionKey) {
		return nil, false, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_AP_ERR_METHOD, Detail: "user-to-user authentication is not supported"}
	}
	if len(ap.Ticket.SName.NameString) == 0 {
		return nil, false, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_ERR_GENERIC, Detail: "the ticket has an empty service name"}
	}
	sname := ap.Ticket.SName.PrincipalNameString() + "@" + ap.Ticket.Realm
	if !s.serviceMatches(ap.Ticket.SName, ap.Ticket.Realm) {
		return nil, false, &AcceptError{Reason: ReasonWrongService, Code: errorcode.KRB_AP_ERR_NOT_US, Detail: fmt.Sprintf("ticket for %s, this acceptor is %s", sname, s.cfg.Service)}
	}
	tkt, aerr := s.decryptTicket(ap.Ticket, sname)
	if aerr != nil {
		return nil, false, aerr
	}
	ap.Ticket = tkt
	enc := tkt.DecryptedEncPart
	if err := checkCipher(ap.EncryptedAuthenticator, enc.Key); err != nil {
		return nil, false, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_ERR_GENERIC, Detail: "the encrypted authenticator", Err: err}
	}
	if err := s.openAuthenticator(&ap, enc.Key); err != nil {
		return nil, false, &AcceptError{Reason: ReasonIntegrity, Code: errorcode.KRB_AP_ERR_BAD_INTEGRITY, Detail: "the authenticator does not decrypt with the ticket's session key", Err: err}
	}
	auth := ap.Authenticator
	if !auth.CName.Equal(enc.CName) || auth.CRealm != enc.CRealm {
		return nil, false, &AcceptError{Reason: ReasonIntegrity, Code: errorcode.KRB_AP_ERR_BADMATCH,
			Detail: fmt.Sprintf("authenticator names %s@%s, ticket names %s@%s", auth.CName.PrincipalNameString(), auth.CRealm, enc.CName.PrincipalNameString(), enc.CRealm)}
	}
	now := s.clk.Now().UTC()
	ctime := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := ctime.Sub(now); d > s.skew || -d > s.skew {
		return nil, false, &AcceptError{Reason: ReasonSkew, Code: errorcode.KRB_AP_ERR_SKEW, Skew: d,
			Detail: fmt.Sprintf("authenticator time %s, acceptor clock %s, allowed skew %v", ctime.Format(time.RFC3339), now.Format(time.RFC3339), s.skew)}
	}
	start := enc.StartTime
	if start.IsZero() {
		start = enc.AuthTime
	}
	if d := start.Sub(now); d > s.skew || bitSet(enc.Flags, flags.Invalid) {
		return nil, false, &AcceptError{Reason: ReasonNotYetValid, Code: errorcode.KRB_AP_ERR_TKT_NYV, Skew: d,
			Detail: fmt.Sprintf("ticket starts %s, acceptor clock %s", start.Format(time.RFC3339), now.Format(time.RFC3339))}
	}
	if now.Sub(enc.EndTime) > s.skew {
		return nil, false, &AcceptError{Reason: ReasonExpired, Code: errorcode.KRB_AP_ERR_TKT_EXPIRED,
			Detail: fmt.Sprintf("ticket ended %s, acceptor clock %s", enc.EndTime.Format(time.RFC3339), now.Format(time.RFC3339))}
	}
	if s.cfg.Replay != nil && s.cfg.Replay.seen(sname, ap.EncryptedAuthenticator.Cipher, ctime, now, s.skew) {
		return nil, false, &AcceptError{Reason: ReasonReplay, Code: errorcode.KRB_AP_ERR_REPEAT,
			Detail: fmt.Sprintf("authenticator of %s@%s at %s was presented before", auth.CName.PrincipalNameString(), auth.CRealm, ctime.Format(time.RFC3339Nano))}
	}

	// RFC 4121 section 4.1.1: the GSS checksum carries the context flags.
	var gssFlags uint32
	if auth.Cksum.CksumType == chksumtype.GSSAPI {
		if len(auth.Cksum.Checksum) < 24 {
			return nil, false, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_AP_ERR_INAPP_CKSUM, Detail: fmt.Sprintf("GSS authenticator checksum of %d octets, want at least 24", len(auth.Cksum.Checksum))}
		}
		gssFlags = binary.LittleEndian.Uint32(auth.Cksum.Checksum[20:24])
	}
	mutual := bitSet(ap.APOptions, flags.APOptionMutualRequired) || gssFlags&krbgss.ContextFlagMutual != 0

	// Per-message key (RFC 4121 section 2): the initiator's subkey, or the
	// session key; replaced by an acceptor subkey sent in the AP-REP.
	s.key = wrapKey{key: enc.Key}
	if len(auth.SubKey.KeyValue) > 0 {
		if _, err := crypto.GetEtype(auth.SubKey.KeyType); err == nil {
			s.key = wrapKey{key: auth.SubKey}
		}
	}
	s.seq = uint64(uint32(auth.SeqNumber))
	var apRep []byte
	if mutual {
		apRep, err = s.buildAPRep(auth, enc.Key)
		if err != nil {
			return nil, false, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_ERR_GENERIC, Detail: "building the AP-REP", Err: err}
		}
	}
	out, err := frameServerToken(apRep, ct)
	if err != nil {
		return nil, false, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_ERR_GENERIC, Detail: "framing the answer", Err: err}
	}
	s.accepted = Accepted{
		Client:     auth.CName,
		Realm:      auth.CRealm,
		Service:    sname,
		EType:      ap.Ticket.EncPart.EType,
		KVNO:       ap.Ticket.EncPart.KVNO,
		Framing:    ct.framing,
		Mutual:     mutual,
		ClientTime: ctime,
		Skew:       ctime.Sub(now),
		AuthTime:   enc.AuthTime,
		EndTime:    enc.EndTime,
		SessionKey: enc.Key.KeyValue,
	}
	if len(auth.SubKey.KeyValue) > 0 {
		s.accepted.SessionKey = auth.SubKey.KeyValue
	}
	if s.cfg.Mode == ModeExchange {
		return out, true, nil
	}
	if out != nil {
		s.state = serverAwaitEmpty
		return out, false, nil
	}
	// No output token: RFC 4752 goes straight to the security-layer offer.
	return s.offer()
}

// buildAPRep echoes the authenticator's time (RFC 4120 section 3.2.4) and
// sends an acceptor subkey and sequence number, as Windows does.
func (s *Server) buildAPRep(auth types.Authenticator, sessionKey types.EncryptionKey) ([]byte, error) {
	et, err := crypto.GetEtype(sessionKey.KeyType)
	if err != nil {
		return nil, err
	}
	subkey, err := types.GenerateEncryptionKey(et)
	if err != nil {
		return nil, err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1<<30))
	if err != nil {
		return nil, err
	}
	seq := n.Int64()
	part, err := marshalEncAPRepPart(messages.EncAPRepPart{
		CTime:          auth.CTime,
		Cusec:          auth.Cusec,
		Subkey:         subkey,
		SequenceNumber: seq,
	})
	if err != nil {
		return nil, err
	}
	key, err := s.cfg.Keys.Key(sessionKey)
	if err != nil {
		return nil, err
	}
	ed, err := key.Encrypt(part, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	rep, err := marshalAPRep(messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: ed})
	if err != nil {
		return nil, err
	}
	s.key = wrapKey{key: subkey, acceptorSubkey: true}
	s.seq = uint64(seq)
	return rep, nil
}

// offer sends RFC 4752's wrapped 4 octets: the layers the server supports
// (only "no security layer") and its maximum message size (0: none).
func (s *Server) offer() ([]byte, bool, error) {
	tok, err := wrap([]byte{layerNone, 0, 0, 0}, s.key, true, s.seq)
	if err != nil {
		return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_ERR_GENERIC, Detail: "wrapping the security-layer offer", Err: err}
	}
	s.state = serverAwaitChoice
	return tok, false, nil
}

// choice checks the client's wrapped security-layer choice and records its
// authorization identity.
func (s *Server) choice(b []byte) ([]byte, bool, error) {
	p, err := unwrap(b, s.key, false)
	if err != nil {
		return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_AP_ERR_BAD_INTEGRITY, Detail: "the client's security-layer choice does not unwrap", Err: err}
	}
	if len(p) < 4 {
		return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_ERR_GENERIC, Detail: fmt.Sprintf("the security-layer choice is %d octets, RFC 4752 says at least 4", len(p))}
	}
	if p[0] != layerNone {
		return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_ERR_GENERIC, Detail: fmt.Sprintf("the client chose security layer 0x%02x; only 0x01 (none) was offered", p[0])}
	}
	authz := p[4:]
	if !utf8.Valid(authz) {
		return nil, false, &AcceptError{Reason: ReasonProtocol, Code: errorcode.KRB_ERR_GENERIC, Detail: "the authorization identity is not UTF-8"}
	}
	s.accepted.AuthzID = string(authz)
	return nil, true, nil
}

func (s *Server) serviceMatches(sname types.PrincipalName, realm string) bool {
	if len(s.svc.NameString) == 0 {
		return true
	}
	if s.svcRealm != "" && !strings.EqualFold(s.svcRealm, realm) {
		return false
	}
	return namesEqualFold(s.svc.NameString, sname.NameString)
}

func namesEqualFold(a, b []string) bool {
	return slices.EqualFunc(a, b, strings.EqualFold)
}

// decryptTicket picks the keytab key for the ticket and decrypts it,
// telling apart the three ways that fails: no key of that version, no key
// of that type, and a key that does not decrypt (another account's key).
func (s *Server) decryptTicket(t messages.Ticket, sname string) (messages.Ticket, *AcceptError) {
	type cand struct {
		key  types.EncryptionKey
		kvno uint32
		ts   time.Time
	}
	var forService []cand
	for _, e := range s.cfg.Keytab.Entries {
		if strings.EqualFold(e.Principal.Realm, t.Realm) && namesEqualFold(e.Principal.Components, t.SName.NameString) {
			forService = append(forService, cand{key: e.Key, kvno: e.KVNO, ts: e.Timestamp})
		}
	}
	if len(forService) == 0 {
		// Windows finds an account's keys by account, not by SPN: a ticket
		// for any SPN of the account decrypts with them, and keytabs
		// exported from AD (ktpass, samba-tool) name the account only.
		for _, e := range s.cfg.Keytab.Entries {
			if strings.EqualFold(e.Principal.Realm, t.Realm) {
				forService = append(forService, cand{key: e.Key, kvno: e.KVNO, ts: e.Timestamp})
			}
		}
	}
	if len(forService) == 0 {
		if len(s.svc.NameString) == 0 {
			return t, &AcceptError{Reason: ReasonWrongService, Code: errorcode.KRB_AP_ERR_NOT_US, Detail: fmt.Sprintf("the keytab holds no key for %s", sname)}
		}
		return t, &AcceptError{Reason: ReasonKeyVersion, Code: errorcode.KRB_AP_ERR_NOKEY, Detail: fmt.Sprintf("the keytab holds no key for %s", sname)}
	}
	kvno := t.EncPart.KVNO
	var ofVersion []cand
	var held []uint32
	for _, c := range forService {
		if !slices.Contains(held, c.kvno) {
			held = append(held, c.kvno)
		}
		// Entries of version 0 are keys derived from a password, whose
		// version nobody knows: they may be of any version.
		if kvno == 0 || c.kvno == 0 || c.kvno == uint32(kvno) {
			ofVersion = append(ofVersion, c)
		}
	}
	if len(ofVersion) == 0 {
		slices.Sort(held)
		return t, &AcceptError{Reason: ReasonKeyVersion, Code: errorcode.KRB_AP_ERR_BADKEYVER, Detail: fmt.Sprintf("ticket for %s is encrypted with key version %d; the keytab holds versions %v", sname, kvno, held)}
	}
	var keys []cand
	var held_types []string
	for _, c := range ofVersion {
		if c.key.KeyType == t.EncPart.EType {
			keys = append(keys, c)
		}
		if n := enctype.Name(c.key.KeyType); !slices.Contains(held_types, n) {
			held_types = append(held_types, n)
		}
	}
	if len(keys) == 0 {
		return t, &AcceptError{Reason: ReasonEncType, Code: errorcode.KRB_AP_ERR_NOKEY, Detail: fmt.Sprintf("ticket for %s is encrypted with %s (key version %d); the keytab holds %s for that version", sname, enctype.Name(t.EncPart.EType), kvno, strings.Join(held_types, ", "))}
	}
	if err := checkCipher(t.EncPart, keys[0].key); err != nil {
		return t, &AcceptError{Reason: ReasonMalformed, Code: errorcode.KRB_ERR_GENERIC, Detail: "the ticket's encrypted part", Err: err}
	}
	// Newest first, as keytab.GetEncryptionKey prefers.
	slices.SortStableFunc(keys, func(a, b cand) int { return b.ts.Compare(a.ts) })
	var lastErr error
	for _, c := range keys {
		tt := t
		if err := s.openTicket(&tt, c.key); err != nil {
			lastErr = err
			continue
		}
		return tt, nil
	}
	return t, &AcceptError{Reason: ReasonKeyMismatch, Code: errorcode.KRB_AP_ERR_MODIFIED,
		Detail: fmt.Sprintf("ticket for %s (key version %d, %s) does not decrypt with the keytab's key", sname, kvno, enctype.Name(t.EncPart.EType)), Err: lastErr}
}

// openAuthenticator is messages.APReq.DecryptAuthenticator with the
// ticket's session key as a krbkey.Key from ServerConfig.Keys: a client
// that reuses its ticket (a sending server, exauth check's targets) brings
// the same session key every time, so its derived keys are kept too.
func (s *Server) openAuthenticator(ap *messages.APReq, sessionKey types.EncryptionKey) error {
	usage := uint32(keyusage.AP_REQ_AUTHENTICATOR)
	if ap.Ticket.SName.NameString[0] == "krbtgt" {
		usage = keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR
	}
	k, err := s.cfg.Keys.Key(sessionKey)
	if err != nil {
		return fmt.Errorf("error decrypting authenticator: %v", err)
	}
	b, err := k.Decrypt(ap.EncryptedAuthenticator.Cipher, usage)
	if err != nil {
		return fmt.Errorf("error decrypting authenticator: %v", err)
	}
	if err := ap.Authenticator.Unmarshal(b); err != nil {
		return fmt.Errorf("error unmarshaling authenticator: %v", err)
	}
	return nil
}

// openTicket is messages.Ticket.Decrypt with the service key's
// krbkey.Key, its derived keys kept in ServerConfig.Keys.
func (s *Server) openTicket(t *messages.Ticket, key types.EncryptionKey) error {
	k, err := s.cfg.Keys.Key(key)
	if err != nil {
		return fmt.Errorf("error decrypting Ticket EncPart: %v", err)
	}
	b, err := k.Decrypt(t.EncPart.Cipher, keyusage.KDC_REP_TICKET)
	if err != nil {
		return fmt.Errorf("error decrypting Ticket EncPart: %v", err)
	}
	var part messages.EncTicketPart
	if err := part.Unmarshal(b); err != nil {
		return fmt.Errorf("error unmarshaling encrypted part: %v", err)
	}
	t.DecryptedEncPart = part
	return nil
}

// bitSet reads a Kerberos flag without trusting the BitString's length.
func bitSet(b asn1.BitString, i int) bool {
	if i < 0 || i/8 >= len(b.Bytes) {
		return false
	}
	return b.Bytes[i/8]&(0x80>>uint(i%8)) != 0
}

// Principal returns the authenticated client, "HUB02$@LAB.TEST", once the
// exchange is done, and "" before.
func (s *Server) Principal() string {
	if s.state != serverDone {
		return ""
	}
	return s.accepted.Principal()
}

// Accepted describes the security context; ok is false until the client's
// token has been verified.
func (s *Server) Accepted() (a Accepted, ok bool) {
	switch s.state {
	case serverAwaitEmpty, serverAwaitChoice, serverDone:
		return s.accepted, true
	}
	return Accepted{}, false
}

// Done reports whether the exchange completed successfully.
func (s *Server) Done() bool { return s.state == serverDone }
