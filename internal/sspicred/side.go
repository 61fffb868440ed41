package sspicred

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/sspistatus"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
	"github.com/jcmturner/gokrb5/v8/config"
)

// Side is the probe's Kerberos side on a Windows logon session's
// credentials. It is safe for concurrent use: every call makes its own
// security context.
type Side struct {
	// Krb5 names the realm's KDCs for a clock sample (SampleKDCClock);
	// nil finds them in DNS, as Windows does.
	Krb5 *config.Config

	sspi SSPI
	once sync.Once
	id   Identity
	err  error
}

var (
	_ kerberos.Side         = (*Side)(nil)
	_ kerberos.ClockSampler = (*Side)(nil)
)

// SampleKDCClock reads a KDC's clock, which SSPI does not show, with an
// AS-REQ that uses no key (kerberos.SampleKDCClock).
func (s *Side) SampleKDCClock(ctx context.Context, obs *verdict.KerberosObservation) {
	kerberos.SampleKDCClock(ctx, s.Krb5, obs)
}

// New returns the Kerberos side on s: Windows' SSPI (System) or a fake.
func New(s SSPI) *Side { return &Side{sspi: s} }

func (s *Side) identity() (Identity, error) {
	s.once.Do(func() { s.id, s.err = s.sspi.Identity() })
	return s.id, s.err
}

// GSSAPIClient starts a security context for spn with the logon session's
// credentials and records what it showed in obs: whose credentials, the
// ticket's realm, etype and key version (read from the token SSPI built,
// as an acceptor would), or the SSPI status in the verdict's terms.
func (s *Side) GSSAPIClient(ctx context.Context, spn string, use kerberos.TokenUse, obs *verdict.KerberosObservation) (kerberos.Mechanism, error) {
	obs.SPN = spn
	id, err := s.identity()
	if err != nil {
		observeError(fmt.Errorf("reading the logon session's identity: %w", err), obs)
		return nil, obs.Err
	}
	obs.Credentials = id.describe()
	obs.CredentialsAdvice = id.advice()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Exchange's sender uses Negotiate for X-EXPS GSSAPI (and IIS's
	// clients for HTTP) and the Kerberos package for ExchangeAuth's one
	// leg, which is not mutual: the reverse ticket is its mutual part.
	// RFC 4752 names the Kerberos mechanism itself, not SPNEGO, and its
	// security-layer step is a wrapped message each way.
	pkg, req := PackageNegotiate, Request{Mutual: true}
	switch use {
	case kerberos.UseExchangeAuth:
		pkg, req = PackageKerberos, Request{}
	case kerberos.UseAUTH:
		pkg, req = PackageKerberos, Request{Mutual: true, Integrity: true}
	}
	cc, token, err := s.sspi.Initiate(pkg, spn, req)
	if err != nil {
		observeError(err, obs)
		return nil, err
	}
	info, err := gssapi.InspectClientToken(token)
	if errors.Is(err, gssapi.ErrNTLMToken) {
		cc.Release()
		return nil, s.ntlmFallback(spn, obs)
	}
	obs.TicketObtained = true
	obs.Client = cc.ClientName()
	if obs.Client == "" {
		obs.Client = firstOf(id.Network, id.Name)
	}
	if err == nil {
		obs.Realm, obs.EType = info.Realm, info.EType
		obs.KVNO = info.KVNO
	}
	m := &mechanism{cc: cc, token: token, mutualWanted: req.Mutual, saslLayer: use == kerberos.UseAUTH}
	if use == kerberos.UseExchangeAuth {
		// The one leg is complete: keep the key ExchangeAuth's hash binds
		// and let the context go.
		key, err := cc.SessionKey()
		cc.Release()
		m.cc = nil
		if err != nil {
			obs.TicketObtained = false
			obs.CredentialsProblem = fmt.Sprintf("SSPI issued a ticket for %s, but ExchangeAuth's hash binds the context's session key: %v", spn, err)
			obs.Err = err
			return nil, err
		}
		m.key = key
		return m, nil
	}
	// A mechanism the dialogue abandons (a connection that dropped)
	// must still free its handles.
	runtime.AddCleanup(m, func(cc ClientContext) { cc.Release() }, cc)
	return m, nil
}

// ntlmFallback explains a Negotiate context that chose NTLM: Windows
// could not get a Kerberos ticket. The Kerberos package alone reports
// why, with the status a gokrb5 client's KRB-ERROR corresponds to.
func (s *Side) ntlmFallback(spn string, obs *verdict.KerberosObservation) error {
	cc, _, err := s.sspi.Initiate(PackageKerberos, spn, Request{Mutual: true})
	if err == nil {
		cc.Release()
		err = fmt.Errorf("negotiate chose NTLM for %s although the Kerberos package has a ticket for it", spn)
		obs.Err = err
		return err
	}
	observeError(err, obs)
	return fmt.Errorf("%w (%w)", gssapi.ErrNTLMToken, err)
}

