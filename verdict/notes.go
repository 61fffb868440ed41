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
	case has(FactLogonDenied):
		return VerdictAuthRejected, "the receiving server refused the credentials (LogonDenied)", true
	}
	return "", "", false
}
