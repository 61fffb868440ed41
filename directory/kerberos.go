package directory

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-sasl"
	"github.com/go-ldap/ldap/v3"

	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krbclient"
)

// Kerberos supplies an RFC 4752 GSSAPI initiator for a service principal:
// it obtains the service ticket (the context bounds the KDC exchanges) and
// returns a SASL client whose Start gives the initial context token and
// whose Next verifies the server's AP-REP and answers the security-layer
// offer with "no security layer".
type Kerberos interface {
	SASLClient(ctx context.Context, spn string) (sasl.Client, error)
}

// KerberosFunc adapts a function to Kerberos; the probe's Kerberos side
// (kerberos.Client.GSSAPIClient with UseAUTH) fits in one.
type KerberosFunc func(ctx context.Context, spn string) (sasl.Client, error)

// SASLClient calls f.
func (f KerberosFunc) SASLClient(ctx context.Context, spn string) (sasl.Client, error) {
	return f(ctx, spn)
}

// FromKrbClient is Kerberos on a krbclient.Client: its credentials, its
// KDCs, and internal/gssapi's RFC 4752 initiator with mutual
// authentication.
func FromKrbClient(c *krbclient.Client) Kerberos {
	return KerberosFunc(func(ctx context.Context, spn string) (sasl.Client, error) {
		st, err := c.ServiceTicket(ctx, spn)
		if err != nil {
			return nil, err
		}
		gc, err := gssapi.NewClient(gssapi.ClientConfig{
			Ticket: st.Ticket, SessionKey: st.SessionKey, Client: st.Client, Realm: st.Realm,
			Mode: gssapi.ModeSASL, Mutual: true,
		})
		if err != nil {
			// A nil *gssapi.Client must not become a non-nil sasl.Client.
			return nil, err
		}
		return gc, nil
	})
}

// saslAdapter is go-ldap's GSSAPIClient over a Kerberos (RFC 4752 SASL)
// client. go-ldap's loop is: InitSecContext(nil) → token to the server;
// InitSecContext(server's token) until it says no more; then
// NegotiateSaslAuth(wrapped offer) → wrapped choice. sasl.Client's
// Start/Next already follow RFC 4752, so each go-ldap call is one step of
// it. go-ldap's interface has no context: the adapter holds the bind's.
type saslAdapter struct {
	ctx    context.Context
	krb    Kerberos
	client sasl.Client
	// tokenErr keeps the Kerberos side's error: go-ldap returns it as it
	// is, but Dial wants to tell it from a server refusal.
	krbErr error
}

var _ ldap.GSSAPIClient = (*saslAdapter)(nil)

// InitSecContext starts the context (obtaining the ticket for target) on
// the first call, and hands the server's context token to the initiator
// on the next.
func (a *saslAdapter) InitSecContext(target string, token []byte) ([]byte, bool, error) {
	if a.client == nil {
		if token != nil {
			return nil, false, errors.New("directory: a server token before the context started")
		}
		c, err := a.krb.SASLClient(a.ctx, target)
		if err != nil {
			a.krbErr = err
			return nil, false, err
		}
		if c == nil {
			a.krbErr = errors.New("the Kerberos side returned no client")
			return nil, false, a.krbErr
		}
		a.client = c
		_, tok, err := c.Start()
		if err != nil {
			a.krbErr = err
			return nil, false, err
		}
		return tok, true, nil
	}
	// The AP-REP (mutual authentication). RFC 4752: the context is then
	// complete and the client's response is empty; the server answers it
	// with the wrapped security-layer offer, which go-ldap hands to
	// NegotiateSaslAuth.
	out, err := a.client.Next(token)
	if err != nil {
		return nil, false, err
	}
	return out, false, nil
}

// InitSecContextWithOptions ignores AP options: the initiator always asks
// for mutual authentication, and go-ldap's GSSAPIBind passes none.
func (a *saslAdapter) InitSecContextWithOptions(target string, token []byte, _ []int) ([]byte, bool, error) {
	return a.InitSecContext(target, token)
}

// NegotiateSaslAuth answers the security-layer offer: "no security
// layer", the only choice the initiator implements (hence ldaps://).
func (a *saslAdapter) NegotiateSaslAuth(token []byte, authzid string) ([]byte, error) {
	if a.client == nil {
		return nil, errors.New("directory: security-layer offer before the context started")
	}
	if authzid != "" {
		return nil, fmt.Errorf("directory: an authorization identity is not supported")
	}
	return a.client.Next(token)
}

// DeleteSecContext drops the initiator; it holds no resources.
func (a *saslAdapter) DeleteSecContext() error {
	a.client = nil
	return nil
}
