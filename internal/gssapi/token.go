package gssapi

import (
	"errors"
	"fmt"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// MaxTokenSize bounds every token this package parses. Windows' own limit
// (MaxTokenSize) is 48,000 bytes by default and 65,535 at most; anything
// larger is refused as malformed before any parsing.
const MaxTokenSize = 65535

// Framing is how a Kerberos message travels in a GSSAPI exchange.
type Framing int

// Framings of Kerberos messages, in the order of increasing wrapping.
const (
	// FramingRaw is a bare Kerberos message: AP-REQ [APPLICATION 14],
	// AP-REP [APPLICATION 15], KRB-ERROR [APPLICATION 30].
	FramingRaw Framing = iota + 1
	// FramingKRB5 is the RFC 1964 section 1.1 / RFC 2743 section 3.1
	// framing: [APPLICATION 0] { krb5 OID, TOK_ID, Kerberos message }.
	FramingKRB5
	// FramingSPNEGO is RFC 4178: NegTokenInit (in the RFC 2743 framing
	// with the SPNEGO OID) from the initiator, NegTokenResp ([1]) from the
	// acceptor, each carrying an RFC 1964 token.
	FramingSPNEGO
)

func (f Framing) String() string {
	switch f {
	case FramingRaw:
		return "raw"
	case FramingKRB5:
		return "krb5"
	case FramingSPNEGO:
		return "spnego"
	}
	return fmt.Sprintf("Framing(%d)", int(f))
}

// RFC 1964 section 1.1 TOK_ID values of the initial context tokens.
const (
	tokIDAPReq    = "\x01\x00"
	tokIDAPRep    = "\x02\x00"
	tokIDKRBError = "\x03\x00"
)

// Leading octets that identify a token without parsing it.
const (
	tagGSSFramed    = 0x60 // [APPLICATION 0] constructed: RFC 2743 framing
	tagNegTokenResp = 0xa1 // [1] constructed: SPNEGO NegTokenResp
	tagAPReq        = 0x6e // [APPLICATION 14]
	tagAPRep        = 0x6f // [APPLICATION 15]
	tagKRBError     = 0x7e // [APPLICATION 30]
)

var errEmpty = errors.New("empty token")

func isKRB5OID(oid asn1.ObjectIdentifier) bool {
	return oid.Equal(krbgss.OIDKRB5.OID()) || oid.Equal(krbgss.OIDMSLegacyKRB5.OID())
}

// frameKRB5 wraps a Kerberos message in the RFC 1964 framing. gokrb5's
// spnego.KRB5Token does the same for AP-REQ only and cannot be built
// outside its package, so the three lines are repeated here.
func frameKRB5(tokID string, msg []byte) []byte {
	b, _ := asn1.Marshal(krbgss.OIDKRB5.OID()) // a constant OID cannot fail
	b = append(b, tokID...)
	b = append(b, msg...)
	return asn1tools.AddASNAppTag(b, 0)
}

// unframeGSS splits an RFC 2743 token into its mechanism OID and the
// inner token.
func unframeGSS(b []byte) (asn1.ObjectIdentifier, []byte, error) {
	var oid asn1.ObjectIdentifier
	rest, err := asn1.UnmarshalWithParams(b, &oid, "application,explicit,tag:0")
	if err != nil {
		return nil, nil, fmt.Errorf("GSS-API token framing: %w", err)
	}
	return oid, rest, nil
}

// splitKRB5 splits the inner token of an RFC 1964 token into TOK_ID and
// the Kerberos message.
func splitKRB5(inner []byte) (tokID, msg []byte, err error) {
	if len(inner) < 2 {
		return nil, nil, errors.New("RFC 1964 token too short for TOK_ID")
	}
	return inner[:2], inner[2:], nil
}

// clientToken is an AP-REQ as the acceptor received it.
type clientToken struct {
	apReq   messages.APReq
	framing Framing
	// mech is the OID to name in an SPNEGO answer.
	mech asn1.ObjectIdentifier
}

// parseClientToken accepts a raw AP-REQ, an RFC 1964 token carrying one,
// an SPNEGO NegTokenInit with an optimistic Kerberos token, or (liberal) a
// NegTokenResp carrying one.
func parseClientToken(b []byte) (*clientToken, error) {
	if len(b) == 0 {
		return nil, errEmpty
	}
	if len(b) > MaxTokenSize {
		return nil, fmt.Errorf("token of %d bytes exceeds %d", len(b), MaxTokenSize)
	}
	switch b[0] {
	case tagAPReq:
		ap, err := unmarshalAPReq(b)
		if err != nil {
			return nil, err
		}
		return &clientToken{apReq: ap, framing: FramingRaw, mech: krbgss.OIDKRB5.OID()}, nil
	case tagGSSFramed:
		oid, inner, err := unframeGSS(b)
		if err != nil {
			return nil, err
		}
		switch {
		case isKRB5OID(oid):
			ap, err := parseKRB5APReq(inner)
			if err != nil {
				return nil, err
			}
			return &clientToken{apReq: ap, framing: FramingKRB5, mech: oid}, nil
		case oid.Equal(krbgss.OIDSPNEGO.OID()):
			return parseSPNEGOClient(b)
		default:
			return nil, fmt.Errorf("GSS-API mechanism %s is not Kerberos or SPNEGO", oid)
		}
	case tagNegTokenResp:
		return parseSPNEGOClient(b)
	}
	return nil, fmt.Errorf("token starts with 0x%02x: not an AP-REQ, RFC 1964 or SPNEGO token", b[0])
}

func parseKRB5APReq(inner []byte) (messages.APReq, error) {
	tokID, msg, err := splitKRB5(inner)
	if err != nil {
		return messages.APReq{}, err
	}
	if string(tokID) != tokIDAPReq {
		return messages.APReq{}, fmt.Errorf("RFC 1964 TOK_ID %x is not KRB_AP_REQ (01 00)", tokID)
	}
	return unmarshalAPReq(msg)
}

func unmarshalAPReq(b []byte) (messages.APReq, error) {
	var ap messages.APReq
	if err := ap.Unmarshal(b); err != nil {
		return ap, fmt.Errorf("AP-REQ: %w", err)
	}
	return ap, nil
}

func parseSPNEGOClient(b []byte) (*clientToken, error) {
	var tok spnego.SPNEGOToken
	if err := tok.Unmarshal(b); err != nil {
		return nil, fmt.Errorf("SPNEGO: %w", err)
	}
	var mechToken []byte
	mech := krbgss.OIDKRB5.OID()
	switch {
	case tok.Init:
		found := false
		for _, m := range tok.NegTokenInit.MechTypes {
			if isKRB5OID(m) {
				mech, found = m, true
				break
			}
		}
		if !found {
			return nil, errors.New("SPNEGO NegTokenInit offers no Kerberos mechanism")
		}
		mechToken = tok.NegTokenInit.MechTokenBytes
	case tok.Resp:
		if len(tok.NegTokenResp.SupportedMech) > 0 {
			mech = tok.NegTokenResp.SupportedMech
		}
		mechToken = tok.NegTokenResp.ResponseToken
	}
	if len(mechToken) == 0 {
		return nil, errors.New("SPNEGO token carries no Kerberos token (no optimistic mechToken)")
	}
	var ap messages.APReq
	var err error
	switch mechToken[0] {
	case tagAPReq:
		ap, err = unmarshalAPReq(mechToken)
	case tagGSSFramed:
		var oid asn1.ObjectIdentifier
		var inner []byte
		oid, inner, err = unframeGSS(mechToken)
		if err == nil && !isKRB5OID(oid) {
			err = fmt.Errorf("SPNEGO mechToken is for mechanism %s, not Kerberos", oid)
		}
		if err == nil {
			ap, err = parseKRB5APReq(inner)
		}
	default:
		err = fmt.Errorf("SPNEGO mechToken starts with 0x%02x: not a Kerberos token", mechToken[0])
	}
	if err != nil {
		return nil, err
	}
	return &clientToken{apReq: ap, framing: FramingSPNEGO, mech: mech}, nil
}

// serverTokenKind says what the acceptor sent to the initiator.
type serverTokenKind int

const (
	kindAPRep serverTokenKind = iota + 1
	kindKRBError
	kindWrap         // an RFC 4121 wrap token: the SASL security-layer step
	kindLegacyWrap   // an RFC 1964/4757 wrap token (TOK_ID 02 01)
	kindSPNEGOAccept // NegTokenResp accept-completed without a response token
)

type serverToken struct {
	kind     serverTokenKind
	framing  Framing
	apRep    messages.APRep
	krbError messages.KRBError
	negState spnego.NegState
}

// parseServerToken is liberal: a raw AP-REP or KRB-ERROR, either in the
// RFC 1964 framing, an SPNEGO NegTokenResp carrying any of those, or a
// wrap token.
func parseServerToken(b []byte) (*serverToken, error) {
	return parseServerTokenDepth(b, 0)
}

func parseServerTokenDepth(b []byte, depth int) (*serverToken, error) {
	if len(b) == 0 {
		return nil, errEmpty
	}
	if len(b) > MaxTokenSize {
		return nil, fmt.Errorf("token of %d bytes exceeds %d", len(b), MaxTokenSize)
	}
	switch b[0] {
	case tagAPRep:
		var rep messages.APRep
		if err := rep.Unmarshal(b); err != nil {
			// gokrb5 turns a KRB-ERROR given to APRep.Unmarshal into a
			// KRBError; the leading octet already excludes that here.
			return nil, fmt.Errorf("AP-REP: %w", err)
		}
		return &serverToken{kind: kindAPRep, framing: FramingRaw, apRep: rep}, nil
	case tagKRBError:
		var ke messages.KRBError
		if err := ke.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("KRB-ERROR: %w", err)
		}
		return &serverToken{kind: kindKRBError, framing: FramingRaw, krbError: ke}, nil
	case tagGSSFramed:
		oid, inner, err := unframeGSS(b)
		if err != nil {
			return nil, err
		}
		if !isKRB5OID(oid) {
			return nil, fmt.Errorf("GSS-API mechanism %s in the server's token is not Kerberos", oid)
		}
		tokID, msg, err := splitKRB5(inner)
		if err != nil {
			return nil, err
		}
		switch {
		case string(tokID) == tokIDAPRep:
			var rep messages.APRep
			if err := rep.Unmarshal(msg); err != nil {
				return nil, fmt.Errorf("AP-REP: %w", err)
			}
			return &serverToken{kind: kindAPRep, framing: FramingKRB5, apRep: rep}, nil
		case string(tokID) == tokIDKRBError:
			var ke messages.KRBError
			if err := ke.Unmarshal(msg); err != nil {
				return nil, fmt.Errorf("KRB-ERROR: %w", err)
			}
			return &serverToken{kind: kindKRBError, framing: FramingKRB5, krbError: ke}, nil
		case tokID[0] == 0x02 && tokID[1] == 0x01:
			// RFC 1964 section 1.2.2 / RFC 4757 wrap token.
			return &serverToken{kind: kindLegacyWrap, framing: FramingKRB5}, nil
		}
		return nil, fmt.Errorf("RFC 1964 TOK_ID %x is neither KRB_AP_REP nor KRB_ERROR", tokID)
	case tagNegTokenResp:
		if depth > 0 {
			return nil, errors.New("SPNEGO token nested in SPNEGO token")
		}
		var tok spnego.SPNEGOToken
		if err := tok.Unmarshal(b); err != nil {
			return nil, fmt.Errorf("SPNEGO: %w", err)
		}
		if !tok.Resp {
			return nil, errors.New("SPNEGO token from the server is not a NegTokenResp")
		}
		st := spnego.NegState(tok.NegTokenResp.NegState)
		if len(tok.NegTokenResp.ResponseToken) == 0 {
			return &serverToken{kind: kindSPNEGOAccept, framing: FramingSPNEGO, negState: st}, nil
		}
		inner, err := parseServerTokenDepth(tok.NegTokenResp.ResponseToken, depth+1)
		if err != nil {
			return nil, err
		}
		inner.framing = FramingSPNEGO
		inner.negState = st
		return inner, nil
	case 0x05:
		if len(b) >= 2 && b[1] == 0x04 {
			return &serverToken{kind: kindWrap, framing: FramingRaw}, nil
		}
	case 0x02:
		if len(b) >= 2 && b[1] == 0x01 {
			return &serverToken{kind: kindLegacyWrap, framing: FramingRaw}, nil
		}
	}
	return nil, fmt.Errorf("token starts with 0x%02x: not an AP-REP, KRB-ERROR, RFC 1964, SPNEGO or wrap token", b[0])
}

