package verdict

// Mech is the authentication a probe was asked to use. It is part of the
// observation because it changes what an EHLO list means: a forced AUTH
// that finds no GSSAPI is not an Exchange problem.
type Mech string

// The mechanisms a probe can be asked for.
const (
	// MechAuto chooses as an Exchange 2007+ sender does: X-EXPS
	// EXCHANGEAUTH when offered inside X-ANONYMOUSTLS, else X-EXPS GSSAPI,
	// else AUTH GSSAPI.
	MechAuto Mech = "auto"
	// MechExchangeAuth is X-EXPS EXCHANGEAUTH SHA256: Kerberos bound to
	// the TLS session, answered by a reverse ticket (Exchange 2007+).
	MechExchangeAuth Mech = "exchangeauth"
	// MechGSSAPI is X-EXPS GSSAPI, the downgraded path (Exchange 2003 next
	// hops, UseDowngradedExchangeServerAuth).
	MechGSSAPI Mech = "gssapi"
	// MechXEXPS is the older name of MechGSSAPI.
	MechXEXPS Mech = "xexps"
	// MechAUTH is AUTH GSSAPI (RFC 4954 + RFC 4752), as non-Exchange MTAs
	// offer it.
	MechAUTH Mech = "auth"
)

// Valid reports whether m is one of the mechanisms ("" means auto).
func (m Mech) Valid() bool {
	switch m {
	case "", MechAuto, MechExchangeAuth, MechGSSAPI, MechXEXPS, MechAUTH:
		return true
	}
	return false
}

// Canonical resolves the default and the alias: "" is MechAuto, MechXEXPS
// is MechGSSAPI.
func (m Mech) Canonical() Mech {
	switch m {
	case "":
		return MechAuto
	case MechXEXPS:
		return MechGSSAPI
	}
	return m
}

// MechChoices lists the mechanisms for messages.
const MechChoices = "auto, exchangeauth, gssapi (or xexps) or auth"

// TLSMode is the TLS upgrade a probe was asked for, or the one it made.
type TLSMode string

// TLS upgrades.
const (
	TLSAuto      TLSMode = "auto"      // X-ANONYMOUSTLS when offered (as Exchange does), else STARTTLS
	TLSAnonymous TLSMode = "anonymous" // X-ANONYMOUSTLS
	TLSStartTLS  TLSMode = "starttls"  // STARTTLS
	TLSNone      TLSMode = "none"      // stay in clear text
	// TLSHTTPS is TLS from the first byte (HTTPS), the HTTP path's only
	// mode: a report's mode, never a choice a probe is given.
	TLSHTTPS TLSMode = "https"
)

// Valid reports whether t is one of the modes ("" means auto).
func (t TLSMode) Valid() bool {
	switch t {
	case "", TLSAuto, TLSAnonymous, TLSStartTLS, TLSNone:
		return true
	}
	return false
}
