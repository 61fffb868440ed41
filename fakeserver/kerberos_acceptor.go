package fakeserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/exchangeauth"
	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/krbkey"
)

// KerberosAcceptor is the connector's Kerberos side: it verifies the
// client's AP-REQ itself (ticket decrypted with the hub's keytab,
// authenticator checked against the hub's own clock, key version, replay)
// and answers as Exchange does: success, or "454 4.7.0 Temporary
// authentication failure" on any Kerberos failure (logging the event 1035
// text, with the real reason exauth knows and Exchange hides), and "535
// 5.7.3 Authentication unsuccessful" on a protocol refusal of AUTH.
//
// It speaks the three ways Exchange servers use Kerberos over SMTP:
//
//   - X-EXPS EXCHANGEAUTH SHA256 <blob> inside X-ANONYMOUSTLS (Exchange
//     2007 and later): the client's token and hash are checked, then the
//     hub gets its own ticket for SMTPSVC/<the client's EHLO name> from
//     Tickets and answers "235 <blob>" with that reverse token.
//   - X-EXPS GSSAPI (the downgraded path): "334 GSSAPI supported", the
//     client's token, the AP-REP in a 334, an empty line, "235 2.7.0".
//   - AUTH GSSAPI: RFC 4752, security-layer step included.
type KerberosAcceptor struct {
	Keytab  *keytab.Keytab
	Clock   clock.Clock   // the hub's clock; nil = system
	MaxSkew time.Duration // 0 = 5m
	// Replay detects replayed authenticators across sessions; nil disables.
	Replay *gssapi.ReplayCache
	// Tickets obtains the hub's own service tickets, for ExchangeAuth's
	// reverse leg; nil fails every EXCHANGEAUTH as a hub that cannot get
	// that ticket does.
	Tickets TicketSource
	// Faults are ExchangeAuth misbehaviours a scenario can switch on.
	Faults ExchangeAuthFaults

	// keys keeps the derived keys of the keytab's keys and of the reverse
	// ticket's session key from one session to the next.
	keys krbkey.Cache
}

// TicketSource obtains service tickets with the hub's own credentials.
type TicketSource interface {
	ServiceTicket(ctx context.Context, spn string) (*krbclient.ServiceTicket, error)
}

// ExchangeAuthFaults replay ExchangeAuth failures that are not Kerberos
// faults of the KDC or the keys.
type ExchangeAuthFaults struct {
	// HashMismatch makes the hub expect the hash of another TLS session,
	// as when a TLS-terminating device sits between the servers: the
	// client's hash does not match (LogonDenied).
	HashMismatch bool
	// NoSubmitPermission authenticates the client but finds it without
	// ms-Exch-SMTP-Submit on the connector (event 1018): a valid Kerberos
	// identity that is not an Exchange server.
	NoSubmitPermission bool
	// BadReplyHash answers 235 with a reverse token whose hash the sender
	// cannot verify.
	BadReplyHash bool
	// CorruptReply answers 235 with a blob that does not parse.
	CorruptReply bool
}

// reverseTimeout bounds the hub's own ticket request during a session.
const reverseTimeout = 30 * time.Second

// Start begins one X-EXPS or AUTH exchange.
func (a *KerberosAcceptor) Start(req AuthRequest) (sasl.Server, error) {
	switch {
	case req.Verb == "X-EXPS" && req.Mechanism == "EXCHANGEAUTH":
		srv, err := a.server("SMTPSVC/"+req.Host, gssapi.ModeExchange)
		if err != nil {
			return nil, err
		}
		return &exchangeAuthSession{a: a, srv: srv, req: req}, nil
	case req.Mechanism != "GSSAPI":
		return nil, ReplyUnrecognized()
	}
	service, mode := "SMTPSVC/"+req.Host, gssapi.ModeExchange
	if req.Verb == "AUTH" {
		service, mode = "SMTP/"+req.Host, gssapi.ModeSASL
	}
	srv, err := a.server(service, mode)
	if err != nil {
		return nil, err
	}
	return &acceptorSession{srv: srv, req: req, noSubmit: a.Faults.NoSubmitPermission}, nil
}

