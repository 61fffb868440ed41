package sspicred

import (
	"bytes"
	"encoding/binary"
	"testing"

	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

func acceptorWrapToken(t *testing.T, payload []byte) []byte {
	t.Helper()
	key := types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{7}, 32)}
	wt := krbgss.WrapToken{Flags: 0x01, EC: 12, Payload: payload}
	if err := wt.SetCheckSum(key, keyusage.GSSAPI_ACCEPTOR_SEAL); err != nil {
		t.Fatal(err)
	}
	b, err := wt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Wine's DecryptMessage needs the payload's length up front; the token's
// header gives it, whether the acceptor rotated the token (Windows) or
// not (MIT, exauth).
func TestWrapPayloadLen(t *testing.T) {
	tok := acceptorWrapToken(t, []byte{0x07, 0, 0x10, 0})
	if n, err := wrapPayloadLen(tok); err != nil || n != 4 {
		t.Errorf("plain: %d, %v; want 4", n, err)
	}
	rotated := append([]byte(nil), tok...)
	binary.BigEndian.PutUint16(rotated[6:8], 12)
	body := append(append([]byte(nil), tok[16+4:]...), tok[16:16+4]...)
	copy(rotated[16:], body)
	if n, err := wrapPayloadLen(rotated); err != nil || n != 4 {
		t.Errorf("rotated: %d, %v; want 4", n, err)
	}
	sealed := append([]byte(nil), tok...)
	sealed[2] |= 0x02
	for name, bad := range map[string][]byte{
		"sealed":             sealed,
		"from the initiator": append([]byte{0x05, 0x04, 0x00}, tok[3:]...),
		"short":              tok[:10],
		"RFC 1964":           {0x60, 0x2b, 0x06, 0x09},
		"empty":              nil,
	} {
		if n, err := wrapPayloadLen(bad); err == nil {
			t.Errorf("%s: %d, want an error", name, n)
		}
	}
}
