package gssapi

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// RFC 4752 section 3.3 security-layer bit masks.
const (
	layerNone      byte = 0x01
	layerIntegrity byte = 0x02
	layerConf      byte = 0x04
)

// RFC 4121 section 4.2.2 wrap token flags.
const (
	wrapFlagSentByAcceptor byte = 0x01
	wrapFlagSealed         byte = 0x02
	wrapFlagAcceptorSubkey byte = 0x04
)

// errLegacyWrap marks a pre-RFC 4121 wrap token.
var errLegacyWrap = errors.New("the peer sent an RFC 1964/RFC 4757 wrap token (TOK_ID 02 01), used with DES and RC4 keys; only RFC 4121 wrap tokens are implemented, because gokrb5 implements no RFC 4757 token crypto")

var errSealed = errors.New("the peer sent a sealed (encrypted) wrap token; RFC 4752 needs none and this package does not implement sealing")

// wrapKey is the key and flags that protect per-message tokens: RFC 4121
// section 2 — the acceptor's subkey if it sent one, else the initiator's
// subkey, else the ticket's session key.
type wrapKey struct {
	key            types.EncryptionKey
	acceptorSubkey bool
}

// wrap builds an RFC 4121 wrap token without confidentiality, as RFC 4752
// prescribes for the security-layer negotiation. Every enctype gokrb5 can
// checksum with is used in the RFC 4121 format, rc4-hmac included; Windows
// and MIT use the older RFC 4757 format for rc4-hmac, so with an rc4-hmac
// context the SASL security layer only interoperates with this package.
func wrap(payload []byte, k wrapKey, fromAcceptor bool, seq uint64) ([]byte, error) {
	et, err := crypto.GetEtype(k.key.KeyType)
	if err != nil {
		return nil, err
	}
	var flags byte
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if fromAcceptor {
		flags |= wrapFlagSentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	if k.acceptorSubkey {
		flags |= wrapFlagAcceptorSubkey
	}
	if payload == nil {
		payload = []byte{}
	}
	wt := krbgss.WrapToken{
		Flags:     flags,
		EC:        uint16(et.GetHMACBitLength() / 8),
		SndSeqNum: seq,
		Payload:   payload,
	}
	if err := wt.SetCheckSum(k.key, usage); err != nil {
		return nil, err
	}
	return wt.Marshal()
}

// unwrap verifies an RFC 4121 wrap token without confidentiality and
// returns its payload.
func unwrap(tok []byte, k wrapKey, fromAcceptor bool) ([]byte, error) {
	if len(tok) > MaxTokenSize {
		return nil, fmt.Errorf("wrap token of %d bytes exceeds %d", len(tok), MaxTokenSize)
	}
	if len(tok) >= 2 && ((tok[0] == 0x02 && tok[1] == 0x01) || tok[0] == tagGSSFramed) {
		return nil, errLegacyWrap
	}
	if len(tok) < krbgss.HdrLen {
		return nil, fmt.Errorf("wrap token of %d bytes is shorter than its %d-byte header", len(tok), krbgss.HdrLen)
	}
	if tok[2]&wrapFlagSealed != 0 {
		return nil, errSealed
	}
	// RFC 4121 section 4.2.5: the data after the header may be rotated
	// right by RRC octets (Windows does so); undo it before parsing.
	if rrc := int(binary.BigEndian.Uint16(tok[6:8])); rrc != 0 && len(tok) > krbgss.HdrLen {
		body := tok[krbgss.HdrLen:]
		r := rrc % len(body)
		t := make([]byte, 0, len(tok))
		t = append(t, tok[:krbgss.HdrLen]...)
		t = append(t, body[r:]...)
		t = append(t, body[:r]...)
		binary.BigEndian.PutUint16(t[6:8], 0)
		tok = t
	}
	var wt krbgss.WrapToken
	if err := wt.Unmarshal(tok, fromAcceptor); err != nil {
		return nil, err
	}
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if fromAcceptor {
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	if ok, err := wt.Verify(k.key, usage); !ok {
		if err == nil {
			err = errors.New("wrap token checksum does not verify")
		}
		return nil, err
	}
	return wt.Payload, nil
}