// AcceptReverse accepts ExchangeAuth's reverse token, a ticket for this
// host's SMTPSVC SPN, with the logon session's inbound credentials: only
// the computer account (SYSTEM) holds the keys such a ticket is encrypted
// in, so a user's session reports the check as skipped rather than failed.
func (s *Side) AcceptReverse(token []byte, spn string) (kerberos.Reverse, error) {
	id, err := s.identity()
	if err != nil {
		return kerberos.Reverse{}, fmt.Errorf("reading the logon session's identity: %w", err)
	}
	acc, err := s.sspi.Accept(PackageKerberos, token)
	var se *StatusError
	switch {
	case err == nil:
	case errors.Is(err, ErrNoSessionKey):
		return kerberos.Reverse{}, &noKeysError{fmt.Sprintf("the reverse token for %s was accepted, but the blob's hash cannot be checked: %v", spn, err)}
	case errors.As(err, &se) && se.Status == sspistatus.SEC_E_INVALID_TOKEN:
		return kerberos.Reverse{}, fmt.Errorf("%w: %w", kerberos.ErrMalformedToken, err)
	case id.Kind != IdentityComputer:
		return kerberos.Reverse{}, &noKeysError{fmt.Sprintf("the reverse ticket for %s is encrypted in the computer account's key, which this logon session (%s) does not hold (%v): run exauth as SYSTEM to verify it", spn, id.Name, err)}
	default:
		return kerberos.Reverse{}, fmt.Errorf("accepting the reverse token for %s: %w", spn, err)
	}
	if !acc.Done || len(acc.Output) > 0 {
		// Exchange's sender fails with IllegalMessage when its acceptor
		// would have to answer (the reverse token asked for an AP-REP).
		return kerberos.Reverse{}, errors.New("the reverse token asks for mutual authentication, which Exchange's sender refuses (IllegalMessage)")
	}
	return kerberos.Reverse{Principal: acc.Client, SessionKey: acc.SessionKey}, nil
}

// noKeysError is kerberos.ErrNoKeys in the words of a logon session.
type noKeysError struct{ msg string }

func (e *noKeysError) Error() string        { return e.msg }
func (e *noKeysError) Is(target error) bool { return target == kerberos.ErrNoKeys }

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// mechanism is the GSSAPI SASL client on an SSPI context: the first
// token, then at most the acceptor's mutual-authentication token; for
// RFC 4752 (saslLayer), then the acceptor's wrapped security-layer offer,
// answered with a wrapped "no security layer".
type mechanism struct {
	cc           ClientContext // nil once released
	token        []byte
	key          []byte
	mutualWanted bool
	saslLayer    bool
	layerDue     bool // the context is complete; the wrapped offer comes next
	started      bool
	mutual       bool
}

func (m *mechanism) Start() (string, []byte, error) {
	if m.started {
		return "", nil, errors.New("sspicred: Start called twice")
	}
	m.started = true
	return gssapi.Mechanism, m.token, nil
}

// Next hands the acceptor's token (an AP-REP, raw or in SPNEGO) to SSPI,
// which verifies it; a verified one completes the context and is mutual
// authentication. The answer is empty: X-EXPS has no further step, and
// RFC 4752's client answers a complete context with an empty response
// before the security-layer offer.
func (m *mechanism) Next(challenge []byte) ([]byte, error) {
	if m.layerDue {
		return m.layer(challenge)
	}
	if m.cc == nil {
		if len(challenge) == 0 {
			return nil, nil
		}
		return nil, errors.New("sspicred: the context is already complete; unexpected token from the server")
	}
	out, done, err := m.cc.Update(challenge)
	if err != nil {
		m.release()
		return nil, fmt.Errorf("verifying the server's mutual-authentication token: %w", err)
	}
	if !done {
		return out, nil
	}
	m.mutual = m.mutualWanted && m.cc.Mutual()
	if key, err := m.cc.SessionKey(); err == nil {
		m.key = key
	}
	if m.saslLayer {
		if m.mutualWanted && !m.mutual {
			m.release()
			return nil, errors.New("SSPI completed the context without the mutual authentication it was asked for")
		}
		m.layerDue = true
		// Non-nil: go-smtp's client stops on a nil response.
		return append([]byte{}, out...), nil
	}
	m.release()
	return nil, nil
}

// layer answers RFC 4752's security-layer offer: SSPI verifies the
// acceptor's wrap token and wraps the choice of no security layer.
func (m *mechanism) layer(token []byte) ([]byte, error) {
	m.layerDue = false
	defer m.release()
	offer, err := m.cc.Unwrap(token)
	if err != nil {
		return nil, fmt.Errorf("verifying the server's security-layer offer: %w", err)
	}
	choice, err := gssapi.NoSecurityLayer(offer, "")
	if err != nil {
		return nil, err
	}
	out, err := m.cc.Wrap(choice)
	if err != nil {
		return nil, fmt.Errorf("wrapping the security-layer choice: %w", err)
	}
	return out, nil
}

func (m *mechanism) release() {
	if m.cc != nil {
		m.cc.Release()
		m.cc = nil
	}
}

func (m *mechanism) Mutual() bool { return m.mutual }

func (m *mechanism) SessionKey() []byte { return m.key }

// LogonSession is the Kerberos side on this process's Windows logon
// session (System); elsewhere ErrNotWindows.
func LogonSession() (kerberos.Side, error) {
	sys, err := System()
	if err != nil {
		return nil, err
	}
	return New(sys), nil
}
