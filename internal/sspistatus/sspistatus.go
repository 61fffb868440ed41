// Package sspistatus names Windows' SSPI status codes (SECURITY_STATUS,
// winerror.h): the one home of SEC_E_* for the Windows credential side,
// which turns them into observations, and the fake Client Access server,
// which writes them into its IIS log as IIS does.
package sspistatus

import "fmt"

// Status is an SSPI status code (SECURITY_STATUS): SEC_E_OK, SEC_I_* or
// SEC_E_*. It stays a number until something prints it, as
// krberror.Code does.
type Status uint32

// The statuses this package names. Values are those of Windows'
// winerror.h; a Windows-only test compares the ones alexbrainman/sspi also
// defines.
const (
	SEC_E_OK                          Status = 0x00000000
	SEC_I_CONTINUE_NEEDED             Status = 0x00090312
	SEC_E_INSUFFICIENT_MEMORY         Status = 0x80090300
	SEC_E_INVALID_HANDLE              Status = 0x80090301
	SEC_E_UNSUPPORTED_FUNCTION        Status = 0x80090302
	SEC_E_TARGET_UNKNOWN              Status = 0x80090303
	SEC_E_INTERNAL_ERROR              Status = 0x80090304
	SEC_E_SECPKG_NOT_FOUND            Status = 0x80090305
	SEC_E_INVALID_TOKEN               Status = 0x80090308
	SEC_E_LOGON_DENIED                Status = 0x8009030C
	SEC_E_UNKNOWN_CREDENTIALS         Status = 0x8009030D
	SEC_E_NO_CREDENTIALS              Status = 0x8009030E
	SEC_E_MESSAGE_ALTERED             Status = 0x8009030F
	SEC_E_OUT_OF_SEQUENCE             Status = 0x80090310
	SEC_E_NO_AUTHENTICATING_AUTHORITY Status = 0x80090311
	SEC_E_CONTEXT_EXPIRED             Status = 0x80090317
	SEC_E_WRONG_PRINCIPAL             Status = 0x80090322
	SEC_E_TIME_SKEW                   Status = 0x80090324
	SEC_E_DECRYPT_FAILURE             Status = 0x80090330
	SEC_E_ALGORITHM_MISMATCH          Status = 0x80090331
	SEC_E_NO_TGT_REPLY                Status = 0x80090334
	SEC_E_MAX_REFERRALS_EXCEEDED      Status = 0x80090338
	SEC_E_STRONG_CRYPTO_NOT_SUPPORTED Status = 0x8009033A
	SEC_E_TOO_MANY_PRINCIPALS         Status = 0x8009033B
	SEC_E_SMARTCARD_LOGON_REQUIRED    Status = 0x8009033E
	SEC_E_KDC_INVALID_REQUEST         Status = 0x80090340
	SEC_E_KDC_UNABLE_TO_REFER         Status = 0x80090341
	SEC_E_KDC_UNKNOWN_ETYPE           Status = 0x80090342
	SEC_E_UNSUPPORTED_PREAUTH         Status = 0x80090343
	SEC_E_BAD_BINDINGS                Status = 0x80090346
	SEC_E_NO_KERB_KEY                 Status = 0x80090348
	SEC_E_DOWNGRADE_DETECTED          Status = 0x80090350
	SEC_E_MUTUAL_AUTH_FAILED          Status = 0x80090363
)

