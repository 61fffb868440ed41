// Package gssapi is the Kerberos GSSAPI SASL mechanism exauth speaks on
// both sides: the probe's initiator (Client) and the fake Exchange receive
// connector's acceptor (Server). Both implement the interfaces of
// github.com/emersion/go-sasl, so the same mechanism also authenticates a
// standard go-smtp client to a go-smtp server (see the tests).
//
// # Tokens
//
// The context tokens are Kerberos AP-REQ and AP-REP messages (RFC 4120)
// in the GSS-API framing of RFC 1964 section 1.1 / RFC 4121 section 4.1:
// [APPLICATION 0] { krb5 OID, TOK_ID 01 00 or 02 00, message }. The
// initiator sends that framing, or wraps it in an SPNEGO NegTokenInit
// (RFC 4178) when configured. Both sides are liberal in what they accept:
// the acceptor takes a raw AP-REQ, an RFC 1964 token or SPNEGO and answers
// in the same family (raw in, raw out; RFC 1964 in, RFC 1964 out; SPNEGO
// in, NegTokenResp out); the initiator takes a raw AP-REP, an RFC 1964
// AP-REP, a KRB-ERROR in either form, or an SPNEGO NegTokenResp carrying
// any of them. Every Kerberos byte is built and parsed by gokrb5
// (messages, types, crypto, gssapi.WrapToken, spnego); the acceptor's
// AP-REP, which gokrb5 has no marshaller for, is marshalled with gofork's
// encoding/asn1 and asn1tools.AddASNAppTag exactly as gokrb5 marshals its
// own messages. Tokens over MaxTokenSize are refused unparsed.
//
// # RFC 4752 (AUTH GSSAPI) and Exchange's X-EXPS GSSAPI
//
// In ModeSASL the exchange is RFC 4752: the client's context token (the
// SASL initial response), the AP-REP as a challenge, an empty response,
// then the security-layer step — the server wraps 4 octets (bit mask of
// layers it supports, maximum message size), the client answers with a
// wrapped choice and its authorization identity. This package supports
// only "no security layer" (SMTP runs over TLS). The wrap tokens are
// RFC 4121 tokens without confidentiality for every enctype; Windows and
// MIT use the older RFC 4757 format with rc4-hmac keys, which gokrb5 does
// not implement, so a peer's RFC 4757 token fails with ReasonUnsupported
// (after mutual authentication has already succeeded, which Client.Mutual
// still reports).
//
// Exchange Server authentication (the X-EXPS verb of receive connectors,
// "ExchangeAuth" in the event log) also carries Kerberos GSS-API tokens,
// but Microsoft does not publicly specify its framing. ModeExchange
// implements what is observable and what the probe and the fake connector
// agree on: the client sends "X-EXPS GSSAPI" without an initial response;
// the server answers "334" with an empty challenge (Server.Next(nil)
// returns it); the client sends the base64 GSS initial context token
// (Client.Start's token); the server verifies it and answers "235 2.7.0" followed by
// the base64 AP-REP token — the challenge Server.Next returns together with
// done — and there is no security-layer step. A server may instead send
// the AP-REP in a "334" and finish with a bare "235"; the client accepts
// either (Client.Next verifies the AP-REP and returns a nil response).
//
// # Why the acceptor verifies by itself
//
// gokrb5's service.VerifyAPREQ and APReq.Verify read time.Now and use a
// process-wide replay cache. A scenario's receiving hub runs on its own,
// deliberately skewed clock (clock.Offset seven minutes ahead), and tests
// run on fake clocks, so the acceptor re-implements the RFC 4120
// section 3.2.3 checks with an injected clock.Clock and an explicit
// ReplayCache, on top of gokrb5's Ticket.Decrypt and
// APReq.DecryptAuthenticator. It also tells apart the failures exauth
// diagnoses: no key of the ticket's version (ReasonKeyVersion), a key of
// that version that does not decrypt the ticket — another account's key
// (ReasonKeyMismatch), clock skew with the signed difference
// (ReasonSkew), a ticket for another service, replays and malformed
// tokens. Each failure is an *AcceptError carrying the Kerberos error code
// a real acceptor would report; Exchange answers all of those with
// "454 4.7.0 Temporary authentication failure", which the connector, not
// this package, decides.
package gssapi
