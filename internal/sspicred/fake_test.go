package sspicred_test

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/sspicred"
	"github.com/exauth/exauth/internal/sspistatus"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// scriptedSSPI answers every call from its fields: a status for
// Initiate per package, a token, an Accept result. It stands in for
// Windows where a status, not a KDC, is the subject of the test.
type scriptedSSPI struct {
	id       sspicred.Identity
	initErr  map[sspicred.Package]sspistatus.Status
	token    map[sspicred.Package][]byte
	update   sspistatus.Status // the status Update answers the acceptor's token with
	offer    []byte            // what Unwrap returns; nil: SEC_E_MESSAGE_ALTERED
	key      []byte
	accepted sspicred.Accepted
	acceptSt sspistatus.Status

	mu       sync.Mutex
	released int
	live     int
}

func (f *scriptedSSPI) Identity() (sspicred.Identity, error) { return f.id, nil }

func (f *scriptedSSPI) Initiate(pkg sspicred.Package, spn string, req sspicred.Request) (sspicred.ClientContext, []byte, error) {
	if st, ok := f.initErr[pkg]; ok {
		return nil, nil, &sspicred.StatusError{Op: fmt.Sprintf("InitializeSecurityContext (%s) for %s", pkg, spn), Status: st}
	}
	f.mu.Lock()
	f.live++
	f.mu.Unlock()
	return &scriptedContext{f: f, done: !req.Mutual}, f.token[pkg], nil
}

func (f *scriptedSSPI) Accept(pkg sspicred.Package, token []byte) (sspicred.Accepted, error) {
	if f.acceptSt != sspistatus.SEC_E_OK {
		return sspicred.Accepted{}, &sspicred.StatusError{Op: "AcceptSecurityContext (Kerberos)", Status: f.acceptSt}
	}
	return f.accepted, nil
}

type scriptedContext struct {
	f        *scriptedSSPI
	done     bool
	released bool
}

func (c *scriptedContext) Update(token []byte) ([]byte, bool, error) {
	if c.f.update != sspistatus.SEC_E_OK {
		return nil, false, &sspicred.StatusError{Op: "InitializeSecurityContext (Negotiate)", Status: c.f.update}
	}
	c.done = true
	return nil, true, nil
}
func (c *scriptedContext) Unwrap(token []byte) ([]byte, error) {
	if c.f.offer == nil {
		return nil, &sspicred.StatusError{Op: "DecryptMessage", Status: sspistatus.SEC_E_MESSAGE_ALTERED}
	}
	return c.f.offer, nil
}
func (c *scriptedContext) Wrap(msg []byte) ([]byte, error) {
	return append([]byte("wrapped:"), msg...), nil
}
func (c *scriptedContext) Done() bool                  { return c.done }
func (c *scriptedContext) Mutual() bool                { return c.done }
func (c *scriptedContext) SessionKey() ([]byte, error) { return c.f.key, nil }
func (c *scriptedContext) ClientName() string          { return "HUB02$@LAB.TEST" }
func (c *scriptedContext) Release() {
	if c.released {
		return
	}
	c.released = true
	c.f.mu.Lock()
	c.f.live--
	c.f.released++
	c.f.mu.Unlock()
}

// gokrb5SSPI plays Windows' SSPI with exauth's gokrb5 Kerberos side
// underneath: real tickets from a scenario's fake KDC, real tokens, real
// session keys. A KRB-ERROR becomes the status Windows' Kerberos package
// reports for it, so Side meets the same failures it would on Windows.
type gokrb5SSPI struct {
	id  sspicred.Identity
	krb *kerberos.Client
}

// statusOf is how Windows reports KRB-ERRORs to an initiator: the
// reverse of status.go's rows.
var statusOf = map[krberror.Code]sspistatus.Status{
	krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN:  sspistatus.SEC_E_TARGET_UNKNOWN,
	krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE: sspistatus.SEC_E_TOO_MANY_PRINCIPALS,
	krberror.KDC_ERR_ETYPE_NOSUPP:         sspistatus.SEC_E_KDC_UNKNOWN_ETYPE,
	krberror.KRB_AP_ERR_SKEW:              sspistatus.SEC_E_TIME_SKEW,
	krberror.KDC_ERR_PREAUTH_FAILED:       sspistatus.SEC_E_LOGON_DENIED,
	krberror.KDC_ERR_C_PRINCIPAL_UNKNOWN:  sspistatus.SEC_E_LOGON_DENIED,
}

