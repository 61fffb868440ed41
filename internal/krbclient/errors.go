package krbclient

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/exauth/exauth/internal/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"
)

// Exchange kinds, as used in [KDCError.Exchange], [ProtocolError.Exchange]
// and [Exchange.Kind].
const (
	KindAS  = "AS"
	KindTGS = "TGS"
)

// Transports, as used in [Attempt.Transport] and [Exchange.Transport].
const (
	TCP = "tcp"
	UDP = "udp"
)

// KDCError is a KRB-ERROR the KDC answered with. It keeps the code as a
// number so that the diagnosis can branch on it (KDC_ERR_S_PRINCIPAL_UNKNOWN,
// KRB_AP_ERR_SKEW, ...) and the KDC's own clock (STime) so that it can
// measure how far this host's clock is from the KDC's.
type KDCError struct {
	Exchange  string        // KindAS or KindTGS
	Code      krberror.Code // RFC 4120 error-code; its String is the name, e.g. "KDC_ERR_S_PRINCIPAL_UNKNOWN"
	EText     string        // the KDC's e-text, often empty
	STime     time.Time     // the KDC's clock when it answered (stime + susec)
	LocalTime time.Time     // this host's clock (Config.Clock) when the answer arrived
	KDC       string        // address that answered
	Transport string        // TCP or UDP
	Client    string        // client principal, e.g. "HUB02$@LAB.TEST"
	SPN       string        // the service asked for (TGS); "krbtgt/REALM" for AS

	// Message is the KRB-ERROR as received, for fields not lifted above
	// (e-data carries PA-ETYPE-INFO2 or a Windows NTSTATUS).
	Message messages.KRBError
}

// Error reads like kinit's messages: what was asked, who answered, what.
func (e *KDCError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s exchange", e.Exchange)
	if e.SPN != "" {
		fmt.Fprintf(&b, " for %s", e.SPN)
	}
	if e.Client != "" {
		fmt.Fprintf(&b, " as %s", e.Client)
	}
	fmt.Fprintf(&b, ": KDC %s answered %s (%d)", e.KDC, e.Code, int32(e.Code))
	if e.EText != "" {
		fmt.Fprintf(&b, ": %q", e.EText)
	}
	return b.String()
}

// ClockOffset is how far the KDC's clock is ahead of this host's (negative:
// behind), measured from the error's stime. It is only as exact as the
// round trip.
func (e *KDCError) ClockOffset() time.Duration { return e.STime.Sub(e.LocalTime) }

// Attempt is one try to reach one KDC over one transport.
type Attempt struct {
	Addr      string // host:port
	Transport string // TCP or UDP
	// Err is nil when the KDC answered (for Reachability: TCP connected, or a
	// Kerberos message came back over UDP).
	Err      error
	Refused  bool // TCP RST, or ICMP port unreachable for UDP: nothing listens, or a firewall rejects
	TimedOut bool // no answer within the step's time: filtered, or the KDC is down
}

func (a Attempt) String() string {
	switch {
	case a.Err == nil:
		return fmt.Sprintf("%s/%s answered", a.Addr, a.Transport)
	case a.Refused:
		return fmt.Sprintf("%s/%s refused", a.Addr, a.Transport)
	case a.TimedOut:
		return fmt.Sprintf("%s/%s no answer", a.Addr, a.Transport)
	default:
		return fmt.Sprintf("%s/%s: %v", a.Addr, a.Transport, a.Err)
	}
}

// UnreachableError means no KDC of the realm answered. Attempts holds every
// KDC tried on every transport, in order, each with its result, so the report
// can say "88/TCP refused, 88/UDP no answer".
type UnreachableError struct {
	Realm    string
	Attempts []Attempt
	// Lookup is set when no KDC address was known for the realm (no kdc line
	// in krb5.conf, no DNS SRV record).
	Lookup error
	// Err is set when the caller's context ended the search before every KDC
	// was tried; errors.Is(err, context.DeadlineExceeded) sees it.
	Err error
}

func (e *UnreachableError) Error() string {
	if len(e.Attempts) == 0 && e.Lookup != nil {
		return fmt.Sprintf("no KDC known for realm %s: %v", e.Realm, e.Lookup)
	}
	parts := make([]string, len(e.Attempts))
	for i, a := range e.Attempts {
		parts[i] = a.String()
	}
	s := fmt.Sprintf("no KDC for realm %s answered (%s)", e.Realm, strings.Join(parts, "; "))
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// CredentialsError means the probe has no usable Kerberos credentials: no or
// an unreadable ccache, an unsupported ccache type, a keytab without a key
// for the principal, an expired TGT, a key the KDC's reply cannot be
// decrypted with. Hint says what to do, in words an administrator can follow.
type CredentialsError struct {
	Source string // "keytab /etc/exauth.keytab", "ccache KEYRING:persistent:0", "password for HUB02$@LAB.TEST"
	Err    error
	Hint   string
}

func (e *CredentialsError) Error() string {
	s := fmt.Sprintf("%s: %v", e.Source, e.Err)
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// ErrExpired is wrapped by a CredentialsError when the ccache's
// ticket-granting ticket has expired.
var ErrExpired = errors.New("ticket-granting ticket has expired")

// ProtocolError means a KDC answered, but not with a valid answer to our
// request: bytes that are not Kerberos, a reply too long, a reply of the
// wrong kind, or one that belongs to another request (nonce, client or realm
// mismatch). It is not an UnreachableError: something listens and talks.
type ProtocolError struct {
	Exchange  string // KindAS or KindTGS ("" for Reachability)
	KDC       string
	Transport string
	Err       error
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("%s exchange: KDC %s/%s answered with an invalid reply: %v", e.Exchange, e.KDC, e.Transport, e.Err)
}

func (e *ProtocolError) Unwrap() error { return e.Err }

// ReferralError is a KDC answering a TGS-REQ with a referral: the SPN
// belongs to another realm (a trusted domain or forest). Referrals are not
// followed; the caller reports where the SPN lives.
type ReferralError struct {
	SPN   string
	Realm string // the realm referred to, "" when the reply did not say
	KDC   string
}

func (e *ReferralError) Error() string {
	return fmt.Sprintf("the KDC %s referred %s to realm %s; cross-realm referrals are not followed", e.KDC, e.SPN, e.Realm)
}

// ConfigError means the Kerberos configuration is missing or unusable:
// krb5.conf unreadable or broken, no realm, an SPN of another realm.
type ConfigError struct {
	Err  error
	Hint string
}

func (e *ConfigError) Error() string {
	s := e.Err.Error()
	if e.Hint != "" {
		s += " (" + e.Hint + ")"
	}
	return s
}

func (e *ConfigError) Unwrap() error { return e.Err }

// newKDCError lifts a KRB-ERROR into a KDCError.
func newKDCError(kind string, m *messages.KRBError, local time.Time, kdc, transport, client, spn string) *KDCError {
	return &KDCError{
		Exchange:  kind,
		Code:      krberror.Code(m.ErrorCode),
		EText:     m.EText,
		STime:     kdcTime(m),
		LocalTime: local,
		KDC:       kdc,
		Transport: transport,
		Client:    client,
		SPN:       spn,
		Message:   *m,
	}
}

// kdcTime is a KRB-ERROR's stime with its microseconds.
func kdcTime(m *messages.KRBError) time.Time {
	if m.STime.IsZero() {
		return time.Time{}
	}
	us := m.Susec
	if us < 0 || us > 999999 {
		us = 0
	}
	return m.STime.Truncate(time.Second).Add(time.Duration(us) * time.Microsecond)
}
