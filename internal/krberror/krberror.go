// Package krberror is exauth's one table of Kerberos error codes (RFC 4120
// section 7.5.9): the typed code every layer carries from a KRB-ERROR up to
// the verdict, and its RFC name. It depends on nothing, so that the verdict
// core can branch on codes without importing a Kerberos implementation.
package krberror

import "fmt"

// Code is a KRB-ERROR error-code. It keeps its meaning as a number until
// something has to print it.
type Code int32

// The codes of RFC 4120 7.5.9 (and the PKINIT codes of RFC 4556).
const (
	KDC_ERR_NONE                          Code = 0  // No error
	KDC_ERR_NAME_EXP                      Code = 1  // Client's entry in database has expired
	KDC_ERR_SERVICE_EXP                   Code = 2  // Server's entry in database has expired
	KDC_ERR_BAD_PVNO                      Code = 3  // Requested protocol version number not supported
	KDC_ERR_C_OLD_MAST_KVNO               Code = 4  // Client's key encrypted in old master key
	KDC_ERR_S_OLD_MAST_KVNO               Code = 5  // Server's key encrypted in old master key
	KDC_ERR_C_PRINCIPAL_UNKNOWN           Code = 6  // Client not found in Kerberos database
	KDC_ERR_S_PRINCIPAL_UNKNOWN           Code = 7  // Server not found in Kerberos database
	KDC_ERR_PRINCIPAL_NOT_UNIQUE          Code = 8  // Multiple principal entries in database
	KDC_ERR_NULL_KEY                      Code = 9  // The client or server has a null key
	KDC_ERR_CANNOT_POSTDATE               Code = 10 // Ticket not eligible for  postdating
	KDC_ERR_NEVER_VALID                   Code = 11 // Requested starttime is later than end time
	KDC_ERR_POLICY                        Code = 12 // KDC policy rejects request
	KDC_ERR_BADOPTION                     Code = 13 // KDC cannot accommodate requested option
	KDC_ERR_ETYPE_NOSUPP                  Code = 14 // KDC has no support for  encryption type
	KDC_ERR_SUMTYPE_NOSUPP                Code = 15 // KDC has no support for  checksum type
	KDC_ERR_PADATA_TYPE_NOSUPP            Code = 16 // KDC has no support for  padata type
	KDC_ERR_TRTYPE_NOSUPP                 Code = 17 // KDC has no support for  transited type
	KDC_ERR_CLIENT_REVOKED                Code = 18 // Clients credentials have been revoked
	KDC_ERR_SERVICE_REVOKED               Code = 19 // Credentials for server have been revoked
	KDC_ERR_TGT_REVOKED                   Code = 20 // TGT has been revoked
	KDC_ERR_CLIENT_NOTYET                 Code = 21 // Client not yet valid; try again later
	KDC_ERR_SERVICE_NOTYET                Code = 22 // Server not yet valid; try again later
	KDC_ERR_KEY_EXPIRED                   Code = 23 // Password has expired; change password to reset
	KDC_ERR_PREAUTH_FAILED                Code = 24 // Pre-authentication information was invalid
	KDC_ERR_PREAUTH_REQUIRED              Code = 25 // Additional pre-authentication required
	KDC_ERR_SERVER_NOMATCH                Code = 26 // Requested server and ticket don't match
	KDC_ERR_MUST_USE_USER2USER            Code = 27 // Server principal valid for  user2user only
	KDC_ERR_PATH_NOT_ACCEPTED             Code = 28 // KDC Policy rejects transited path
	KDC_ERR_SVC_UNAVAILABLE               Code = 29 // A service is not available
	KRB_AP_ERR_BAD_INTEGRITY              Code = 31 // Integrity check on decrypted field failed
	KRB_AP_ERR_TKT_EXPIRED                Code = 32 // Ticket expired
	KRB_AP_ERR_TKT_NYV                    Code = 33 // Ticket not yet valid
	KRB_AP_ERR_REPEAT                     Code = 34 // Request is a replay
	KRB_AP_ERR_NOT_US                     Code = 35 // The ticket isn't for us
	KRB_AP_ERR_BADMATCH                   Code = 36 // Ticket and authenticator don't match
	KRB_AP_ERR_SKEW                       Code = 37 // Clock skew too great
	KRB_AP_ERR_BADADDR                    Code = 38 // Incorrect net address
	KRB_AP_ERR_BADVERSION                 Code = 39 // Protocol version mismatch
	KRB_AP_ERR_MSG_TYPE                   Code = 40 // Invalid msg type
	KRB_AP_ERR_MODIFIED                   Code = 41 // Message stream modified
	KRB_AP_ERR_BADORDER                   Code = 42 // Message out of order
	KRB_AP_ERR_BADKEYVER                  Code = 44 // Specified version of key is not available
	KRB_AP_ERR_NOKEY                      Code = 45 // Service key not available
	KRB_AP_ERR_MUT_FAIL                   Code = 46 // Mutual authentication failed
	KRB_AP_ERR_BADDIRECTION               Code = 47 // Incorrect message direction
	KRB_AP_ERR_METHOD                     Code = 48 // Alternative authentication method required
	KRB_AP_ERR_BADSEQ                     Code = 49 // Incorrect sequence number in message
	KRB_AP_ERR_INAPP_CKSUM                Code = 50 // Inappropriate type of checksum in message
	KRB_AP_PATH_NOT_ACCEPTED              Code = 51 // Policy rejects transited path
	KRB_ERR_RESPONSE_TOO_BIG              Code = 52 // Response too big for UDP;  retry with TCP
	KRB_ERR_GENERIC                       Code = 60 // Generic error (description in e-text)
	KRB_ERR_FIELD_TOOLONG                 Code = 61 // Field is too long for this implementation
	KDC_ERROR_CLIENT_NOT_TRUSTED          Code = 62 // Reserved for PKINIT
	KDC_ERROR_KDC_NOT_TRUSTED             Code = 63 // Reserved for PKINIT
	KDC_ERROR_INVALID_SIG                 Code = 64 // Reserved for PKINIT
	KDC_ERR_KEY_TOO_WEAK                  Code = 65 // Reserved for PKINIT
	KDC_ERR_CERTIFICATE_MISMATCH          Code = 66 // Reserved for PKINIT
	KRB_AP_ERR_NO_TGT                     Code = 67 // No TGT available to validate USER-TO-USER
	KDC_ERR_WRONG_REALM                   Code = 68 // Reserved for future use
	KRB_AP_ERR_USER_TO_USER_REQUIRED      Code = 69 // Ticket must be for  USER-TO-USER
	KDC_ERR_CANT_VERIFY_CERTIFICATE       Code = 70 // Reserved for PKINIT
	KDC_ERR_INVALID_CERTIFICATE           Code = 71 // Reserved for PKINIT
	KDC_ERR_REVOKED_CERTIFICATE           Code = 72 // Reserved for PKINIT
	KDC_ERR_REVOCATION_STATUS_UNKNOWN     Code = 73 // Reserved for PKINIT
	KDC_ERR_REVOCATION_STATUS_UNAVAILABLE Code = 74 // Reserved for PKINIT
	KDC_ERR_CLIENT_NAME_MISMATCH          Code = 75 // Reserved for PKINIT
	KDC_ERR_KDC_NAME_MISMATCH             Code = 76 // Reserved for PKINIT
)

