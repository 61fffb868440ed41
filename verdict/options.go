package verdict

// Mech is the authentication a probe was asked to use. It is part of the
// observation because it changes what an EHLO list means: a forced AUTH
// that finds no GSSAPI is not an Exchange problem.
type Mech string

// The mechanisms a probe can be asked for.
const (
	MechAuto  Mech = "auto"  // X-EXPS GSSAPI when offered, else AUTH GSSAPI
	MechXEXPS Mech = "xexps" // X-EXPS GSSAPI (Exchange Server authentication)
	MechAUTH  Mech = "auth"  // AUTH GSSAPI (RFC 4954 + RFC 4752)
)

// Valid reports whether m is one of the mechanisms ("" means auto).
func (m Mech) Valid() bool {
	switch m {
	case "", MechAuto, MechXEXPS, MechAUTH:
		return true
	}
	return false
}

// TLSMode is the TLS upgrade a probe was asked for, or the one it made.
type TLSMode string

// TLS upgrades.
const (
	TLSAuto      TLSMode = "auto"      // X-ANONYMOUSTLS when offered (as Exchange does), else STARTTLS
	TLSAnonymous TLSMode = "anonymous" // X-ANONYMOUSTLS
	TLSStartTLS  TLSMode = "starttls"  // STARTTLS
	TLSNone      TLSMode = "none"      // stay in clear text
)

// Valid reports whether t is one of the modes ("" means auto).
func (t TLSMode) Valid() bool {
	switch t {
	case "", TLSAuto, TLSAnonymous, TLSStartTLS, TLSNone:
		return true
	}
	return false
}
