// Package sspicred is the probe's Kerberos side on Windows' own
// credentials: the logon session's, through SSPI. Run as SYSTEM (psexec
// -s, a scheduled task) on a sending Exchange server, that is the
// server's computer account, the identity its transport service uses;
// run as a user, it is that user, and the report says so.
//
// Side implements kerberos.Side: the X-EXPS GSSAPI token comes from
// the Negotiate package, as Exchange's sender's does; ExchangeAuth's token
// and its session key (SECPKG_ATTR_SESSION_KEY) from the Kerberos
// package, which also accepts the reverse leg; AUTH GSSAPI (RFC 4752:
// SMTP's AUTH and the directory's LDAP bind) from the Kerberos package
// too, its wrapped security-layer step through DecryptMessage and
// EncryptMessage. SSPI status codes (SEC_E_*) become the same
// verdict.KerberosObservation fields a gokrb5 client's KRB-ERRORs do,
// through one table (status.go), so the verdict core cannot tell the two
// sources apart.
//
// The calls into SSPI sit behind the small SSPI interface: Windows
// implements it (sspi_windows.go, on github.com/alexbrainman/sspi), and a
// fake stands in for it in tests on any system.
package sspicred

import (
	"errors"
	"fmt"
	"strings"

	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
)

// ErrNoSessionKey says SSPI completed a context but gave no session key
// (QueryContextAttributes with SECPKG_ATTR_SESSION_KEY failed): Wine
// stubs that attribute, and ExchangeAuth's hashes bind the key.
var ErrNoSessionKey = errors.New("SSPI gave no session key (SECPKG_ATTR_SESSION_KEY)")

// ErrNotWindows says SSPI credentials exist only on Windows.
var ErrNotWindows = errors.New("the Windows logon session's credentials (SSPI) exist only on Windows: give --cred keytab, ccache or password")

// Package is an SSPI security package's name.
type Package string

// The packages this package uses.
const (
	PackageKerberos  Package = "Kerberos"
	PackageNegotiate Package = "Negotiate"
)

// SSPI is the part of Windows' Security Support Provider Interface the
// probe needs, each method one or two SSPI calls with the logon session's
// own credentials (AcquireCredentialsHandle with no principal and no
// authentication data). Failures are *StatusError.
type SSPI interface {
	// Identity says whose logon session this is.
	Identity() (Identity, error)
	// Initiate starts a client context for spn
	// (InitializeSecurityContext) and returns its first token.
	Initiate(pkg Package, spn string, req Request) (ClientContext, []byte, error)
	// Accept accepts an initiator's one-leg token
	// (AcceptSecurityContext) and reads what the context established.
	Accept(pkg Package, token []byte) (Accepted, error)
}

// Request is what a client context asks SSPI for.
type Request struct {
	// Mutual asks for mutual authentication (ISC_REQ_MUTUAL_AUTH): the
	// acceptor's AP-REP.
	Mutual bool
	// Integrity asks for per-message integrity (ISC_REQ_INTEGRITY), which
	// RFC 4752's wrapped security-layer step needs.
	Integrity bool
}

// ClientContext is an initiator's security context.
type ClientContext interface {
	// Update hands the acceptor's token to InitializeSecurityContext;
	// done when the context is complete.
	Update(token []byte) (out []byte, done bool, err error)
	// Done reports whether the context is complete.
	Done() bool
	// Mutual reports whether the context is complete with the acceptor
	// authenticated (ISC_RET_MUTUAL_AUTH): its AP-REP verified.
	Mutual() bool
	// SessionKey is SECPKG_ATTR_SESSION_KEY of a complete context.
	SessionKey() ([]byte, error)
	// Unwrap verifies a message the acceptor wrapped (DecryptMessage) on
	// a complete context asked for with Integrity, and returns its
	// payload.
	Unwrap(token []byte) ([]byte, error)
	// Wrap protects msg for the acceptor without confidentiality
	// (EncryptMessage with SECQOP_WRAP_NO_ENCRYPT) and returns the whole
	// wrap token.
	Wrap(msg []byte) ([]byte, error)
	// ClientName is the client principal the context authenticates
	// (SECPKG_ATTR_NATIVE_NAMES: "HUB02$@CONTOSO.COM"), "" when SSPI does
	// not say.
	ClientName() string
	// Release deletes the context and frees its credentials handle; a
	// second call does nothing.
	Release()
}

