package smtpprobe

import (
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/krbclient"
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

// KRBErrorName is the RFC 4120 name of a Kerberos error code, e.g.
// "KDC_ERR_S_PRINCIPAL_UNKNOWN" (krbclient holds the one table).
func KRBErrorName(code int32) string { return krbclient.ErrorCodeName(code) }

// ETypeName is the MIT name of an encryption type, "unknown" for 0.
func ETypeName(id int32) string {
	if id == 0 {
		return "unknown"
	}
	return enctype.Name(id)
}
