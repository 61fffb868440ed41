package gssapi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/krbkey"
	"github.com/jcmturner/gokrb5/v8/crypto"
	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Mechanism is the SASL mechanism name (RFC 4752), also the argument of
// Exchange's X-EXPS verb.
const Mechanism = "GSSAPI"

// Mode selects the exchange around the GSS-API context tokens.
type Mode int

const (
	// ModeSASL is RFC 4752 (AUTH GSSAPI): after the context is
	// established, the acceptor sends a wrapped 4-octet security-layer
	// offer and the initiator answers with a wrapped choice and its
	// authorization identity.
	ModeSASL Mode = iota + 1
	// ModeExchange is Exchange Server authentication (X-EXPS GSSAPI): one
	// token from the initiator, the AP-REP back with the success reply, no
	// security-layer step.
	ModeExchange
)

func (m Mode) String() string {
	switch m {
	case ModeSASL:
		return "sasl"
	case ModeExchange:
		return "exchange"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

func (m Mode) valid() bool { return m == ModeSASL || m == ModeExchange }

// ClientConfig configures the initiator. The caller has already obtained
// the service ticket (AS and TGS exchanges are not this package's job).
type ClientConfig struct {
	Ticket     messages.Ticket
	SessionKey types.EncryptionKey
	// Client and Realm are the cname and crealm put in the authenticator;
	// they must be those of the ticket.
	Client types.PrincipalName
	Realm  string
	// Clock stamps the authenticator; nil means the system clock.
	Clock clock.Clock
	// Mode must be ModeSASL or ModeExchange.
	Mode Mode
	// Mutual requests mutual authentication: the acceptor must answer
	// with an AP-REP, which the client verifies.
	Mutual bool
	// AuthzID is the RFC 4752 authorization identity, usually empty.
	AuthzID string
	// SPNEGO wraps the initial token in an SPNEGO NegTokenInit instead of
	// sending the RFC 1964 Kerberos token itself.
	SPNEGO bool
	// Keys, when set, keeps the session key's derived keys for the next
	// Client of the same ticket: a sender that authenticates many
	// sessions with one cached ticket derives them once.
	Keys *krbkey.Cache
}

type clientState int

const (
	clientNew        clientState = iota
	clientStarted                // Start returned the token; it may not be sent yet
	clientAwaitReply             // the token was sent; the server's context token is due
	clientAwaitLayer             // ModeSASL: the wrapped security-layer offer is due
	clientDone
	clientFailed
)

// Client is the initiator side of the GSSAPI mechanism. It implements
// sasl.Client. A Client serves one authentication and is not safe for
// concurrent use.
type Client struct {
	cfg   ClientConfig
	clk   clock.Clock
	state clientState
	err   error

	token         []byte // the initial context token
	auth          types.Authenticator
	mutual        bool
	key           wrapKey
	serverFraming Framing
}

var _ sasl.Client = (*Client)(nil)

// NewClient checks cfg and returns a Client ready to Start.
func NewClient(cfg ClientConfig) (*Client, error) {
	if !cfg.Mode.valid() {
		return nil, fmt.Errorf("gssapi: client mode %v: want ModeSASL or ModeExchange", cfg.Mode)
	}
	if len(cfg.Ticket.SName.NameString) == 0 {
		return nil, errors.New("gssapi: the ticket has no service name")
	}
	if len(cfg.Client.NameString) == 0 || cfg.Realm == "" {
		return nil, errors.New("gssapi: client name and realm are required")
	}
	if _, err := crypto.GetEtype(cfg.SessionKey.KeyType); err != nil {
		return nil, fmt.Errorf("gssapi: session key: %w", err)
	}
	return &Client{cfg: cfg, clk: clock.Or(cfg.Clock)}, nil
}

// Start builds the AP-REQ and returns the mechanism name "GSSAPI" and the
// initial context token (RFC 1964 framing, or SPNEGO when configured).
//
// In ModeSASL the token is the SASL initial response; a caller that does
// not send initial responses hands the server's first, empty challenge to
// Next, which returns the same token. In ModeExchange the caller sends the
// token itself after the server's empty 334, and hands Next only what the
// server answers to it.
func (c *Client) Start() (string, []byte, error) {
	if c.state != clientNew {
		return "", nil, &InitError{Reason: ReasonProtocol, Detail: "Start called twice"}
	}
	tok, err := c.initialToken()
	if err != nil {
		c.state = clientFailed
		c.err = err
		return "", nil, err
	}
	c.token = tok
	c.state = clientStarted
	return Mechanism, tok, nil
}

func (c *Client) initialToken() ([]byte, error) {
	auth, err := types.NewAuthenticator(c.cfg.Realm, c.cfg.Client)
	if err != nil {
		return nil, fmt.Errorf("gssapi: authenticator: %w", err)
	}
	// The authenticator's time comes from the injected clock; the wire
	// carries whole seconds plus microseconds.
	now := c.clk.Now().UTC()
	auth.CTime = now.Truncate(time.Second)
	auth.Cusec = now.Nanosecond() / int(time.Microsecond)
	et, err := crypto.GetEtype(c.cfg.SessionKey.KeyType)
	if err != nil {
		return nil, fmt.Errorf("gssapi: session key: %w", err)
	}
	// An initiator subkey, as MIT and Windows send, protects the
	// security-layer tokens unless the acceptor replaces it.
	if err := auth.GenerateSeqNumberAndSubKey(c.cfg.SessionKey.KeyType, et.GetKeyByteSize()); err != nil {
		return nil, fmt.Errorf("gssapi: subkey: %w", err)
	}
	gssFlags := uint32(krbgss.ContextFlagInteg | krbgss.ContextFlagSequence)
	if c.cfg.Mutual {
		gssFlags |= krbgss.ContextFlagMutual
	}
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: gssChecksum(gssFlags)}
	apReq, err := c.newAPReq(auth)
	if err != nil {
		return nil, fmt.Errorf("gssapi: AP-REQ: %w", err)
	}
	if c.cfg.Mutual {
		types.SetFlag(&apReq.APOptions, flags.APOptionMutualRequired)
	}
	b, err := apReq.Marshal()
	if err != nil {
		return nil, fmt.Errorf("gssapi: AP-REQ: %w", err)
	}
	c.auth = auth
	c.key = wrapKey{key: auth.SubKey}
	return frameClientToken(b, c.cfg.SPNEGO)
}

// gssChecksum is the RFC 4121 section 4.1.1 authenticator checksum
// (type 0x8003): Lgth 16, zero channel bindings, context flags.
func gssChecksum(flags uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:4], 16)
	binary.LittleEndian.PutUint32(b[20:24], flags)
	return b
}