// marshalAPRep builds the acceptor's AP-REP. gokrb5 has no marshaller for
// AP-REP (it only ever receives one), so the structure is marshalled with
// gofork's asn1 and the APPLICATION tag added with asn1tools, exactly as
// gokrb5 marshals its own messages.
func marshalAPRep(rep messages.APRep) ([]byte, error) {
	b, err := asn1.Marshal(rep)
	if err != nil {
		return nil, fmt.Errorf("marshal AP-REP: %w", err)
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.APREP), nil
}

func marshalEncAPRepPart(p messages.EncAPRepPart) ([]byte, error) {
	b, err := asn1.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("marshal EncAPRepPart: %w", err)
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart), nil
}

// frameServerToken frames the acceptor's output (an AP-REP, or nothing
// for a context without mutual authentication) like the request was
// framed. It returns nil when there is nothing to send.
func frameServerToken(apRep []byte, in *clientToken) ([]byte, error) {
	switch in.framing {
	case FramingRaw:
		return apRep, nil
	case FramingKRB5:
		if apRep == nil {
			return nil, nil
		}
		return frameKRB5(tokIDAPRep, apRep), nil
	case FramingSPNEGO:
		var inner []byte
		if apRep != nil {
			inner = frameKRB5(tokIDAPRep, apRep)
		}
		return spnegoAccept(inner, in.mech)
	}
	return nil, fmt.Errorf("unknown framing %v", in.framing)
}