func (a *KerberosAcceptor) server(service string, mode gssapi.Mode) (*gssapi.Server, error) {
	srv, err := gssapi.NewServer(gssapi.ServerConfig{
		Keytab: a.Keytab, Service: service, Clock: a.Clock, MaxSkew: a.MaxSkew, Mode: mode, Replay: a.Replay, Keys: &a.keys,
	})
	if err != nil {
		return nil, fmt.Errorf("kerberos acceptor: %w", err)
	}
	return srv, nil
}

// logAuthFailure writes what Exchange logs for a failed inbound
// authentication: the protocol-log reason and event 1035, with the reason
// exauth knows and Exchange hides.
func logAuthFailure(req AuthRequest, mech, status, reason string) {
	if req.Logf == nil {
		return
	}
	negotiation := "Inbound Negotiate failed because of " + status
	if mech == "ExchangeAuth" {
		negotiation = "Inbound ExchangeAuth negotiation failed because of " + status
	}
	req.Logf("%s", negotiation)
	req.Logf("MSExchangeTransport event 1035 (SmtpReceive): Inbound authentication failed with error %s for Receive connector %s. The authentication mechanism is %s. The source IP address of the client who tried to authenticate to Microsoft Exchange is [%s]. (exauth: %s)",
		status, req.ConnectorName, mech, remoteIP(req), reason)
}

func remoteIP(req AuthRequest) string {
	if req.RemoteAddr == nil {
		return ""
	}
	ip := req.RemoteAddr.String()
	if i := strings.LastIndexByte(ip, ':'); i > 0 {
		ip = ip[:i]
	}
	return strings.Trim(ip, "[]")
}

// acceptorSession is X-EXPS GSSAPI or AUTH GSSAPI.
type acceptorSession struct {
	srv      *gssapi.Server
	req      AuthRequest
	noSubmit bool
}

// Authorize refuses the NoSubmitPermission fault's client.
func (s *acceptorSession) Authorize() error {
	return authorizeSubmit(s.req, s.srv.Principal(), s.noSubmit)
}

// authorizeSubmit is the connector's permission check after
// authentication: a client without ms-Exch-SMTP-Submit gets event 1018 and
// "454 4.7.0".
func authorizeSubmit(req AuthRequest, principal string, refuse bool) error {
	if !refuse {
		return nil
	}
	if req.Logf != nil {
		req.Logf("Inbound authentication failed because the client %s doesn't have submit permission.", principal)
		req.Logf("MSExchangeTransport event 1018 (SmtpReceive): The account '%s' provided valid credentials, but it does not have submit permissions on SMTP Receive connector '%s'; failing authentication.", principal, req.ConnectorName)
	}
	return ReplyAuthTemporary()
}

func (s *acceptorSession) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := s.srv.Next(response)
	if err == nil {
		return challenge, done, nil
	}
	var ae *gssapi.AcceptError
	errors.As(err, &ae)
	logAuthFailure(s.req, "Gssapi", "IllegalMessage", err.Error())
	if ae != nil && !ae.Temporary() && s.req.Verb == "AUTH" {
		return nil, false, ReplyAuthFailed()
	}
	return nil, false, ReplyAuthTemporary()
}

// Principal is the authenticated client.
func (s *acceptorSession) Principal() string { return s.srv.Principal() }

// exchangeAuthSession is X-EXPS EXCHANGEAUTH: one blob in, one out.
type exchangeAuthSession struct {
	a   *KerberosAcceptor
	srv *gssapi.Server
	req AuthRequest
}

func (s *exchangeAuthSession) fail(status, reason string) ([]byte, bool, error) {
	logAuthFailure(s.req, "ExchangeAuth", status, reason)
	return nil, false, ReplyAuthTemporary()
}