// Next consumes the server's challenge.
//
// In ModeSASL, an empty challenge before any server token returns the
// initial token (see Start). Then Next accepts the server's context token in any framing (raw AP-REP,
// RFC 1964, SPNEGO NegTokenResp), verifies the AP-REP (mutual
// authentication) and then: in ModeExchange returns a nil response and is
// done; in ModeSASL returns an empty, non-nil response and expects the
// wrapped security-layer offer, to which it answers with a wrapped "no
// security layer" and the authorization identity.
//
// An empty challenge where the AP-REP is due (in ModeExchange: a bare
// "235", which the caller should hand to Next as nil) means the server
// skipped mutual authentication; Mutual then stays false and the caller
// decides whether that is acceptable. Malformed data yields an
// *InitError; a KRB-ERROR from the server yields an *InitError wrapping
// the messages.KRBError.
func (c *Client) Next(challenge []byte) ([]byte, error) {
	resp, err := c.next(challenge)
	if err != nil {
		c.state = clientFailed
		c.err = err
	}
	return resp, err
}

func (c *Client) next(challenge []byte) ([]byte, error) {
	switch c.state {
	case clientNew:
		return nil, &InitError{Reason: ReasonProtocol, Detail: "Next called before Start"}
	case clientFailed:
		return nil, c.err
	case clientDone:
		return nil, &InitError{Reason: ReasonProtocol, Detail: "challenge after the exchange completed", Err: sasl.ErrUnexpectedServerChallenge}
	case clientStarted:
		c.state = clientAwaitReply
		if len(challenge) == 0 && c.cfg.Mode == ModeSASL {
			// A protocol without initial responses: the server's empty
			// challenge asks for the token (RFC 4422 section 5).
			return c.token, nil
		}
		return c.reply(challenge)
	case clientAwaitReply:
		return c.reply(challenge)
	case clientAwaitLayer:
		return c.layer(challenge)
	}
	return nil, &InitError{Reason: ReasonProtocol, Detail: "unknown state"}
}

