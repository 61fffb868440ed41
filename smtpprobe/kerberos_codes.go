package smtpprobe

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// The Kerberos error codes (RFC 4120 7.5.9) the verdict rules branch on.
// They stay numbers until Diagnose has seen them.
const (
	kdcErrCPrincipalUnknown  = errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN  // 6
	kdcErrSPrincipalUnknown  = errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN  // 7
	kdcErrPrincipalNotUnique = errorcode.KDC_ERR_PRINCIPAL_NOT_UNIQUE // 8
	kdcErrETypeNoSupp        = errorcode.KDC_ERR_ETYPE_NOSUPP         // 14
	kdcErrClientRevoked      = errorcode.KDC_ERR_CLIENT_REVOKED       // 18
	kdcErrKeyExpired         = errorcode.KDC_ERR_KEY_EXPIRED          // 23
	kdcErrPreauthFailed      = errorcode.KDC_ERR_PREAUTH_FAILED       // 24
	krbAPErrBadIntegrity     = errorcode.KRB_AP_ERR_BAD_INTEGRITY     // 31
	krbAPErrTktNYV           = errorcode.KRB_AP_ERR_TKT_NYV           // 33
	krbAPErrSkew             = errorcode.KRB_AP_ERR_SKEW              // 37
	krbAPErrModified         = errorcode.KRB_AP_ERR_MODIFIED          // 41
	krbAPErrBadKeyVer        = errorcode.KRB_AP_ERR_BADKEYVER         // 44
)

// KRBErrorName is the RFC 4120 name of a Kerberos error code.
func KRBErrorName(code int32) string {
	s := errorcode.Lookup(code)
	// Lookup returns "(code) NAME description"; keep the name.
	var n int32
	var name string
	if _, err := fmt.Sscanf(s, "(%d) %s", &n, &name); err == nil {
		return name
	}
	return fmt.Sprintf("KRB_ERROR_%d", code)
}

// ETypeName is the RFC 3961/8009 name of an encryption type.
func ETypeName(id int32) string {
	for name, v := range etypeID.ETypesByName {
		if v == id && name != "" {
			return canonicalETypeName(id, name)
		}
	}
	if id == 0 {
		return "unknown"
	}
	return fmt.Sprintf("etype-%d", id)
}

// canonicalETypeName prefers the long MIT names (several aliases map to one
// ID in gokrb5's table).
func canonicalETypeName(id int32, fallback string) string {
	switch id {
	case etypeID.AES256_CTS_HMAC_SHA1_96:
		return "aes256-cts-hmac-sha1-96"
	case etypeID.AES128_CTS_HMAC_SHA1_96:
		return "aes128-cts-hmac-sha1-96"
	case etypeID.RC4_HMAC:
		return "arcfour-hmac"
	case etypeID.AES256_CTS_HMAC_SHA384_192:
		return "aes256-cts-hmac-sha384-192"
	case etypeID.AES128_CTS_HMAC_SHA256_128:
		return "aes128-cts-hmac-sha256-128"
	}
	return fallback
}