// spnegoAccept is an SPNEGO NegTokenResp, accept-completed, for mech,
// carrying responseToken when it is not nil.
func spnegoAccept(responseToken []byte, mech asn1.ObjectIdentifier) ([]byte, error) {
	if len(mech) == 0 {
		mech = krbgss.OIDKRB5.OID()
	}
	tok := spnego.SPNEGOToken{Resp: true, NegTokenResp: spnego.NegTokenResp{
		NegState:      asn1.Enumerated(spnego.NegStateAcceptCompleted),
		SupportedMech: mech,
		ResponseToken: responseToken,
	}}
	return tok.Marshal()
}

// frameClientToken frames the initiator's AP-REQ.
func frameClientToken(apReq []byte, useSPNEGO bool) ([]byte, error) {
	krb5 := frameKRB5(tokIDAPReq, apReq)
	if !useSPNEGO {
		return krb5, nil
	}
	tok := spnego.SPNEGOToken{
		Init: true,
		NegTokenInit: spnego.NegTokenInit{
			MechTypes:      []asn1.ObjectIdentifier{krbgss.OIDKRB5.OID()},
			MechTokenBytes: krb5,
		},
	}
	return tok.Marshal()
}

// checkCipher guards gokrb5's decryption, which slices the ciphertext by
// the checksum length without checking it first (a short ciphertext would
// panic): the ciphertext must hold at least a confounder and a checksum
// of key's enctype, and name the same enctype as the key.
func checkCipher(ed types.EncryptedData, key types.EncryptionKey) error {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return err
	}
	if ed.EType != key.KeyType {
		return fmt.Errorf("ciphertext of %s, key of %s", enctype.Name(ed.EType), enctype.Name(key.KeyType))
	}
	if min := et.GetConfounderByteSize() + et.GetHMACBitLength()/8; len(ed.Cipher) < min {
		return fmt.Errorf("ciphertext of %d octets is shorter than the %d octets of confounder and checksum", len(ed.Cipher), min)
	}
	return nil
}
