package sspicred

import (
	"errors"
	"fmt"

	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/verdict"
)

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

// outcome is what a status says about the client's Kerberos side, in the
// terms of verdict.KerberosObservation.
type outcome int

const (
	// outcomeUnknown: the status names no cause exauth can judge;
	// the observation keeps it as an error (verdict unknown).
	outcomeUnknown outcome = iota
	// outcomeKDCError: the status is Windows' translation of a KRB-ERROR;
	// the observation carries that code, as the gokrb5 side would.
	outcomeKDCError
	// outcomeUnreachable: no domain controller answered.
	outcomeUnreachable
	// outcomeCredentials: the logon session holds no usable credentials.
	outcomeCredentials
)

// statusInfo is one row of the table: the status's name, Microsoft's
// description, and what exauth reads into it.
type statusInfo struct {
	name, text string
	outcome    outcome
	// code and exchange: the KRB-ERROR a Kerberos client would have seen,
	// for outcomeKDCError.
	code     krberror.Code
	exchange verdict.KDCExchange
}

// statuses is the one table from SSPI statuses to meaning. The texts are
// Microsoft's (winerror.h). The Kerberos codes are how Windows' Kerberos
// package reports those KRB-ERRORs to an initiator; Wine reports nearly
// every failure as SEC_E_INTERNAL_ERROR, so the rows are tested against a
// fake and docs/windows.md marks them as checked on real Windows only.
var statuses = map[Status]statusInfo{
	SEC_E_OK:                  {name: "SEC_E_OK", text: "the operation completed successfully"},
	SEC_I_CONTINUE_NEEDED:     {name: "SEC_I_CONTINUE_NEEDED", text: "the function completed, but must be called again to complete the context"},
	SEC_E_INSUFFICIENT_MEMORY: {name: "SEC_E_INSUFFICIENT_MEMORY", text: "not enough memory is available to complete this request"},
	SEC_E_INVALID_HANDLE:      {name: "SEC_E_INVALID_HANDLE", text: "the handle specified is invalid"},
	SEC_E_UNSUPPORTED_FUNCTION: {name: "SEC_E_UNSUPPORTED_FUNCTION",
		text: "the function requested is not supported"},
	SEC_E_TARGET_UNKNOWN: {name: "SEC_E_TARGET_UNKNOWN", text: "the specified target is unknown or unreachable",
		outcome: outcomeKDCError, code: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN, exchange: verdict.ExchangeTGS},
	SEC_E_INTERNAL_ERROR: {name: "SEC_E_INTERNAL_ERROR", text: "the Local Security Authority cannot be contacted"},
	SEC_E_SECPKG_NOT_FOUND: {name: "SEC_E_SECPKG_NOT_FOUND", text: "the requested security package does not exist",
		outcome: outcomeCredentials},
	SEC_E_INVALID_TOKEN: {name: "SEC_E_INVALID_TOKEN", text: "the token supplied to the function is invalid"},
	SEC_E_LOGON_DENIED: {name: "SEC_E_LOGON_DENIED", text: "the logon attempt failed",
		outcome: outcomeKDCError, code: krberror.KDC_ERR_PREAUTH_FAILED, exchange: verdict.ExchangeAS},
	SEC_E_UNKNOWN_CREDENTIALS: {name: "SEC_E_UNKNOWN_CREDENTIALS", text: "the credentials supplied to the package were not recognized",
		outcome: outcomeCredentials},
	SEC_E_NO_CREDENTIALS: {name: "SEC_E_NO_CREDENTIALS", text: "no credentials are available in the security package",
		outcome: outcomeCredentials},
	SEC_E_MESSAGE_ALTERED: {name: "SEC_E_MESSAGE_ALTERED", text: "the message or signature supplied for verification has been altered",
		outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_MODIFIED, exchange: verdict.ExchangeUnknown},
	SEC_E_OUT_OF_SEQUENCE: {name: "SEC_E_OUT_OF_SEQUENCE", text: "the message supplied for verification is out of sequence"},
	SEC_E_NO_AUTHENTICATING_AUTHORITY: {name: "SEC_E_NO_AUTHENTICATING_AUTHORITY", text: "no authority could be contacted for authentication",
		outcome: outcomeUnreachable},
	SEC_E_CONTEXT_EXPIRED: {name: "SEC_E_CONTEXT_EXPIRED", text: "the context has expired and can no longer be used"},
	SEC_E_WRONG_PRINCIPAL: {name: "SEC_E_WRONG_PRINCIPAL", text: "the target principal name is incorrect",
		outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_MODIFIED, exchange: verdict.ExchangeUnknown},
	SEC_E_TIME_SKEW: {name: "SEC_E_TIME_SKEW", text: "the clocks on the client and server machines are skewed",
		outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_SKEW, exchange: verdict.ExchangeUnknown},
	SEC_E_DECRYPT_FAILURE: {name: "SEC_E_DECRYPT_FAILURE", text: "the specified data could not be decrypted"},
	SEC_E_ALGORITHM_MISMATCH: {name: "SEC_E_ALGORITHM_MISMATCH", text: "the client and server cannot communicate, because they do not possess a common algorithm",
		outcome: outcomeKDCError, code: krberror.KDC_ERR_ETYPE_NOSUPP, exchange: verdict.ExchangeTGS},
	SEC_E_NO_TGT_REPLY:           {name: "SEC_E_NO_TGT_REPLY", text: "the client is trying to negotiate a context and the server requires user-to-user but did not send a TGT reply"},
	SEC_E_MAX_REFERRALS_EXCEEDED: {name: "SEC_E_MAX_REFERRALS_EXCEEDED", text: "the number of maximum ticket referrals has been exceeded"},
	SEC_E_STRONG_CRYPTO_NOT_SUPPORTED: {name: "SEC_E_STRONG_CRYPTO_NOT_SUPPORTED", text: "the security context could not be established due to a failure in the requested quality of service",
		outcome: outcomeKDCError, code: krberror.KDC_ERR_ETYPE_NOSUPP, exchange: verdict.ExchangeTGS},
	SEC_E_TOO_MANY_PRINCIPALS: {name: "SEC_E_TOO_MANY_PRINCIPALS", text: "the KDC reply contained more than one principal name",
		outcome: outcomeKDCError, code: krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE, exchange: verdict.ExchangeTGS},
	SEC_E_SMARTCARD_LOGON_REQUIRED: {name: "SEC_E_SMARTCARD_LOGON_REQUIRED", text: "smartcard logon is required and was not used",
		outcome: outcomeCredentials},
	SEC_E_KDC_INVALID_REQUEST: {name: "SEC_E_KDC_INVALID_REQUEST", text: "an invalid request was sent to the KDC"},
	SEC_E_KDC_UNABLE_TO_REFER: {name: "SEC_E_KDC_UNABLE_TO_REFER", text: "the KDC was unable to generate a referral for the service requested"},
	SEC_E_KDC_UNKNOWN_ETYPE: {name: "SEC_E_KDC_UNKNOWN_ETYPE", text: "the encryption type requested is not supported by the KDC",
		outcome: outcomeKDCError, code: krberror.KDC_ERR_ETYPE_NOSUPP, exchange: verdict.ExchangeTGS},
	SEC_E_UNSUPPORTED_PREAUTH: {name: "SEC_E_UNSUPPORTED_PREAUTH", text: "an unsupported preauthentication mechanism was presented to the Kerberos package",
		outcome: outcomeKDCError, code: krberror.KDC_ERR_PADATA_TYPE_NOSUPP, exchange: verdict.ExchangeAS},
	SEC_E_BAD_BINDINGS: {name: "SEC_E_BAD_BINDINGS", text: "client's supplied SSPI channel bindings were incorrect"},
	SEC_E_NO_KERB_KEY: {name: "SEC_E_NO_KERB_KEY", text: "no Kerberos key was found",
		outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_NOKEY, exchange: verdict.ExchangeUnknown},
	SEC_E_DOWNGRADE_DETECTED: {name: "SEC_E_DOWNGRADE_DETECTED", text: "the system cannot contact a domain controller to service the authentication request, or a downgrade attack was detected",
		outcome: outcomeUnreachable},
	SEC_E_MUTUAL_AUTH_FAILED: {name: "SEC_E_MUTUAL_AUTH_FAILED", text: "the server's mutual authentication token did not verify",
		outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_MUT_FAIL, exchange: verdict.ExchangeUnknown},
}