// Accepted is what an accepted context established.
type Accepted struct {
	// Output is a token the acceptor would send back (an AP-REP), and
	// Done whether the context is complete without another leg.
	Output []byte
	Done   bool
	// Client is the initiator's principal, as SSPI names it.
	Client string
	// SessionKey is SECPKG_ATTR_SESSION_KEY (a secret).
	SessionKey []byte
}

// IdentityKind says what a logon session's network identity is.
type IdentityKind int

// Identity kinds.
const (
	// IdentityUser is a user account: it proves the SPN and the KDC path,
	// not the sending server's own account.
	IdentityUser IdentityKind = iota + 1
	// IdentityComputer is SYSTEM or NETWORK SERVICE, whose network
	// identity is the computer account: on an Exchange server, exactly
	// the identity its transport service authenticates as.
	IdentityComputer
	// IdentityLocal is an identity with no network credentials (LOCAL
	// SERVICE, a local account).
	IdentityLocal
)

// Identity is a logon session's owner.
type Identity struct {
	// Name is the account as Windows writes it ("CONTOSO\alice", "NT
	// AUTHORITY\SYSTEM").
	Name string
	// Network is the account the session authenticates as on the network
	// ("CONTOSO\HUB02$" for SYSTEM), "" when it is Name.
	Network string
	Kind    IdentityKind
}

// describe is the report's line about the credentials: whose they are
// and what a probe with them proves.
func (id Identity) describe() string {
	who := id.Name
	if id.Network != "" && !strings.EqualFold(id.Network, id.Name) {
		who += " (on the network: " + id.Network + ")"
	}
	switch id.Kind {
	case IdentityComputer:
		return fmt.Sprintf("Windows logon session (SSPI) of %s: the computer account, the identity this server's Exchange transport service authenticates as", who)
	case IdentityLocal:
		return fmt.Sprintf("Windows logon session (SSPI) of %s: a local identity with no domain credentials", who)
	}
	return fmt.Sprintf("Windows logon session (SSPI) of user %s: this proves the SPN, the KDC and the receiver's key, not this server's own computer account (run as SYSTEM, e.g. psexec -s, for that); a user is also refused submit permission (454 4.7.0)", who)
}

// advice is what to do when the logon session's credentials are the
// problem, with Windows' tools.
func (id Identity) advice() string {
	if id.Kind == IdentityComputer {
		return "List SYSTEM's Kerberos tickets with `klist -li 0x3e7` (and `klist -li 0x3e7 tgt`); check the server's secure channel with `Test-ComputerSecureChannel` and the DC locator with `nltest /dsgetdc:<domain> /kdc`; purge with `klist -li 0x3e7 purge` and probe again."
	}
	return "List this logon session's Kerberos tickets with `klist` (and `klist tgt`); a local account or a session without domain credentials has none: log on with a domain account, or run exauth as SYSTEM (`psexec -s`) to use the computer account, or give --cred keytab|ccache|password."
}

// wrapPayloadLen is the length of the payload of an RFC 4121 wrap token
// without confidentiality: the token less its 16-octet header and its
// EC octets of checksum, rotated or not. gokrb5 reads the header; the
// token is verified by whoever unwraps it.
func wrapPayloadLen(token []byte) (int, error) {
	var wt krbgss.WrapToken
	if err := wt.Unmarshal(token, true); err != nil {
		return 0, fmt.Errorf("not an acceptor's RFC 4121 wrap token: %w", err)
	}
	if wt.Flags&0x02 != 0 {
		return 0, errors.New("a sealed wrap token: its payload is encrypted")
	}
	return len(wt.Payload), nil
}