// reply handles the server's answer to the initial token.
func (c *Client) reply(challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		// The server's context completed without an output token: no
		// mutual authentication.
		return c.afterContext()
	}
	st, err := parseServerToken(challenge)
	if err != nil {
		return nil, &InitError{Reason: ReasonMalformed, Err: err}
	}
	c.serverFraming = st.framing
	if st.framing == FramingSPNEGO && st.negState == spnego.NegStateReject {
		code := int32(0)
		var wrapped error
		if st.kind == kindKRBError {
			code, wrapped = st.krbError.ErrorCode, st.krbError
		}
		return nil, &InitError{Reason: ReasonPeerError, Code: code, Detail: "SPNEGO negState reject", Err: wrapped}
	}
	switch st.kind {
	case kindKRBError:
		return nil, &InitError{Reason: ReasonPeerError, Code: st.krbError.ErrorCode, Err: st.krbError}
	case kindSPNEGOAccept:
		return c.afterContext()
	case kindWrap, kindLegacyWrap:
		// RFC 4752 without mutual authentication: the server went
		// straight to the security-layer offer.
		if c.cfg.Mode != ModeSASL {
			return nil, &InitError{Reason: ReasonProtocol, Detail: "a wrap token in X-EXPS mode"}
		}
		c.state = clientAwaitLayer
		return c.layer(challenge)
	case kindAPRep:
		if err := c.verifyAPRep(st.apRep); err != nil {
			return nil, err
		}
		return c.afterContext()
	}
	return nil, &InitError{Reason: ReasonMalformed, Detail: "unexpected token"}
}

func (c *Client) afterContext() ([]byte, error) {
	if c.cfg.Mode == ModeExchange {
		c.state = clientDone
		return nil, nil
	}
	c.state = clientAwaitLayer
	// RFC 4752 section 3.1: GSS_Init_sec_context completed without an
	// output token, so the client sends an empty response. It must be
	// non-nil: go-smtp's client stops on a nil response.
	return []byte{}, nil
}

// newAPReq is messages.NewAPReq with the authenticator sealed by the
// session key's krbkey.Key (key usage 11; 7 for a TGT, as gokrb5 has it).
func (c *Client) newAPReq(auth types.Authenticator) (messages.APReq, error) {
	m, err := auth.Marshal()
	if err != nil {
		return messages.APReq{}, fmt.Errorf("marshaling the authenticator: %w", err)
	}
	key, err := c.cfg.Keys.Key(c.cfg.SessionKey)
	if err != nil {
		return messages.APReq{}, err
	}
	usage := uint32(keyusage.AP_REQ_AUTHENTICATOR)
	if c.cfg.Ticket.SName.NameString[0] == "krbtgt" {
		usage = keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR
	}
	ed, err := key.Encrypt(m, usage, c.cfg.Ticket.EncPart.KVNO)
	if err != nil {
		return messages.APReq{}, fmt.Errorf("encrypting the authenticator: %w", err)
	}
	return messages.APReq{
		PVNO:                   iana.PVNO,
		MsgType:                msgtype.KRB_AP_REQ,
		APOptions:              types.NewKrbFlags(),
		Ticket:                 c.cfg.Ticket,
		EncryptedAuthenticator: ed,
	}, nil
}

