package krbkey

import (
	"bytes"
	"sync"
	"testing"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

var etypes = map[string]int32{
	"aes128-cts-hmac-sha1-96":         etypeID.AES128_CTS_HMAC_SHA1_96,
	"aes256-cts-hmac-sha1-96":         etypeID.AES256_CTS_HMAC_SHA1_96,
	"aes128-cts-hmac-sha256-128":      etypeID.AES128_CTS_HMAC_SHA256_128,
	"rc4-hmac (no derivation cached)": etypeID.RC4_HMAC,
}

func newKey(t *testing.T, id int32) (types.EncryptionKey, *Key) {
	t.Helper()
	et, err := crypto.GetEtype(id)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := types.GenerateEncryptionKey(et)
	if err != nil {
		t.Fatal(err)
	}
	k, err := New(raw)
	if err != nil {
		t.Fatal(err)
	}
	return raw, k
}

// TestKey_InteroperatesWithGokrb5: what a Key seals gokrb5 opens and the
// reverse, for every usage a KDC and an acceptor use, twice (the second
// time from the cache); checksums are gokrb5's.
func TestKey_InteroperatesWithGokrb5(t *testing.T) {
	msg := []byte("the EncTicketPart, or any octets")
	for name, id := range etypes {
		t.Run(name, func(t *testing.T) {
			raw, k := newKey(t, id)
			for range 2 {
				for _, usage := range []uint32{keyusage.AS_REQ_PA_ENC_TIMESTAMP, keyusage.KDC_REP_TICKET, keyusage.AS_REP_ENCPART,
					keyusage.AP_REQ_AUTHENTICATOR, keyusage.AP_REP_ENCPART} {
					ed, err := k.Encrypt(msg, usage, 7)
					if err != nil {
						t.Fatal(err)
					}
					if ed.EType != id || ed.KVNO != 7 {
						t.Fatalf("EncryptedData etype %d kvno %d", ed.EType, ed.KVNO)
					}
					if got, err := crypto.DecryptEncPart(ed, raw, usage); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("usage %d: gokrb5 cannot open a Key's ciphertext: %v", usage, err)
					}
					theirs, err := crypto.GetEncryptedData(msg, raw, usage, 7)
					if err != nil {
						t.Fatal(err)
					}
					if got, err := k.Decrypt(theirs.Cipher, usage); err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("usage %d: a Key cannot open gokrb5's ciphertext: %v", usage, err)
					}
					if _, err := k.Decrypt(theirs.Cipher, usage+1); err == nil {
						t.Fatalf("usage %d: opened under another usage", usage)
					}
					et, _ := crypto.GetEtype(id)
					sum, err := et.GetChecksumHash(raw.KeyValue, msg, usage)
					if err != nil {
						t.Fatal(err)
					}
					if !k.VerifyChecksum(msg, sum, usage) || k.VerifyChecksum(msg[1:], sum, usage) {
						t.Fatalf("usage %d: checksum verification differs from gokrb5", usage)
					}
				}
			}
		})
	}
}

// TestKey_TamperedCiphertextRefused: the integrity check still runs when
// the derived keys come from the cache.
func TestKey_TamperedCiphertextRefused(t *testing.T) {
	for name, id := range etypes {
		t.Run(name, func(t *testing.T) {
			_, k := newKey(t, id)
			ed, _ := k.Encrypt([]byte("message"), keyusage.KDC_REP_TICKET, 1)
			if _, err := k.Decrypt(ed.Cipher, keyusage.KDC_REP_TICKET); err != nil {
				t.Fatal(err)
			}
			for i := range ed.Cipher {
				c := bytes.Clone(ed.Cipher)
				c[i] ^= 1
				if _, err := k.Decrypt(c, keyusage.KDC_REP_TICKET); err == nil {
					t.Fatalf("octet %d flipped: decrypted", i)
				}
			}
		})
	}
}

// TestKey_OtherKeysNotCached: the etype a Key hands to gokrb5 derives from
// another key correctly (and does not cache it).
func TestKey_OtherKeysNotCached(t *testing.T) {
	_, k := newKey(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	other, _ := newKey(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	_, b, err := k.EType().EncryptMessage(other.KeyValue, []byte("x"), keyusage.AP_REQ_AUTHENTICATOR)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := crypto.DecryptMessage(b, other, keyusage.AP_REQ_AUTHENTICATOR); err != nil || string(got) != "x" {
		t.Fatalf("sealed with another key: %q, %v", got, err)
	}
	if n := len(k.et.(*cachingEType).derived); n != 0 {
		t.Fatalf("%d derived keys of another key cached", n)
	}
}

// TestKey_Concurrent: one Key used from many goroutines (run with -race).
func TestKey_Concurrent(t *testing.T) {
	raw, k := newKey(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				usage := uint32(1 + (g+i)%12)
				ed, err := k.Encrypt([]byte("m"), usage, 1)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := crypto.DecryptEncPart(ed, raw, usage); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkEncrypt(b *testing.B) {
	et, _ := crypto.GetEtype(etypeID.AES256_CTS_HMAC_SHA1_96)
	raw, _ := types.GenerateEncryptionKey(et)
	k, _ := New(raw)
	msg := bytes.Repeat([]byte("x"), 300)
	b.Run("gokrb5", func(b *testing.B) {
		for b.Loop() {
			crypto.GetEncryptedData(msg, raw, keyusage.KDC_REP_TICKET, 1)
		}
	})
	b.Run("krbkey", func(b *testing.B) {
		for b.Loop() {
			k.Encrypt(msg, keyusage.KDC_REP_TICKET, 1)
		}
	})
}

func TestCache_SameKeyOnce(t *testing.T) {
	raw, _ := newKey(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	c := NewCache()
	a, err := c.Key(raw)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := c.Key(types.EncryptionKey{KeyType: raw.KeyType, KeyValue: bytes.Clone(raw.KeyValue)})
	if a != b {
		t.Fatal("the same key value gave two Keys")
	}
	other, _ := newKey(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	if o, _ := c.Key(other); o == a {
		t.Fatal("another key value gave the same Key")
	}
	for range 2 * maxCached {
		k, _ := newKey(t, etypeID.AES128_CTS_HMAC_SHA1_96)
		c.Key(k)
	}
	if n := len(c.keys); n > maxCached {
		t.Fatalf("%d keys cached, bound %d", n, maxCached)
	}
	var nilCache *Cache
	if k, err := nilCache.Key(raw); err != nil || k == nil {
		t.Fatalf("nil cache: %v, %v", k, err)
	}
}