// names are each status's winerror.h name and Microsoft's description.
var names = map[Status]struct{ name, text string }{
	SEC_E_OK:                          {"SEC_E_OK", "the operation completed successfully"},
	SEC_I_CONTINUE_NEEDED:             {"SEC_I_CONTINUE_NEEDED", "the function completed, but must be called again to complete the context"},
	SEC_E_INSUFFICIENT_MEMORY:         {"SEC_E_INSUFFICIENT_MEMORY", "not enough memory is available to complete this request"},
	SEC_E_INVALID_HANDLE:              {"SEC_E_INVALID_HANDLE", "the handle specified is invalid"},
	SEC_E_UNSUPPORTED_FUNCTION:        {"SEC_E_UNSUPPORTED_FUNCTION", "the function requested is not supported"},
	SEC_E_TARGET_UNKNOWN:              {"SEC_E_TARGET_UNKNOWN", "the specified target is unknown or unreachable"},
	SEC_E_INTERNAL_ERROR:              {"SEC_E_INTERNAL_ERROR", "the Local Security Authority cannot be contacted"},
	SEC_E_SECPKG_NOT_FOUND:            {"SEC_E_SECPKG_NOT_FOUND", "the requested security package does not exist"},
	SEC_E_INVALID_TOKEN:               {"SEC_E_INVALID_TOKEN", "the token supplied to the function is invalid"},
	SEC_E_LOGON_DENIED:                {"SEC_E_LOGON_DENIED", "the logon attempt failed"},
	SEC_E_UNKNOWN_CREDENTIALS:         {"SEC_E_UNKNOWN_CREDENTIALS", "the credentials supplied to the package were not recognized"},
	SEC_E_NO_CREDENTIALS:              {"SEC_E_NO_CREDENTIALS", "no credentials are available in the security package"},
	SEC_E_MESSAGE_ALTERED:             {"SEC_E_MESSAGE_ALTERED", "the message or signature supplied for verification has been altered"},
	SEC_E_OUT_OF_SEQUENCE:             {"SEC_E_OUT_OF_SEQUENCE", "the message supplied for verification is out of sequence"},
	SEC_E_NO_AUTHENTICATING_AUTHORITY: {"SEC_E_NO_AUTHENTICATING_AUTHORITY", "no authority could be contacted for authentication"},
	SEC_E_CONTEXT_EXPIRED:             {"SEC_E_CONTEXT_EXPIRED", "the context has expired and can no longer be used"},
	SEC_E_WRONG_PRINCIPAL:             {"SEC_E_WRONG_PRINCIPAL", "the target principal name is incorrect"},
	SEC_E_TIME_SKEW:                   {"SEC_E_TIME_SKEW", "the clocks on the client and server machines are skewed"},
	SEC_E_DECRYPT_FAILURE:             {"SEC_E_DECRYPT_FAILURE", "the specified data could not be decrypted"},
	SEC_E_ALGORITHM_MISMATCH:          {"SEC_E_ALGORITHM_MISMATCH", "the client and server cannot communicate, because they do not possess a common algorithm"},
	SEC_E_NO_TGT_REPLY:                {"SEC_E_NO_TGT_REPLY", "the client is trying to negotiate a context and the server requires user-to-user but did not send a TGT reply"},
	SEC_E_MAX_REFERRALS_EXCEEDED:      {"SEC_E_MAX_REFERRALS_EXCEEDED", "the number of maximum ticket referrals has been exceeded"},
	SEC_E_STRONG_CRYPTO_NOT_SUPPORTED: {"SEC_E_STRONG_CRYPTO_NOT_SUPPORTED", "the security context could not be established due to a failure in the requested quality of service"},
	SEC_E_TOO_MANY_PRINCIPALS:         {"SEC_E_TOO_MANY_PRINCIPALS", "the KDC reply contained more than one principal name"},
	SEC_E_SMARTCARD_LOGON_REQUIRED:    {"SEC_E_SMARTCARD_LOGON_REQUIRED", "smartcard logon is required and was not used"},
	SEC_E_KDC_INVALID_REQUEST:         {"SEC_E_KDC_INVALID_REQUEST", "an invalid request was sent to the KDC"},
	SEC_E_KDC_UNABLE_TO_REFER:         {"SEC_E_KDC_UNABLE_TO_REFER", "the KDC was unable to generate a referral for the service requested"},
	SEC_E_KDC_UNKNOWN_ETYPE:           {"SEC_E_KDC_UNKNOWN_ETYPE", "the encryption type requested is not supported by the KDC"},
	SEC_E_UNSUPPORTED_PREAUTH:         {"SEC_E_UNSUPPORTED_PREAUTH", "an unsupported preauthentication mechanism was presented to the Kerberos package"},
	SEC_E_BAD_BINDINGS:                {"SEC_E_BAD_BINDINGS", "client's supplied SSPI channel bindings were incorrect"},
	SEC_E_NO_KERB_KEY:                 {"SEC_E_NO_KERB_KEY", "no Kerberos key was found"},
	SEC_E_DOWNGRADE_DETECTED:          {"SEC_E_DOWNGRADE_DETECTED", "the system cannot contact a domain controller to service the authentication request, or a downgrade attack was detected"},
	SEC_E_MUTUAL_AUTH_FAILED:          {"SEC_E_MUTUAL_AUTH_FAILED", "the server's mutual authentication token did not verify"},
}

// String is the status's winerror.h name, e.g. "SEC_E_TARGET_UNKNOWN", or
// its hex value when this package does not name it.
func (s Status) String() string {
	if i, ok := names[s]; ok {
		return i.name
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

// Text is Microsoft's description of the status, or "" when this package
// does not name it.
func (s Status) Text() string { return names[s].text }