func (f *gokrb5SSPI) Identity() (sspicred.Identity, error) { return f.id, nil }

func (f *gokrb5SSPI) Initiate(pkg sspicred.Package, spn string, req sspicred.Request) (sspicred.ClientContext, []byte, error) {
	use := kerberos.UseXEXPS
	switch {
	case req.Integrity:
		use = kerberos.UseAUTH
	case !req.Mutual:
		use = kerberos.UseExchangeAuth
	}
	var obs verdict.KerberosObservation
	m, err := f.krb.GSSAPIClient(context.Background(), spn, use, &obs)
	op := fmt.Sprintf("InitializeSecurityContext (%s) for %s", pkg, spn)
	if err != nil {
		st := sspistatus.SEC_E_INTERNAL_ERROR
		switch {
		case obs.KDCError != nil:
			if s, ok := statusOf[obs.KDCError.Code]; ok {
				st = s
			}
		case len(obs.Unreachable) > 0:
			st = sspistatus.SEC_E_NO_AUTHENTICATING_AUTHORITY
		case obs.CredentialsProblem != "":
			st = sspistatus.SEC_E_NO_CREDENTIALS
		}
		return nil, nil, &sspicred.StatusError{Op: op, Status: st}
	}
	_, token, err := m.Start()
	if err != nil {
		return nil, nil, &sspicred.StatusError{Op: op, Status: sspistatus.SEC_E_INTERNAL_ERROR}
	}
	return &gokrb5Context{m: m, done: !req.Mutual, client: obs.Client}, token, nil
}

func (f *gokrb5SSPI) Accept(pkg sspicred.Package, token []byte) (sspicred.Accepted, error) {
	info, err := gssapi.InspectClientToken(token)
	if err != nil {
		return sspicred.Accepted{}, &sspicred.StatusError{Op: "AcceptSecurityContext (Kerberos)", Status: sspistatus.SEC_E_INVALID_TOKEN}
	}
	r, err := f.krb.AcceptReverse(token, info.Service)
	if err != nil {
		st := sspistatus.SEC_E_LOGON_DENIED
		if errors.Is(err, kerberos.ErrMalformedToken) {
			st = sspistatus.SEC_E_INVALID_TOKEN
		}
		return sspicred.Accepted{}, &sspicred.StatusError{Op: "AcceptSecurityContext (Kerberos)", Status: st}
	}
	return sspicred.Accepted{Done: true, Client: r.Principal, SessionKey: r.SessionKey}, nil
}

type gokrb5Context struct {
	m      kerberos.Mechanism
	done   bool
	client string
}

func (c *gokrb5Context) Update(token []byte) ([]byte, bool, error) {
	out, err := c.m.Next(token)
	if err != nil {
		return nil, false, &sspicred.StatusError{Op: "InitializeSecurityContext (Negotiate)", Status: sspistatus.SEC_E_MUTUAL_AUTH_FAILED}
	}
	c.done = c.m.Mutual()
	return out, c.done, nil
}

// perMessage is GSS_Wrap and GSS_Unwrap, which internal/gssapi's
// client has on an established context.
type perMessage interface {
	Wrap([]byte) ([]byte, error)
	Unwrap([]byte) ([]byte, error)
}

func (c *gokrb5Context) Unwrap(token []byte) ([]byte, error) {
	b, err := c.m.(perMessage).Unwrap(token)
	if err != nil {
		return nil, &sspicred.StatusError{Op: "DecryptMessage", Status: sspistatus.SEC_E_MESSAGE_ALTERED}
	}
	return b, nil
}
func (c *gokrb5Context) Wrap(msg []byte) ([]byte, error) { return c.m.(perMessage).Wrap(msg) }
func (c *gokrb5Context) Done() bool                      { return c.done }
func (c *gokrb5Context) Mutual() bool                    { return c.m.Mutual() }
func (c *gokrb5Context) SessionKey() ([]byte, error)     { return c.m.SessionKey(), nil }
func (c *gokrb5Context) ClientName() string              { return c.client }
func (c *gokrb5Context) Release()                        {}

func errorsIs(err, target error) bool { return errors.Is(err, target) }
