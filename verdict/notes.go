package verdict

import "strings"

// fromNotes judges facts recognised in pasted text that have no dialogue
// step (explain). Replies and Kerberos errors found in text are judged by
// the same rules as those seen on the wire, through Auth.Final and Kerberos.
func (j *judgement) fromNotes() (Verdict, string, bool) {
	n := j.o.Notes
	if len(n.Phrases) > 0 {
		j.add("recognised: %s", strings.Join(n.Phrases, "; "))
	}
	if n.Outer != nil {
		j.add("the sending server wrapped the receiving server's answer: %s", n.Outer.String())
	}
	has := n.Has
	if has(FactEvent2017) && !has(FactEvent1035) {
		j.add("event 2017 / \"Outbound Authentication failed\" is the sending server's: it could not get or build its Kerberos token, sent no X-EXPS, and queued a 454 4.7.0 it made itself; the receiving server logged nothing")
	}
	if has(FactEvent1035) {
		j.add("event 1035 / \"Inbound ... failed\" is the receiving server's: it got the token and refused it")
	}
	switch {
	case has(FactEvent1018):
		return VerdictNoSubmitPermission, "the receiving server accepted the credentials but the identity has no submit permission on the connector (event 1018): not an Exchange server's account, or the connector's permission groups", true
	case has(FactReverseUnknown):
		return VerdictReverseAuthFailed, "the receiving server could not get its reverse ticket for the sending server's SMTPSVC SPN (TargetUnknown): register SMTPSVC/<sending server FQDN> on the sending server's account", true
	case has(FactHashMismatch):
		j.add("candidate causes, most likely first: 1) a TLS-terminating or inspecting device between the servers (the ExchangeAuth hash binds the TLS session each end sees); 2) the receiving server's certificate changed during the session")
		return VerdictAuthTemporaryFailure, "the receiving server refused ExchangeAuth with LogonDenied: the hash over the TLS session did not match", true
	case has(FactNoEAPKey):
		return VerdictTLSFailed, "the sending server's TLS session gave no EAP key (TLS1_0NotSupported): ExchangeAuth needs Schannel's key block of a TLS 1.0-1.2 session", true
	case has(FactNotTLS):
		return VerdictTLSFailed, "ExchangeAuth was tried outside TLS: it exists only inside X-ANONYMOUSTLS", true
	case has(FactEvent2016):
		return VerdictNoCredentials, "the sending server could not start authentication (event 2016): its own credentials (its computer account, or the identity the transport service runs as) could not be used", true
	case has(FactEvent1012):
		j.add("event 1012 / 421 4.7.0 follows repeated authentication failures on one connection: the first failures (events 1035) say why")
		return VerdictAuthTemporaryFailure, "the receiving server disconnected after repeated authentication failures (event 1012): read its events 1035 for the first failure's status", true
	case has(FactEvent1034):
		return VerdictUnknown, "the receiving server could not start authentication (event 1034): its certificate, or the client's hash algorithm; read the event's text", true
	}
	switch {
	case has(FactKDCEvent11):
		return VerdictSPNDuplicate, "a KDC logged event 11: the SPN is registered on more than one account", true
	case has(FactCertUntrusted):
		return VerdictCertUntrusted, "the server's certificate is not trusted", true
	case has(FactTLSFailed) && (n.Reply == nil || n.Reply.Class() != 2):
		return VerdictTLSFailed, "the TLS upgrade failed or TLS was required first", true
	case has(FactVerbsStripped):
		return VerdictVerbsStripped, "a firewall's SMTP/ESMTP inspection masks the verbs Exchange needs", true
	case has(FactProtocolError):
		return VerdictProtocolError, "a reply did not fit the request", true
	case has(FactLogonDenied) && has(FactEvent2017) && !has(FactEvent1035):
		return VerdictAuthRejected, "the sending server's own Kerberos request was refused (LogonDenied in event 2017): a broken trust between the domains or forests, or the sending server's keys — nothing reached the receiving server", true
	case has(FactLogonDenied):
		return VerdictAuthRejected, "the receiving server refused the credentials (LogonDenied)", true
	}
	return "", "", false
}
