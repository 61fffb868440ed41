package gssapi

import (
	"fmt"
	"time"

	"github.com/exauth/exauth/internal/krberror"
)

// Reason classifies why a GSSAPI exchange failed. The values are stable
// strings so that they can appear in logs and JSON unchanged.
type Reason string

// Reasons reported by the acceptor (*AcceptError) and the initiator
// (*InitError).
const (
	// ReasonSkew: the authenticator's time is further from the acceptor's
	// clock than the allowed skew (KRB_AP_ERR_SKEW). AcceptError.Skew holds
	// the difference.
	ReasonSkew Reason = "skew"
	// ReasonNotYetValid: the ticket's start time lies ahead of the
	// acceptor's clock by more than the allowed skew (KRB_AP_ERR_TKT_NYV):
	// the acceptor's clock is behind the KDC's.
	ReasonNotYetValid Reason = "not-yet-valid"
	// ReasonExpired: the ticket's end time has passed on the acceptor's
	// clock (KRB_AP_ERR_TKT_EXPIRED).
	ReasonExpired Reason = "expired"
	// ReasonKeyVersion: the keytab holds no key of the ticket's key version
	// number, or no key for the service at all (KRB_AP_ERR_BADKEYVER,
	// KRB_AP_ERR_NOKEY): a password change that did not reach the acceptor,
	// a stale keytab.
	ReasonKeyVersion Reason = "key-version"
	// ReasonEncType: the keytab holds the ticket's key version, but not in
	// the ticket's encryption type (KRB_AP_ERR_NOKEY).
	ReasonEncType Reason = "enctype"
	// ReasonKeyMismatch: the ticket does not decrypt with the keytab's key
	// of that version and type (KRB_AP_ERR_MODIFIED): the KDC used another
	// account's key, e.g. the SPN is registered on the wrong account.
	ReasonKeyMismatch Reason = "key-mismatch"
	// ReasonWrongService: the ticket is for another service principal
	// (KRB_AP_ERR_NOT_US).
	ReasonWrongService Reason = "wrong-service"
	// ReasonReplay: the authenticator was seen before (KRB_AP_ERR_REPEAT).
	ReasonReplay Reason = "replay"
	// ReasonIntegrity: the ticket decrypted but the authenticator did not,
	// or names another client than the ticket (KRB_AP_ERR_BAD_INTEGRITY,
	// KRB_AP_ERR_BADMATCH).
	ReasonIntegrity Reason = "integrity"
	// ReasonMalformed: the token is not a well-formed GSS-API Kerberos
	// token: bad framing, bad ASN.1, wrong message type, oversized.
	ReasonMalformed Reason = "malformed"
	// ReasonProtocol: the RFC 4752 security-layer step went wrong, or a
	// token came at the wrong moment.
	ReasonProtocol Reason = "protocol"
	// ReasonMutualFailed (initiator only): the AP-REP does not prove that
	// the acceptor holds the session key (KRB_AP_ERR_MUT_FAIL).
	ReasonMutualFailed Reason = "mutual-failed"
	// ReasonPeerError (initiator only): the acceptor answered with a
	// KRB-ERROR or an SPNEGO reject; InitError.Code holds its error code.
	ReasonPeerError Reason = "peer-error"
	// ReasonUnsupported (initiator only): the acceptor used a feature this
	// package does not implement: RFC 1964/4757 (pre-RFC 4121) wrap tokens,
	// sealed wrap tokens, or a security layer other than "none".
	ReasonUnsupported Reason = "unsupported"
)

// AcceptError is the acceptor's account of a failed exchange. Callers
// inspect it with errors.As.
type AcceptError struct {
	Reason Reason
	// Code is the Kerberos error code an acceptor would put in a KRB-ERROR
	// (iana/errorcode), e.g. 37 for KRB_AP_ERR_SKEW.
	Code int32
	// Detail is a short technical explanation (key version numbers,
	// principal names, times).
	Detail string
	// Skew is the authenticator's time minus the acceptor's clock, set for
	// ReasonSkew (negative: the acceptor's clock is ahead of the client's),
	// and the ticket's start time minus the acceptor's clock for
	// ReasonNotYetValid.
	Skew time.Duration
	// Err is the underlying error, if any.
	Err error
}

// Error returns a sentence a person can read in a log.
func (e *AcceptError) Error() string {
	var s string
	switch e.Reason {
	case ReasonSkew:
		if e.Skew < 0 {
			s = fmt.Sprintf("the acceptor's clock is %v ahead of the client's authenticator, more than the allowed skew", -e.Skew)
		} else {
			s = fmt.Sprintf("the client's authenticator is %v ahead of the acceptor's clock, more than the allowed skew", e.Skew)
		}
	case ReasonNotYetValid:
		s = fmt.Sprintf("the service ticket starts %s after the acceptor's clock: the acceptor's clock is behind the KDC's", fmtSkew(e.Skew))
	case ReasonExpired:
		s = "the service ticket has expired by the acceptor's clock"
	case ReasonKeyVersion:
		s = "the acceptor's keytab has no key of the version the ticket was encrypted with"
	case ReasonEncType:
		s = "the acceptor's keytab has no key of the ticket's encryption type"
	case ReasonKeyMismatch:
		s = "the service ticket does not decrypt with the acceptor's key: it was encrypted with another account's key"
	case ReasonWrongService:
		s = "the service ticket is for another service principal"
	case ReasonReplay:
		s = "the authenticator was replayed"
	case ReasonIntegrity:
		s = "the authenticator does not match the service ticket"
	case ReasonMalformed:
		s = "the client's token is not a well-formed Kerberos GSS-API token"
	case ReasonProtocol:
		s = "the SASL GSSAPI security-layer exchange failed"
	default:
		s = "Kerberos authentication failed"
	}
	s += " (" + codeName(e.Code) + ")"
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *AcceptError) Unwrap() error { return e.Err }

// Temporary reports whether the failure is a Kerberos failure, the kind a
// Microsoft Exchange receive connector answers with "454 4.7.0 Temporary
// authentication failure". It is false for ReasonProtocol (a broken SASL
// security-layer step), which a server refuses outright (535 5.7.3). The
// connector decides the reply; this only exposes the classification.
func (e *AcceptError) Temporary() bool { return e.Reason != ReasonProtocol }

// InitError is the initiator's (client's) account of a failed exchange.
// Callers inspect it with errors.As; when the acceptor sent a KRB-ERROR,
// errors.As also finds the messages.KRBError.
type InitError struct {
	Reason Reason
	// Code is a Kerberos error code (iana/errorcode), 0 when none applies.
	Code   int32
	Detail string
	Err    error
}

// Error returns a sentence a person can read in a log.
func (e *InitError) Error() string {
	var s string
	switch e.Reason {
	case ReasonMutualFailed:
		s = "the server's AP-REP failed mutual authentication"
	case ReasonPeerError:
		s = "the server rejected the Kerberos token"
	case ReasonUnsupported:
		s = "the server used a GSS-API feature this client does not support"
	case ReasonMalformed:
		s = "the server's GSSAPI data is malformed"
	case ReasonProtocol:
		s = "the GSSAPI exchange with the server went out of order"
	default:
		s = "GSSAPI authentication failed"
	}
	if e.Code != 0 {
		s += " (" + codeName(e.Code) + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *InitError) Unwrap() error { return e.Err }

func codeName(code int32) string {
	if code == 0 {
		return "no Kerberos error code"
	}
	return fmt.Sprintf("%s, code %d", krberror.Code(code), code)
}

func fmtSkew(d time.Duration) string {
	if d >= 0 {
		return "+" + d.String()
	}
	return d.String()
}
