package verdict

import (
	"fmt"
	"strings"
)

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
	// A Client Access server's HTTP proxy event says nothing about SMTP:
	// it is judged before, and apart from, the transport facts.
	if has(FactCASProxyCert) {
		return j.casProxyCert()
	}
	if has(FactCASProxyAuth) {
		return j.casProxyAuth(n.Proxy)
	}
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

// casProxyCert judges MSExchange OWA event 43 (ProxyErrorSslTrustFailure).
func (j *judgement) casProxyCert() (Verdict, string, bool) {
	j.add("MSExchange OWA event 43 is logged by a Client Access server that proxies Outlook Web App traffic over HTTPS to a Client Access server in another Active Directory site: with AllowInternalUntrustedCerts set to 0 it accepts only a certificate it trusts, and the target's was not")
	j.remediation = append(j.remediation,
		"Give the target Client Access server a certificate that the proxying Client Access server trusts (its chain ends in a root the proxying server trusts) and whose name is the host name of the target's Outlook Web App internalURL (`Get-OwaVirtualDirectory -Server <target> | fl InternalUrl`); assign it to IIS (`Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services IIS`).",
		"Or let the proxying Client Access server accept untrusted certificates for internal proxying: set the DWORD AllowInternalUntrustedCerts under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchange OWA to 1, then run `iisreset /noforce`.")
	j.ownRemediation = true
	return VerdictCertUntrusted, "the proxying Client Access server does not trust the target Client Access server's certificate (MSExchange OWA event 43, ProxyErrorSslTrustFailure): AllowInternalUntrustedCerts is 0", true
}

// casProxyAuth judges MSExchange OWA event 71
// (ProxyErrorAuthenticationToCas2Failure) and its Exchange Web Services
// twin. An internalURL naming an IP address is the one cause the text
// itself proves: the proxying server asks for HTTP/<address>, which no
// account holds. Otherwise the event lists two causes and singles out
// neither, so the candidates are ranked in the event's own order.
func (j *judgement) casProxyAuth(p *ProxyNote) (Verdict, string, bool) {
	service, event, setVdir, path := "Outlook Web App", "MSExchange OWA event 71, ProxyErrorAuthenticationToCas2Failure", "Set-OwaVirtualDirectory", "owa"
	if p != nil && p.Service == "EWS" {
		service, event, setVdir, path = "Exchange Web Services", "the Exchange Web Services twin of MSExchange OWA event 71, ProxyErrorAuthenticationToCas2Failure", "Set-WebServicesVirtualDirectory", "EWS"
	}
	url := "https://<fqdn>/owa"
	if path == "EWS" {
		url = "https://<fqdn>/EWS/Exchange.asmx"
	}
	setURL := fmt.Sprintf("`%s -Identity \"<target>\\%s (Default Web Site)\" -InternalUrl %s`", setVdir, path, url)
	host := ""
	if p != nil {
		host = p.TargetHost
	}
	j.add("%s is logged by a Client Access server that proxies %s traffic over HTTPS to a Client Access server in another Active Directory site and could not authenticate to it with Windows authentication (Kerberos)", event, service)
	if host != "" && spnNamesAddress("HTTP/"+host) {
		j.add("the target's internalURL names %s: the proxying server asks the KDC for HTTP/%s, and no account holds an SPN for an IP address", host, host)
		j.remediation = append(j.remediation,
			"Put the target Client Access server's host name, not its IP address, in the internalURL of its "+service+" virtual directory: "+setURL+".",
			"If that name is not yet an SPN of the account the target's IIS authenticates as (its computer account, or the alternate service account of a load-balanced array), register it: `setspn -S HTTP/<fqdn> <account>`. Do not register an SPN for the IP address.")
		j.ownRemediation = true
		return VerdictSPNUnknown, fmt.Sprintf("the target Client Access server's %s internalURL names an IP address (%s), which no account holds as an HTTP SPN: Kerberos between the Client Access servers needs its host name", service, host), true
	}
	spnHost := "<host>"
	target := "the target Client Access server"
	if host != "" {
		spnHost, target = host, "the target Client Access server ("+host+")"
	}
	j.add("candidate causes, most likely first: 1) the host name in the target's internalURL is not an HTTP SPN of the target Client Access server's account: an IP address in internalURL, or the SPN missing or registered on more than one account (`setspn -Q HTTP/%s`); 2) the target's IIS Windows Authentication does not allow Kerberos: its providers are NTLM only (Negotiate missing)", spnHost)
	j.remediation = append(j.remediation,
		"Use the target's host name, not its IP address, in the internalURL of its "+service+" virtual directory: "+setURL+".",
		fmt.Sprintf("`setspn -Q HTTP/%s` must list exactly one account, the one the target's IIS authenticates as (its computer account, or the alternate service account of a load-balanced array): register a missing SPN with `setspn -S HTTP/%s <account>`, remove a duplicate with `setspn -D HTTP/%s <other account>`.", spnHost, spnHost, spnHost),
		"On the target, in IIS Manager, open the "+path+" virtual directory's Authentication > Windows Authentication > Providers and add Negotiate (Kerberos) if only NTLM is listed.")
	j.ownRemediation = true
	return VerdictAuthTemporaryFailure, fmt.Sprintf("the proxying Client Access server could not authenticate to %s for %s traffic (%s)", target, service, event), true
}
