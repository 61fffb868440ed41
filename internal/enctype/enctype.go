// Package enctype is exauth's one table of Kerberos encryption type names:
// the names MIT krb5.conf, klist -e and Windows event texts use, for the
// types gokrb5 implements.
package enctype

import (
	"fmt"
	"strings"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// names are MIT's names (krb5.conf accepts them; klist -e prints them).
var names = map[int32]string{
	etypeID.AES256_CTS_HMAC_SHA1_96:    "aes256-cts-hmac-sha1-96",
	etypeID.AES128_CTS_HMAC_SHA1_96:    "aes128-cts-hmac-sha1-96",
	etypeID.AES256_CTS_HMAC_SHA384_192: "aes256-cts-hmac-sha384-192",
	etypeID.AES128_CTS_HMAC_SHA256_128: "aes128-cts-hmac-sha256-128",
	etypeID.RC4_HMAC:                   "rc4-hmac",
	etypeID.DES3_CBC_SHA1_KD:           "des3-cbc-sha1",
}

// Known reports whether exauth (through gokrb5) implements the type.
func Known(id int32) bool {
	_, ok := names[id]
	return ok
}

// Name is the type's MIT name, or "etype N" for a type gokrb5 does not
// implement.
func Name(id int32) string {
	if n, ok := names[id]; ok {
		return n
	}
	return fmt.Sprintf("etype %d", id)
}

// ID parses a name as krb5.conf would, aliases included ("arcfour-hmac",
// "aes256-cts").
func ID(name string) (int32, bool) {
	n := strings.ToLower(strings.TrimSpace(name))
	for id, v := range names {
		if v == n {
			return id, true
		}
	}
	id, ok := etypeID.ETypesByName[n]
	if ok && Known(id) {
		return id, true
	}
	return 0, false
}
