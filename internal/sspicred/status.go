package sspicred

import (
	"errors"
	"fmt"

	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/sspistatus"
	"github.com/exauth/exauth/verdict"
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

// meaning is what exauth reads into a status.
type meaning struct {
	outcome outcome
	// code and exchange: the KRB-ERROR a Kerberos client would have seen,
	// for outcomeKDCError.
	code     krberror.Code
	exchange verdict.KDCExchange
}

// meanings is the one table from SSPI statuses to what they say about the
// client's Kerberos side. The Kerberos codes are how Windows' Kerberos
// package reports those KRB-ERRORs to an initiator; Wine reports nearly
// every failure as SEC_E_INTERNAL_ERROR, so the rows are tested against a
// fake and docs/windows.md marks them as checked on real Windows only.
// A status not listed names no cause exauth can judge.
var meanings = map[sspistatus.Status]meaning{
	sspistatus.SEC_E_TARGET_UNKNOWN:              {outcome: outcomeKDCError, code: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN, exchange: verdict.ExchangeTGS},
	sspistatus.SEC_E_SECPKG_NOT_FOUND:            {outcome: outcomeCredentials},
	sspistatus.SEC_E_LOGON_DENIED:                {outcome: outcomeKDCError, code: krberror.KDC_ERR_PREAUTH_FAILED, exchange: verdict.ExchangeAS},
	sspistatus.SEC_E_UNKNOWN_CREDENTIALS:         {outcome: outcomeCredentials},
	sspistatus.SEC_E_NO_CREDENTIALS:              {outcome: outcomeCredentials},
	sspistatus.SEC_E_MESSAGE_ALTERED:             {outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_MODIFIED, exchange: verdict.ExchangeUnknown},
	sspistatus.SEC_E_NO_AUTHENTICATING_AUTHORITY: {outcome: outcomeUnreachable},
	sspistatus.SEC_E_WRONG_PRINCIPAL:             {outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_MODIFIED, exchange: verdict.ExchangeUnknown},
	sspistatus.SEC_E_TIME_SKEW:                   {outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_SKEW, exchange: verdict.ExchangeUnknown},
	sspistatus.SEC_E_ALGORITHM_MISMATCH:          {outcome: outcomeKDCError, code: krberror.KDC_ERR_ETYPE_NOSUPP, exchange: verdict.ExchangeTGS},
	sspistatus.SEC_E_STRONG_CRYPTO_NOT_SUPPORTED: {outcome: outcomeKDCError, code: krberror.KDC_ERR_ETYPE_NOSUPP, exchange: verdict.ExchangeTGS},
	sspistatus.SEC_E_TOO_MANY_PRINCIPALS:         {outcome: outcomeKDCError, code: krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE, exchange: verdict.ExchangeTGS},
	sspistatus.SEC_E_SMARTCARD_LOGON_REQUIRED:    {outcome: outcomeCredentials},
	sspistatus.SEC_E_KDC_UNKNOWN_ETYPE:           {outcome: outcomeKDCError, code: krberror.KDC_ERR_ETYPE_NOSUPP, exchange: verdict.ExchangeTGS},
	sspistatus.SEC_E_UNSUPPORTED_PREAUTH:         {outcome: outcomeKDCError, code: krberror.KDC_ERR_PADATA_TYPE_NOSUPP, exchange: verdict.ExchangeAS},
	sspistatus.SEC_E_NO_KERB_KEY:                 {outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_NOKEY, exchange: verdict.ExchangeUnknown},
	sspistatus.SEC_E_DOWNGRADE_DETECTED:          {outcome: outcomeUnreachable},
	sspistatus.SEC_E_MUTUAL_AUTH_FAILED:          {outcome: outcomeKDCError, code: krberror.KRB_AP_ERR_MUT_FAIL, exchange: verdict.ExchangeUnknown},
}

// StatusError is an SSPI call that failed with a status.
type StatusError struct {
	// Op is the call and its package: "InitializeSecurityContext
	// (Kerberos) for SMTPSVC/hub01.lab.test".
	Op     string
	Status sspistatus.Status
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
	switch i := meanings[st]; i.outcome {
	case outcomeKDCError:
		obs.KDCError = &verdict.KRBError{Exchange: i.exchange, Code: i.code, Text: label}
	case outcomeUnreachable:
		obs.Unreachable = []verdict.KDCAttempt{{Addr: "(the domain's KDCs, located by Windows)", Transport: "-", Result: label + ": " + st.Text()}}
	case outcomeCredentials:
		obs.CredentialsProblem = fmt.Sprintf("the logon session has no usable Kerberos credentials (%s: %s)", label, st.Text())
	}
}
