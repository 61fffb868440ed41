package fakeserver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/gssapi"
)

// KerberosAcceptor is the connector's Kerberos side: it verifies the
// client's AP-REQ itself (ticket decrypted with the hub's keytab,
// authenticator checked against the hub's own clock, key version, replay)
// and answers as Exchange does: 235 on success, "454 4.7.0 Temporary
// authentication failure" on any Kerberos failure (logging the event 1035
// text, with the real reason exauth knows and Exchange hides), and "535
// 5.7.3 Authentication unsuccessful" on a protocol refusal.
//
// Framing (not publicly specified for X-EXPS; this is what the fake does
// and what the probe expects, liberally): the client sends "X-EXPS GSSAPI",
// the connector answers "334 " with an empty challenge, the client sends its
// base64 GSS-API initial context token (RFC 1964 framing, or SPNEGO), and
// the connector answers "235 <base64 AP-REP token>". AUTH GSSAPI follows
// RFC 4752 exactly, security-layer step included.
type KerberosAcceptor struct {
	Keytab  *keytab.Keytab
	Clock   clock.Clock   // the hub's clock; nil = system
	MaxSkew time.Duration // 0 = 5m
	// Replay detects replayed authenticators across sessions; nil disables.
	Replay *gssapi.ReplayCache
}

// Start begins one X-EXPS or AUTH exchange.
func (a *KerberosAcceptor) Start(req AuthRequest) (sasl.Server, error) {
	if req.Mechanism != "GSSAPI" {
		return nil, ReplyUnrecognized()
	}
	service, mode, mechName := "SMTPSVC/"+req.Host, gssapi.ModeExchange, "ExchangeAuth"
	if req.Verb == "AUTH" {
		service, mode, mechName = "SMTP/"+req.Host, gssapi.ModeSASL, "Gssapi"
	}
	srv, err := gssapi.NewServer(gssapi.ServerConfig{
		Keytab: a.Keytab, Service: service, Clock: a.Clock, MaxSkew: a.MaxSkew, Mode: mode, Replay: a.Replay,
	})
	if err != nil {
		return nil, fmt.Errorf("kerberos acceptor: %w", err)
	}
	return &acceptorSession{srv: srv, req: req, mech: mechName}, nil
}

type acceptorSession struct {
	srv  *gssapi.Server
	req  AuthRequest
	mech string
}

func (s *acceptorSession) Next(response []byte) ([]byte, bool, error) {
	challenge, done, err := s.srv.Next(response)
	if err == nil {
		return challenge, done, nil
	}
	var ae *gssapi.AcceptError
	reason := err.Error()
	if errors.As(err, &ae) {
		reason = ae.Error()
	}
	if s.req.Logf != nil {
		ip := s.req.RemoteAddr.String()
		if i := strings.LastIndexByte(ip, ':'); i > 0 {
			ip = ip[:i]
		}
		s.req.Logf("MSExchangeTransport event 1035 (SmtpReceive): Inbound authentication failed with error IllegalMessage for Receive connector %s. The authentication mechanism is %s. The source IP address of the client who tried to authenticate to Microsoft Exchange is [%s]. (exauth: %s)",
			s.req.ConnectorName, s.mech, strings.Trim(ip, "[]"), reason)
	}
	if ae != nil && !ae.Temporary() {
		return nil, false, ReplyAuthFailed()
	}
	return nil, false, ReplyAuthTemporary()
}

// Principal is the authenticated client.
func (s *acceptorSession) Principal() string { return s.srv.Principal() }