// Next checks the client's blob and answers with the hub's.
func (s *exchangeAuthSession) Next(blob []byte) ([]byte, bool, error) {
	req := s.req
	if !strings.EqualFold(req.HashAlgorithm, exchangeauth.Hash) {
		return s.fail("Unsupported", fmt.Sprintf("hash algorithm %q; Exchange knows only SHA256", req.HashAlgorithm))
	}
	token, hash, err := exchangeauth.ParseBlob(string(blob))
	if err != nil {
		return s.fail("IllegalMessage", err.Error())
	}
	if _, done, err := s.srv.Next(token); err != nil || !done {
		if err == nil {
			return s.fail("UnexpectedExchangeAuthBlob", "the token asks for another leg")
		}
		return s.fail("IllegalMessage", err.Error())
	}
	acc, _ := s.srv.Accepted()
	if req.Certificate == nil || req.TLSState == nil {
		return s.fail("TLS1_0NotSupported", "no TLS session to bind the blob to")
	}
	cert, err := req.Certificate()
	if err != nil {
		return s.fail("InternalError", err.Error())
	}
	pub, err := exchangeauth.PublicKey(cert)
	if err != nil {
		return s.fail("InternalError", err.Error())
	}
	eap, err := exchangeauth.EAPKey(*req.TLSState)
	if err != nil {
		return s.fail("TLS1_0NotSupported", err.Error())
	}
	expectEAP := eap
	if s.a.Faults.HashMismatch {
		// Another TLS session's key: what a receiver behind a
		// TLS-terminating device computes.
		expectEAP = append([]byte{}, eap...)
		expectEAP[0] ^= 0xff
	}
	if subtle.ConstantTimeCompare(hash, exchangeauth.ClientHash(pub, acc.SessionKey, expectEAP)) != 1 {
		return s.fail("LogonDenied", "the client's hash does not match this TLS session (certificate public key, session key, EAP key)")
	}
	return s.reverse(pub, acc.SessionKey, eap)
}

// reverse gets the hub's ticket for SMTPSVC/<the client's EHLO name> and
// builds the 235 blob: that token, one leg without mutual authentication
// (the sender must produce no AP-REP), and the hash over all four inputs.
func (s *exchangeAuthSession) reverse(pub, clientKey, eap []byte) ([]byte, bool, error) {
	spn := "SMTPSVC/" + s.req.ClientName
	if s.a.Tickets == nil {
		return s.fail("TargetUnknown", "the hub has no credentials of its own for "+spn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), reverseTimeout)
	defer cancel()
	st, err := s.a.Tickets.ServiceTicket(ctx, spn)
	if err != nil {
		return s.fail(sspiStatus(err), "the hub's ticket for "+spn+": "+err.Error())
	}
	c, err := gssapi.NewClient(gssapi.ClientConfig{
		Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm,
		Clock: s.a.Clock, Mode: gssapi.ModeExchange, Keys: &s.a.keys,
	})
	if err != nil {
		return s.fail("InternalError", err.Error())
	}
	_, token, err := c.Start()
	if err != nil {
		return s.fail("InternalError", err.Error())
	}
	hash := exchangeauth.ServerHash(pub, clientKey, eap, c.SessionKey())
	if s.a.Faults.BadReplyHash {
		hash[0] ^= 0xff
	}
	blob := exchangeauth.FormatBlob(token, hash)
	if s.a.Faults.CorruptReply {
		blob = "0000FFFF" + blob[8:]
	}
	return []byte(blob), true, nil
}

// sspiStatus names a failure to get a ticket as SSPI's
// InitializeSecurityContext would report it in Exchange's logs.
func sspiStatus(err error) string {
	var ke *krbclient.KDCError
	var ue *krbclient.UnreachableError
	switch {
	case errors.As(err, &ke) && (ke.Code == krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN || ke.Code == krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE):
		return "TargetUnknown"
	case errors.As(err, &ke) && ke.Code == krberror.KRB_AP_ERR_SKEW:
		return "TimeSkew"
	case errors.As(err, &ue):
		return "NoAuthenticatingAuthority"
	}
	return "LogonDenied"
}

// Principal is the authenticated client.
func (s *exchangeAuthSession) Principal() string { return s.srv.Principal() }

// Authorize refuses the NoSubmitPermission fault's client. As in
// Exchange, the reverse ticket is obtained while the blob is accepted and
// the permission is checked afterwards (so a reverse failure hides a
// permission problem).
func (s *exchangeAuthSession) Authorize() error {
	return authorizeSubmit(s.req, s.srv.Principal(), s.a.Faults.NoSubmitPermission)
}
