// Package krbkey holds a long-term Kerberos key with its derived keys
// computed once.
//
// RFC 3961 never encrypts with a protocol key itself: each message is
// encrypted with Ke = DK(key, usage|0xAA) and protected with
// Ki = DK(key, usage|0x55) (checksums with Kc, usage|0x99). gokrb5 derives
// them again on every call (an n-fold and a few AES blocks each), which was
// a sixth of the fake KDC's CPU: an AS and a TGS exchange use the client's,
// krbtgt's and the service's keys ten times between them. MIT's KDC keeps
// derived keys with the key; so does a Key here.
//
// The cryptography stays gokrb5's: a Key wraps gokrb5's etype
// implementation and hands itself to gokrb5's RFC 3962 and RFC 8009
// functions, so only DeriveKey answers from the cache. Etypes without key
// derivation (RC4-HMAC), the deprecated ones and aes256-sha384 use gokrb5
// unchanged.
//
// A Key is for keys that live long: a KDC's account keys, an acceptor's
// keytab keys, a ticket's session key reused for many authenticators. Each
// Key caches at most one derived key per usage constant it has met, so its
// cache is as small as the set of key usages its owner uses.
package krbkey

import (
	"crypto/hmac"
	"fmt"
	"sync"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/crypto/etype"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3962"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc8009"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Key is a long-term key and the etype implementation to use it with. Its
// methods may be called from any goroutine.
type Key struct {
	types.EncryptionKey
	et etype.EType
}

// New returns a Key for k. An etype gokrb5 does not implement is an error.
func New(k types.EncryptionKey) (*Key, error) {
	et, err := crypto.GetEtype(k.KeyType)
	if err != nil {
		return nil, err
	}
	key := &Key{EncryptionKey: k, et: et}
	switch k.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96:
		key.et = &cachingEType{EType: et, key: k.KeyValue}
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		// Not aes256-cts-hmac-sha384-192: gokrb5 v8.4.4 sizes its keys
		// inconsistently (a 24-octet random key, 32 expected on
		// encryption), and nothing here uses it.
		key.et = &cachingEType{EType: et, key: k.KeyValue, rfc8009: true}
	}
	return key, nil
}

// EType is the etype implementation bound to this key: gokrb5's, whose key
// derivation answers from the cache for this key. For use with gokrb5
// functions that take an etype.EType.
func (k *Key) EType() etype.EType { return k.et }

// Encrypt seals plain with the key under a key usage, as
// crypto.GetEncryptedData does.
func (k *Key) Encrypt(plain []byte, usage uint32, kvno int) (types.EncryptedData, error) {
	_, b, err := k.et.EncryptMessage(k.KeyValue, plain, usage)
	if err != nil {
		return types.EncryptedData{}, err
	}
	return types.EncryptedData{EType: k.KeyType, Cipher: b, KVNO: kvno}, nil
}

// Decrypt opens ciphertext sealed with the key under a key usage and
// verifies its integrity, as crypto.DecryptMessage does. The caller checks
// that the ciphertext's etype is the key's and that it is long enough for a
// confounder and a checksum (gokrb5 slices without checking).
func (k *Key) Decrypt(ciphertext []byte, usage uint32) ([]byte, error) {
	b, err := k.et.DecryptMessage(k.KeyValue, ciphertext, usage)
	if err != nil {
		return nil, fmt.Errorf("error decrypting: %v", err)
	}
	return b, nil
}

// VerifyChecksum reports whether cksum is the etype's keyed checksum of data
// under a key usage.
func (k *Key) VerifyChecksum(data, cksum []byte, usage uint32) bool {
	return k.et.VerifyChecksum(k.KeyValue, data, cksum, usage)
}

// cachingEType is gokrb5's etype with DeriveKey cached for one protocol
// key. The methods that derive keys are re-routed through gokrb5's RFC
// functions with the cachingEType as their etype; everything else (the
// block cipher, the hash, sizes) is the embedded etype's.
type cachingEType struct {
	etype.EType
	key     []byte
	rfc8009 bool // AES-SHA2 (RFC 8009); else AES-SHA1 (RFC 3962)

	mu      sync.RWMutex
	derived map[string][]byte // usage constant (5 octets) -> derived key
}

func (e *cachingEType) EncryptMessage(key, message []byte, usage uint32) ([]byte, []byte, error) {
	if e.rfc8009 {
		return rfc8009.EncryptMessage(key, message, usage, e)
	}
	return rfc3962.EncryptMessage(key, message, usage, e)
}

func (e *cachingEType) DecryptMessage(key, ciphertext []byte, usage uint32) ([]byte, error) {
	if e.rfc8009 {
		return rfc8009.DecryptMessage(key, ciphertext, usage, e)
	}
	return rfc3962.DecryptMessage(key, ciphertext, usage, e)
}

func (e *cachingEType) VerifyIntegrity(key, ct, pt []byte, usage uint32) bool {
	if e.rfc8009 {
		return rfc8009.VerifyIntegrity(key, ct, usage, e)
	}
	return rfc3961.VerifyIntegrity(key, ct, pt, usage, e)
}

func (e *cachingEType) GetChecksumHash(key, data []byte, usage uint32) ([]byte, error) {
	return common.GetHash(data, key, common.GetUsageKc(usage), e)
}

func (e *cachingEType) VerifyChecksum(key, data, chksum []byte, usage uint32) bool {
	c, err := e.GetChecksumHash(key, data, usage)
	if err != nil {
		return false
	}
	return hmac.Equal(chksum, c)
}

// DeriveKey returns DK(key, usage), computed by gokrb5 the first time.
// Derivations from any other key than the Key's are not cached.
func (e *cachingEType) DeriveKey(key, usage []byte) ([]byte, error) {
	if !hmac.Equal(key, e.key) {
		return e.EType.DeriveKey(key, usage)
	}
	e.mu.RLock()
	dk, ok := e.derived[string(usage)]
	e.mu.RUnlock()
	if ok {
		return dk, nil
	}
	dk, err := e.EType.DeriveKey(key, usage)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.derived == nil {
		e.derived = make(map[string][]byte)
	}
	e.derived[string(usage)] = dk
	e.mu.Unlock()
	return dk, nil
}

// maxCached bounds a Cache: a keytab holds a few keys, a cached ticket
// renews its session key every few hours.
const maxCached = 64

// Cache holds Keys by value, for a long-lived acceptor or client that
// meets the same keys again and again: a keytab's keys, the session key of
// a ticket it reuses. A nil *Cache caches nothing. Its methods may be
// called from any goroutine.
type Cache struct {
	mu   sync.Mutex
	keys map[cacheID]*Key
}

type cacheID struct {
	etype int32
	value string
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{} }

// Key returns the Key for k, made at the first call with this key. Past
// maxCached keys the cache starts afresh.
func (c *Cache) Key(k types.EncryptionKey) (*Key, error) {
	if c == nil {
		return New(k)
	}
	id := cacheID{k.KeyType, string(k.KeyValue)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if key, ok := c.keys[id]; ok {
		return key, nil
	}
	key, err := New(k)
	if err != nil {
		return nil, err
	}
	if c.keys == nil || len(c.keys) >= maxCached {
		c.keys = make(map[cacheID]*Key)
	}
	c.keys[id] = key
	return key, nil
}
