// Package kerberos is a probe's Kerberos side: where its credentials come
// from (a keytab, a ccache, a password; Credentials and Settings), the
// tickets it asks for, and the GSSAPI contexts it hands a protocol
// dialogue (Side, Mechanism) — the same for the SMTP probe, the HTTP probe
// and the directory. What the exchanges saw goes into a
// verdict.KerberosObservation; the verdict core judges it.
package kerberos

import (
	"context"
	"errors"

	"github.com/emersion/go-sasl"

	"github.com/exauth/exauth/verdict"
)

// Side is a probe's Kerberos side: it obtains a GSSAPI SASL client for a
// service principal and records what its Kerberos exchanges saw in obs,
// whether or not it succeeds. Client implements it on gokrb5; the
// Windows logon session (SSPI) implements it too.
type Side interface {
	GSSAPIClient(ctx context.Context, spn string, use TokenUse, obs *verdict.KerberosObservation) (Mechanism, error)
	// AcceptReverse verifies ExchangeAuth's reverse token, sent by the
	// receiver to this host's own SPN, with this host's account's keys;
	// ErrNoKeys when the credentials hold none.
	AcceptReverse(token []byte, spn string) (Reverse, error)
}

// ClockSampler is a Kerberos side whose tokens show no KDC clock (the
// Windows logon session: SSPI keeps the KDC's answers to itself) but which
// can read it on demand. A probe asks only when its verdict needs the
// clock: a receiver refused a ticket the KDC issued, and the KDC's clock
// against the receiver's tells a skewed clock from a stale key.
type ClockSampler interface {
	SampleKDCClock(ctx context.Context, obs *verdict.KerberosObservation)
}

// SampleClockIfHidden asks side for the KDC's clock when it is a
// ClockSampler and obs has a ticket but no clock reading. A probe calls it
// once the receiver refused the ticket.
func SampleClockIfHidden(ctx context.Context, side Side, obs *verdict.KerberosObservation) {
	s, ok := side.(ClockSampler)
	if !ok || obs == nil || !obs.TicketObtained || obs.ClockSample != nil || ctx.Err() != nil {
		return
	}
	s.SampleKDCClock(ctx, obs)
}

// TokenUse is what a Kerberos token is for; it decides its flags and the
// exchange around it.
type TokenUse int

// Token uses.
const (
	UseAUTH         TokenUse = iota + 1 // AUTH GSSAPI: RFC 4752, mutual
	UseXEXPS                            // X-EXPS GSSAPI: mutual, no security layer
	UseExchangeAuth                     // X-EXPS EXCHANGEAUTH: one leg, no mutual authentication
)

// Mechanism is the GSSAPI SASL client a Kerberos side hands the dialogue.
type Mechanism interface {
	sasl.Client
	// Mutual reports whether the server's mutual-authentication token
	// (an AP-REP) arrived and verified.
	Mutual() bool
	// SessionKey is the context's session key once Start has run (a
	// secret): ExchangeAuth's hash binds it.
	SessionKey() []byte
}

// Reverse is an accepted reverse token: who sent it and the context's
// session key (a secret).
type Reverse struct {
	Principal  string
	SessionKey []byte
}

// ErrMalformedToken says the reverse token is not a Kerberos token at all:
// the receiver broke the protocol, no key is at fault.
var ErrMalformedToken = errors.New("the reverse token is not a well-formed Kerberos token")

// ErrNoKeys says the probe's credentials hold no long-term keys (a ccache):
// it cannot decrypt a ticket sent to its own account.
var ErrNoKeys = errors.New("the credentials are a ccache, which holds tickets but not the account's keys")
