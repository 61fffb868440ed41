// Package directory reads Active Directory over LDAP for the evidence a
// Kerberos diagnosis needs and a ticket cannot show: which accounts hold a
// service principal name (setspn -Q), which SPNs are held twice
// (setspn -X), and an account's key version, encryption types and state.
//
// Why LDAP: a KDC answers "no such principal" or hands out a ticket
// encrypted in some account's key, but it does not say that two accounts
// claim SMTPSVC/hub01 (the KDC then refuses with
// KDC_ERR_PRINCIPAL_NOT_UNIQUE, or picks one), nor that the account's
// msDS-SupportedEncryptionTypes is unset (the DC then issues RC4 service
// tickets). The directory says so, and every query here is read-only and
// allowed to any authenticated domain account.
//
// # Binding
//
// The default bind is SASL GSSAPI (RFC 4752) with the same Kerberos
// credentials the probe uses: Bind.Kerberos hands out exauth's own RFC 4752
// initiator (internal/gssapi on internal/krbclient, see FromKrbClient), and
// an adapter plugs it into go-ldap's GSSAPIClient interface, so every
// Kerberos byte goes through the same gokrb5-based code as the probe and no
// second Kerberos stack is involved.
//
// That initiator supports only the "no security layer" choice of
// RFC 4752, and go-ldap has no SASL signing or sealing either. What that
// means against real servers:
//
//   - A Windows DC accepts a GSSAPI bind without a security layer over
//     ldaps://, whatever its "LDAP server signing requirements" policy: TLS
//     satisfies it. On ldap:// a DC that requires signing refuses it
//     (result strongAuthRequired). So ldaps:// is the transport to use.
//   - Samba's default "ldap server require strong auth = yes" (4.17 and
//     earlier) refuses a SASL bind without signing or sealing even over
//     TLS ("SASL:[GSSAPI]: Sign or Seal are required"); with
//     "allow_sasl_over_tls" it behaves as Windows does. The interop tests
//     set that option.
//
// A Kerberos bind over ldap:// is still attempted (a DC that does not
// require signing accepts it); a refusal is a *BindError whose
// StrongAuthRequired and TLS say which case it is. A simple bind (DN and
// password) is refused outright over ldap://: it would send the password
// in the clear.
//
// # Network steps
//
// Every call that touches the network takes a context, and every step
// (TCP connect, TLS handshake, bind, each search request) is bounded by
// Config.Timeout as well as by the context. Cancelling the context of an
// operation in progress closes the connection.
//
// Errors, for errors.As and errors.Is: *ConfigError (the Config is not
// usable; nothing was sent), *BindError (the server or the Kerberos side
// refused the bind), ErrNoSuchAccount (Account found nothing). Network and
// LDAP failures are wrapped with %w, so ldap.IsErrorWithCode works on them.
package directory
