package fakeserver

import (
	"crypto/tls"
	"crypto/x509"
	"net"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// AuthRequest describes one X-EXPS or AUTH command to an Authenticator.
type AuthRequest struct {
	Verb          string // "X-EXPS" or "AUTH"
	Mechanism     string // upper case, e.g. "GSSAPI"
	TLS           bool   // the session is inside TLS
	RemoteAddr    net.Addr
	Host          string // the connector's FQDN
	ConnectorName string
	Logf          func(format string, args ...any) // the connector's log, for event texts
	// ClientName is the argument of the client's last EHLO: ExchangeAuth's
	// reverse ticket is for SMTPSVC/<ClientName>.
	ClientName string

	// For X-EXPS EXCHANGEAUTH only: the hash algorithm the client named,
	// the TLS session the blob is bound to, and the certificate the
	// connector presented in it.
	HashAlgorithm string
	TLSState      *tls.ConnectionState
	Certificate   func() (*x509.Certificate, error)
}

// Authenticator plugs authentication into the connector, the way go-smtp's
// AuthSession does: the engine drives the base64 challenge/response loop and
// the returned sasl.Server decides. For X-EXPS EXCHANGEAUTH, which is one
// line each way, the sasl.Server's Next gets the client's blob and returns
// the blob of the 235 reply with done. An error returned by Start or by the
// sasl.Server that is an *smtp.SMTPError reaches the wire unchanged; any
// other error becomes "454 4.7.0 Temporary authentication failure", which is
// what Exchange answers for every Kerberos failure.
type Authenticator interface {
	Start(req AuthRequest) (sasl.Server, error)
}

// Authorizer is implemented by sasl.Servers that check, once the client
// is authenticated, whether it may submit (Exchange's ms-Exch-SMTP-Submit
// permission). The connector asks it before its 235: Exchange sends an
// X-EXPS GSSAPI AP-REP before this check, so a refusal here comes after it.
type Authorizer interface {
	Authorize() error
}

// Principal is implemented by sasl.Servers that know whom they
// authenticated; the connector logs it and records it on messages.
type Principal interface {
	Principal() string
}

// Replies the connector and its authenticators share. They are Exchange's
// texts, so that what a probe (or a sending Exchange server) sees from the
// fake is what it would see from the real thing. Each call returns a new
// value: a shared *SMTPError could be changed by any caller.
func replyAuthSuccessful() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 235, EnhancedCode: smtp.EnhancedCode{2, 7, 0}, Message: "Authentication successful"}
}

// ReplyAuthTemporary is Exchange's answer to any Kerberos failure.
func ReplyAuthTemporary() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
}

// ReplyAuthFailed is Exchange's answer to refused credentials.
func ReplyAuthFailed() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 3}, Message: "Authentication unsuccessful"}
}

// ReplyUnrecognized is Exchange's answer to a mechanism it does not offer.
func ReplyUnrecognized() *smtp.SMTPError {
	return &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 7, 4}, Message: "Unrecognized authentication type"}
}

// RefuseAll is the Authenticator of a connector without any: every
// mechanism is "504 5.7.4 Unrecognized authentication type".
type RefuseAll struct{}

// Start refuses.
func (RefuseAll) Start(AuthRequest) (sasl.Server, error) { return nil, ReplyUnrecognized() }