// String is the status's winerror.h name, e.g. "SEC_E_TARGET_UNKNOWN", or
// its hex value when this package does not name it.
func (s Status) String() string {
	if i, ok := statuses[s]; ok {
		return i.name
	}
	return fmt.Sprintf("0x%08X", uint32(s))
}

// Text is Microsoft's description of the status, or "" when this package
// does not name it.
func (s Status) Text() string { return statuses[s].text }

// KRBCode is the KRB-ERROR code a status stands for, and the exchange
// that answered it; ok is false when the status is not a KDC's or an
// acceptor's answer.
func (s Status) KRBCode() (code krberror.Code, exchange verdict.KDCExchange, ok bool) {
	i := statuses[s]
	return i.code, i.exchange, i.outcome == outcomeKDCError
}

// StatusError is an SSPI call that failed with a status.
type StatusError struct {
	// Op is the call and its package: "InitializeSecurityContext
	// (Kerberos) for SMTPSVC/hub01.lab.test".
	Op     string
	Status Status
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %s (0x%08X)", e.Op, e.Status, uint32(e.Status))
	if t := e.Status.Text(); t != "" {
		s += ": " + t
	}
	return s
}

// observeError keeps an SSPI failure as data in the terms the verdict
// core judges, so that a SEC_E_TARGET_UNKNOWN and a gokrb5 client's
// KDC_ERR_S_PRINCIPAL_UNKNOWN lead to the same verdict. The status itself
// stays in the evidence (the KRB-ERROR's text, or the error).
func observeError(err error, obs *verdict.KerberosObservation) {
	obs.Err = err
	var se *StatusError
	if !errors.As(err, &se) {
		obs.CredentialsProblem = err.Error()
		return
	}
	st := se.Status
	label := fmt.Sprintf("reported by SSPI as %s (0x%08X)", st, uint32(st))
	switch i := statuses[st]; i.outcome {
	case outcomeKDCError:
		obs.KDCError = &verdict.KRBError{Exchange: i.exchange, Code: i.code, Text: label}
	case outcomeUnreachable:
		obs.Unreachable = []verdict.KDCAttempt{{Addr: "(the domain's KDCs, located by Windows)", Transport: "-", Result: label + ": " + i.text}}
	case outcomeCredentials:
		obs.CredentialsProblem = fmt.Sprintf("the logon session has no usable Kerberos credentials (%s: %s)", label, i.text)
	}
}