// verifyAPRep is RFC 4120 section 3.2.5 on the client side: the AP-REP
// decrypts with the session key (key usage 12) and echoes the
// authenticator's ctime and cusec.
func (c *Client) verifyAPRep(rep messages.APRep) error {
	if err := checkCipher(rep.EncPart, c.cfg.SessionKey); err != nil {
		return &InitError{Reason: ReasonMalformed, Detail: "the AP-REP's encrypted part", Err: err}
	}
	key, err := c.cfg.Keys.Key(c.cfg.SessionKey)
	var b []byte
	if err == nil {
		b, err = key.Decrypt(rep.EncPart.Cipher, keyusage.AP_REP_ENCPART)
	}
	if err != nil {
		return &InitError{Reason: ReasonMutualFailed, Code: errorcode.KRB_AP_ERR_MUT_FAIL, Detail: "the AP-REP does not decrypt with the session key", Err: err}
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(b); err != nil {
		return &InitError{Reason: ReasonMutualFailed, Code: errorcode.KRB_AP_ERR_MUT_FAIL, Detail: "the AP-REP's encrypted part is not an EncAPRepPart", Err: err}
	}
	if !part.CTime.Equal(c.auth.CTime) || part.Cusec != c.auth.Cusec {
		return &InitError{Reason: ReasonMutualFailed, Code: errorcode.KRB_AP_ERR_MUT_FAIL,
			Detail: fmt.Sprintf("the AP-REP echoes %s.%06d, the authenticator said %s.%06d",
				part.CTime.UTC().Format(time.RFC3339), part.Cusec, c.auth.CTime.Format(time.RFC3339), c.auth.Cusec)}
	}
	if len(part.Subkey.KeyValue) > 0 {
		if _, err := crypto.GetEtype(part.Subkey.KeyType); err != nil {
			return &InitError{Reason: ReasonMalformed, Detail: "the AP-REP's subkey has an unsupported type", Err: err}
		}
		c.key = wrapKey{key: part.Subkey, acceptorSubkey: true}
	}
	c.mutual = true
	return nil
}

// layer answers the RFC 4752 section 3.1 security-layer offer.
func (c *Client) layer(challenge []byte) ([]byte, error) {
	offer, err := c.unwrap(challenge, "the security-layer offer")
	if err != nil {
		return nil, err
	}
	choice, err := NoSecurityLayer(offer, c.cfg.AuthzID)
	if err != nil {
		return nil, err
	}
	out, err := c.wrap(choice, "wrapping the security-layer choice")
	if err != nil {
		return nil, err
	}
	c.state = clientDone
	return out, nil
}

// NoSecurityLayer answers an RFC 4752 section 3.1 security-layer offer
// (the acceptor's 4 octets, unwrapped) with "no security layer", a
// maximum message size of 0 (RFC 4752: it MUST be 0 when the client
// supports no layer) and the authorization identity. An offer of another
// length, or one without "no security layer", is an *InitError.
func NoSecurityLayer(offer []byte, authzID string) ([]byte, error) {
	if len(offer) != 4 {
		return nil, &InitError{Reason: ReasonProtocol, Detail: fmt.Sprintf("the security-layer offer is %d octets, RFC 4752 says 4", len(offer))}
	}
	if offer[0]&layerNone == 0 {
		return nil, &InitError{Reason: ReasonUnsupported, Detail: fmt.Sprintf("the server requires a security layer (offer 0x%02x); this client supports none", offer[0])}
	}
	return append([]byte{layerNone, 0, 0, 0}, authzID...), nil
}

// Unwrap is GSS_Unwrap of a token from the acceptor, without
// confidentiality (RFC 4121 section 4.2.6.2), on the context Next
// established: it verifies the token with the context's key and returns
// its payload. Errors are *InitError.
func (c *Client) Unwrap(token []byte) ([]byte, error) {
	return c.unwrap(token, "the acceptor's wrap token")
}

func (c *Client) unwrap(token []byte, what string) ([]byte, error) {
	payload, err := unwrap(token, c.key, true)
	if err != nil {
		reason := ReasonMalformed
		if errors.Is(err, errLegacyWrap) || errors.Is(err, errSealed) {
			reason = ReasonUnsupported
		}
		return nil, &InitError{Reason: reason, Detail: what, Err: err}
	}
	return payload, nil
}

// Wrap is GSS_Wrap without confidentiality: an RFC 4121 wrap token from
// the initiator, protected with the context's key and sequence number.
// Errors are *InitError.
func (c *Client) Wrap(payload []byte) ([]byte, error) {
	return c.wrap(payload, "wrapping a message for the acceptor")
}

func (c *Client) wrap(payload []byte, what string) ([]byte, error) {
	out, err := wrap(payload, c.key, false, uint64(uint32(c.auth.SeqNumber)))
	if err != nil {
		return nil, &InitError{Reason: ReasonProtocol, Detail: what, Err: err}
	}
	return out, nil
}

// Mutual reports whether the server proved knowledge of the session key
// with a verified AP-REP.
func (c *Client) Mutual() bool { return c.mutual }

// SessionKey is the context's session key once Start has built the token:
// the authenticator subkey, or the ticket's session key when there is
// none. It is what SSPI's SECPKG_ATTR_SESSION_KEY reports for a context
// without mutual authentication, and what Exchange's ExchangeAuth hash
// binds. It is a secret.
func (c *Client) SessionKey() []byte {
	if len(c.auth.SubKey.KeyValue) > 0 {
		return c.auth.SubKey.KeyValue
	}
	return c.cfg.SessionKey.KeyValue
}

// Done reports whether the exchange completed on the client's side.
func (c *Client) Done() bool { return c.state == clientDone }

// ServerFraming is the framing of the server's context token, 0 before
// one arrived.
func (c *Client) ServerFraming() Framing { return c.serverFraming }