var names = map[Code]string{
	KDC_ERR_NONE:                          "KDC_ERR_NONE",
	KDC_ERR_NAME_EXP:                      "KDC_ERR_NAME_EXP",
	KDC_ERR_SERVICE_EXP:                   "KDC_ERR_SERVICE_EXP",
	KDC_ERR_BAD_PVNO:                      "KDC_ERR_BAD_PVNO",
	KDC_ERR_C_OLD_MAST_KVNO:               "KDC_ERR_C_OLD_MAST_KVNO",
	KDC_ERR_S_OLD_MAST_KVNO:               "KDC_ERR_S_OLD_MAST_KVNO",
	KDC_ERR_C_PRINCIPAL_UNKNOWN:           "KDC_ERR_C_PRINCIPAL_UNKNOWN",
	KDC_ERR_S_PRINCIPAL_UNKNOWN:           "KDC_ERR_S_PRINCIPAL_UNKNOWN",
	KDC_ERR_PRINCIPAL_NOT_UNIQUE:          "KDC_ERR_PRINCIPAL_NOT_UNIQUE",
	KDC_ERR_NULL_KEY:                      "KDC_ERR_NULL_KEY",
	KDC_ERR_CANNOT_POSTDATE:               "KDC_ERR_CANNOT_POSTDATE",
	KDC_ERR_NEVER_VALID:                   "KDC_ERR_NEVER_VALID",
	KDC_ERR_POLICY:                        "KDC_ERR_POLICY",
	KDC_ERR_BADOPTION:                     "KDC_ERR_BADOPTION",
	KDC_ERR_ETYPE_NOSUPP:                  "KDC_ERR_ETYPE_NOSUPP",
	KDC_ERR_SUMTYPE_NOSUPP:                "KDC_ERR_SUMTYPE_NOSUPP",
	KDC_ERR_PADATA_TYPE_NOSUPP:            "KDC_ERR_PADATA_TYPE_NOSUPP",
	KDC_ERR_TRTYPE_NOSUPP:                 "KDC_ERR_TRTYPE_NOSUPP",
	KDC_ERR_CLIENT_REVOKED:                "KDC_ERR_CLIENT_REVOKED",
	KDC_ERR_SERVICE_REVOKED:               "KDC_ERR_SERVICE_REVOKED",
	KDC_ERR_TGT_REVOKED:                   "KDC_ERR_TGT_REVOKED",
	KDC_ERR_CLIENT_NOTYET:                 "KDC_ERR_CLIENT_NOTYET",
	KDC_ERR_SERVICE_NOTYET:                "KDC_ERR_SERVICE_NOTYET",
	KDC_ERR_KEY_EXPIRED:                   "KDC_ERR_KEY_EXPIRED",
	KDC_ERR_PREAUTH_FAILED:                "KDC_ERR_PREAUTH_FAILED",
	KDC_ERR_PREAUTH_REQUIRED:              "KDC_ERR_PREAUTH_REQUIRED",
	KDC_ERR_SERVER_NOMATCH:                "KDC_ERR_SERVER_NOMATCH",
	KDC_ERR_MUST_USE_USER2USER:            "KDC_ERR_MUST_USE_USER2USER",
	KDC_ERR_PATH_NOT_ACCEPTED:             "KDC_ERR_PATH_NOT_ACCEPTED",
	KDC_ERR_SVC_UNAVAILABLE:               "KDC_ERR_SVC_UNAVAILABLE",
	KRB_AP_ERR_BAD_INTEGRITY:              "KRB_AP_ERR_BAD_INTEGRITY",
	KRB_AP_ERR_TKT_EXPIRED:                "KRB_AP_ERR_TKT_EXPIRED",
	KRB_AP_ERR_TKT_NYV:                    "KRB_AP_ERR_TKT_NYV",
	KRB_AP_ERR_REPEAT:                     "KRB_AP_ERR_REPEAT",
	KRB_AP_ERR_NOT_US:                     "KRB_AP_ERR_NOT_US",
	KRB_AP_ERR_BADMATCH:                   "KRB_AP_ERR_BADMATCH",
	KRB_AP_ERR_SKEW:                       "KRB_AP_ERR_SKEW",
	KRB_AP_ERR_BADADDR:                    "KRB_AP_ERR_BADADDR",
	KRB_AP_ERR_BADVERSION:                 "KRB_AP_ERR_BADVERSION",
	KRB_AP_ERR_MSG_TYPE:                   "KRB_AP_ERR_MSG_TYPE",
	KRB_AP_ERR_MODIFIED:                   "KRB_AP_ERR_MODIFIED",
	KRB_AP_ERR_BADORDER:                   "KRB_AP_ERR_BADORDER",
	KRB_AP_ERR_BADKEYVER:                  "KRB_AP_ERR_BADKEYVER",
	KRB_AP_ERR_NOKEY:                      "KRB_AP_ERR_NOKEY",
	KRB_AP_ERR_MUT_FAIL:                   "KRB_AP_ERR_MUT_FAIL",
	KRB_AP_ERR_BADDIRECTION:               "KRB_AP_ERR_BADDIRECTION",
	KRB_AP_ERR_METHOD:                     "KRB_AP_ERR_METHOD",
	KRB_AP_ERR_BADSEQ:                     "KRB_AP_ERR_BADSEQ",
	KRB_AP_ERR_INAPP_CKSUM:                "KRB_AP_ERR_INAPP_CKSUM",
	KRB_AP_PATH_NOT_ACCEPTED:              "KRB_AP_PATH_NOT_ACCEPTED",
	KRB_ERR_RESPONSE_TOO_BIG:              "KRB_ERR_RESPONSE_TOO_BIG",
	KRB_ERR_GENERIC:                       "KRB_ERR_GENERIC",
	KRB_ERR_FIELD_TOOLONG:                 "KRB_ERR_FIELD_TOOLONG",
	KDC_ERROR_CLIENT_NOT_TRUSTED:          "KDC_ERROR_CLIENT_NOT_TRUSTED",
	KDC_ERROR_KDC_NOT_TRUSTED:             "KDC_ERROR_KDC_NOT_TRUSTED",
	KDC_ERROR_INVALID_SIG:                 "KDC_ERROR_INVALID_SIG",
	KDC_ERR_KEY_TOO_WEAK:                  "KDC_ERR_KEY_TOO_WEAK",
	KDC_ERR_CERTIFICATE_MISMATCH:          "KDC_ERR_CERTIFICATE_MISMATCH",
	KRB_AP_ERR_NO_TGT:                     "KRB_AP_ERR_NO_TGT",
	KDC_ERR_WRONG_REALM:                   "KDC_ERR_WRONG_REALM",
	KRB_AP_ERR_USER_TO_USER_REQUIRED:      "KRB_AP_ERR_USER_TO_USER_REQUIRED",
	KDC_ERR_CANT_VERIFY_CERTIFICATE:       "KDC_ERR_CANT_VERIFY_CERTIFICATE",
	KDC_ERR_INVALID_CERTIFICATE:           "KDC_ERR_INVALID_CERTIFICATE",
	KDC_ERR_REVOKED_CERTIFICATE:           "KDC_ERR_REVOKED_CERTIFICATE",
	KDC_ERR_REVOCATION_STATUS_UNKNOWN:     "KDC_ERR_REVOCATION_STATUS_UNKNOWN",
	KDC_ERR_REVOCATION_STATUS_UNAVAILABLE: "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE",
	KDC_ERR_CLIENT_NAME_MISMATCH:          "KDC_ERR_CLIENT_NAME_MISMATCH",
	KDC_ERR_KDC_NAME_MISMATCH:             "KDC_ERR_KDC_NAME_MISMATCH",
}

// String is the code's RFC 4120 name, e.g. "KDC_ERR_S_PRINCIPAL_UNKNOWN",
// or "KRB_ERROR_<code>" for a code the RFCs do not name.
func (c Code) String() string {
	if n, ok := names[c]; ok {
		return n
	}
	return fmt.Sprintf("KRB_ERROR_%d", int32(c))
}

// Known reports whether the RFCs name the code.
func (c Code) Known() bool {
	_, ok := names[c]
	return ok
}
