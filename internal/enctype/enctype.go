// Package enctype is exauth's one table of Kerberos encryption type names:
// the names MIT krb5.conf, klist -e and Windows event texts use, for the
// types gokrb5 implements. It depends on nothing, so that the verdict core
// can name a ticket's type without importing a Kerberos implementation; a
// test keeps it in step with gokrb5's own table.
package enctype

import (
	"fmt"
	"strings"
)

// The encryption types exauth (through gokrb5) implements, by their RFC
// 3961/3962/4757/8009 numbers.
const (
	DES3CBCSHA1KD          int32 = 16
	AES128CTSHMACSHA196    int32 = 17
	AES256CTSHMACSHA196    int32 = 18
	AES128CTSHMACSHA256128 int32 = 19
	AES256CTSHMACSHA384192 int32 = 20
	RC4HMAC                int32 = 23
)

// Salt is the string-to-key salt Active Directory derives an account's
// keys of type id with: none for RC4; for a computer account ("HUB01$")
// <REALM>host<name>.<domain> ("LAB.TESThosthub01.lab.test"), taking the
// DNS domain to be the realm in lower case; for any other account the
// RFC 4120 default, the realm followed by the name ("LAB.TESTadministrator").
// A KDC tells clients the salt in PA-ETYPE-INFO2; keys derived without
// asking a KDC (a reverse ticket's acceptor, a fake KDC) need this rule.
func Salt(realm, account string, id int32) string {
	if id == RC4HMAC {
		return ""
	}
	if host, ok := strings.CutSuffix(account, "$"); ok && host != "" && !strings.Contains(host, "/") {
		return strings.ToUpper(realm) + "host" + strings.ToLower(host) + "." + strings.ToLower(realm)
	}
	return realm + strings.ReplaceAll(account, "/", "")
}

// supportedBits are msDS-SupportedEncryptionTypes' bits ([MS-KILE]
// 2.2.7), named as klist and krb5.conf name encryption types.
var supportedBits = []struct {
	bit  uint32
	name string
}{
	{0x1, "des-cbc-crc"},
	{0x2, "des-cbc-md5"},
	{0x4, names[RC4HMAC]},
	{0x8, names[AES128CTSHMACSHA196]},
	{0x10, names[AES256CTSHMACSHA196]},
	{0x20, "aes256-cts-hmac-sha1-96-sk"}, // AES session keys even for RC4 tickets
	{0x10000, "fast-supported"},
	{0x20000, "compound-identity-supported"},
	{0x40000, "claims-supported"},
	{0x80000, "resource-sid-compression-disabled"},
}

// SupportedNames names each bit of an msDS-SupportedEncryptionTypes mask,
// in bit order; unknown bits appear as hexadecimal ("0x100").
func SupportedNames(mask uint32) []string {
	out := []string{}
	known := uint32(0)
	for _, b := range supportedBits {
		known |= b.bit
		if mask&b.bit != 0 {
			out = append(out, b.name)
		}
	}
	for bit := uint32(1); bit != 0; bit <<= 1 {
		if mask&bit != 0 && known&bit == 0 {
			out = append(out, fmt.Sprintf("0x%x", bit))
		}
	}
	return out
}

// IsAES reports whether id is one of the AES types (RFC 3962, RFC 8009).
func IsAES(id int32) bool {
	switch id {
	case AES128CTSHMACSHA196, AES256CTSHMACSHA196, AES128CTSHMACSHA256128, AES256CTSHMACSHA384192:
		return true
	}
	return false
}

// names are MIT's names (krb5.conf accepts them; klist -e prints them).
var names = map[int32]string{
	AES256CTSHMACSHA196:    "aes256-cts-hmac-sha1-96",
	AES128CTSHMACSHA196:    "aes128-cts-hmac-sha1-96",
	AES256CTSHMACSHA384192: "aes256-cts-hmac-sha384-192",
	AES128CTSHMACSHA256128: "aes128-cts-hmac-sha256-128",
	RC4HMAC:                "rc4-hmac",
	DES3CBCSHA1KD:          "des3-cbc-sha1",
}

// aliases are the other names MIT's krb5.conf accepts for those types.
var aliases = map[string]int32{
	"des3-hmac-sha1":   DES3CBCSHA1KD,
	"des3-cbc-sha1-kd": DES3CBCSHA1KD,
	"aes128-cts":       AES128CTSHMACSHA196,
	"aes128-sha1":      AES128CTSHMACSHA196,
	"aes256-cts":       AES256CTSHMACSHA196,
	"aes256-sha1":      AES256CTSHMACSHA196,
	"aes128-sha2":      AES128CTSHMACSHA256128,
	"aes256-sha2":      AES256CTSHMACSHA384192,
	"arcfour-hmac":     RC4HMAC,
	"arcfour-hmac-md5": RC4HMAC,
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
	id, ok := aliases[n]
	return id, ok
}
