package verdict

import (
	"fmt"
	"strings"
	"time"
)

// HTTPObservation is the HTTP path between Client Access servers: what a
// proxying CAS sees when it authenticates to another's internalURL with
// Negotiate (Kerberos for HTTP/<host>) over TLS.
type HTTPObservation struct {
	URL  string
	Host string // the URL's host: the TLS name and the SPN's host
	// HostIsAddress is set when Host is an IP address, which no account
	// can hold an HTTP SPN for.
	HostIsAddress bool
	// Challenge is the answer to the first, unauthenticated request.
	Challenge *HTTPResponse
	// Final is the answer to the request that carried the Kerberos token;
	// nil when none was sent.
	Final *HTTPResponse
	// Mutual is set when the server's reply token (its AP-REP) verified.
	Mutual bool
	// MutualErr is why a reply token did not verify; MutualMalformed says
	// it was not even a Kerberos token in SPNEGO (a broken peer, not a key).
	MutualErr       string
	MutualMalformed bool
	// Err is a request that got no HTTP answer (the connection broke, no
	// reply in time), with the request it was.
	Err     error
	ErrStep string // "challenge" or "token"
}

// HTTPResponse is one HTTP answer, as far as authentication goes.
type HTTPResponse struct {
	Status int
	// Schemes are the WWW-Authenticate schemes, in the server's order
	// (IIS lists one header per Windows Authentication provider).
	Schemes    []string
	ReplyToken bool       // a Negotiate header carried a token back
	Server     string     // the Server header
	Date       *time.Time // the Date header: the server's clock
	ReceivedAt time.Time  // this host's clock when the answer arrived
}

// Offers reports whether scheme is among the response's WWW-Authenticate
// schemes (case-insensitive, as HTTP compares them).
func (r *HTTPResponse) Offers(scheme string) bool {
	if r == nil {
		return false
	}
	for _, s := range r.Schemes {
		if strings.EqualFold(s, scheme) {
			return true
		}
	}
	return false
}

// serverOffset is the server's Date header against this host's clock.
func (h *HTTPObservation) serverOffset() (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	for _, r := range []*HTTPResponse{h.Final, h.Challenge} {
		if r != nil && r.Date != nil {
			return r.Date.Sub(r.ReceivedAt.Truncate(time.Second)), true
		}
	}
	return 0, false
}

// decideHTTP judges the HTTP path, in the order a proxying Client Access
// server meets its failures: connect, TLS and the certificate (a proxying
// CAS with AllowInternalUntrustedCerts=0 refuses an untrusted one, event
// 43), the providers IIS offers, the SPN, the ticket, and the answer to it.
func (j *judgement) decideHTTP() (Verdict, string) {
	o, h := j.o, j.o.HTTP
	if c := o.Connect; c != nil && c.Err != nil {
		j.add("TCP connect to %s failed (%s): %v", o.Address, c.Kind, c.Err)
		return VerdictConnectFailed, fmt.Sprintf("cannot connect to %s: %s", o.Address, connectWords(c.Kind))
	}
	if f := o.Failure; f != nil && f.Step == StepTLS {
		j.add("TLS handshake with %s failed: %v", o.Address, f.Err)
		return VerdictTLSFailed, fmt.Sprintf("the TLS handshake with %s failed: %s", o.Target, shortErr(f.Err))
	}
	if c := o.TLS.peerCert(); c != nil && !c.Trusted {
		j.add("certificate %q (SAN %s, issuer %q, expires %s) is not trusted: %s", c.Subject, c.SAN(), c.Issuer, c.NotAfter.UTC().Format(time.RFC3339), c.Error)
		if h.HostIsAddress {
			j.add("the URL names an IP address (%s): with the certificate accepted, Kerberos would fail next — no account holds an HTTP SPN for an address (event 71); set the internalURL to the server's host name", h.Host)
		}
		j.remediation = append(j.remediation,
			fmt.Sprintf("Give %s a certificate the proxying Client Access servers trust, whose name is the internalURL's host (%s): `Enable-ExchangeCertificate -Thumbprint <thumbprint> -Services IIS`.", o.Target, h.Host),
			"Or let the proxying Client Access server accept untrusted certificates for internal proxying (what AllowInternalUntrustedCerts=1 changes): set that DWORD to 1 under HKLM\\SYSTEM\\CurrentControlSet\\Services\\MSExchange OWA, then `iisreset /noforce`.")
		j.ownRemediation = true
		return VerdictCertUntrusted, fmt.Sprintf("the certificate of %s is not trusted (%s): a proxying Client Access server with AllowInternalUntrustedCerts=0 refuses it (event 43)", o.Target, c.Error)
	}
	if h.Challenge == nil {
		if h.Err != nil {
			j.add("the unauthenticated request to %s got no answer: %v", h.URL, h.Err)
			return VerdictProtocolError, fmt.Sprintf("%s gave no HTTP answer: %s", o.Target, shortErr(h.Err))
		}
		return VerdictUnknown, "the probe did not get as far as an HTTP request"
	}
	c := h.Challenge
	j.add("GET %s without credentials: %d, WWW-Authenticate %s%s", h.URL, c.Status, schemesOrNone(c.Schemes), serverWords(c.Server))
	if c.Status != 401 {
		return VerdictUnknown, fmt.Sprintf("%s answered %d without asking for authentication: this URL does not use Windows authentication", h.URL, c.Status)
	}
	if !c.Offers("Negotiate") {
		if c.Offers("NTLM") {
			j.remediation = append(j.remediation, fmt.Sprintf("Enable the Negotiate provider on %s's virtual directory (IIS Manager → Authentication → Windows Authentication → Providers: Negotiate above NTLM; or `Set-OwaVirtualDirectory`/`Set-WebServicesVirtualDirectory -WindowsAuthentication $true`), then `iisreset /noforce`.", o.Target))
			j.ownRemediation = true
			return VerdictNTLMOnly, fmt.Sprintf("%s offers NTLM but not Negotiate: Kerberos between the Client Access servers cannot be used (event 71's second cause)", h.URL)
		}
		return VerdictUnknown, fmt.Sprintf("%s asks for %s, not Windows authentication", h.URL, schemesOrNone(c.Schemes))
	}
	if h.HostIsAddress {
		j.remediation = append(j.remediation,
			"Set the virtual directory's internalURL to the server's host name: `Set-OwaVirtualDirectory -Identity '<server>\\owa (Default Web Site)' -InternalUrl https://<fqdn>/owa` (EWS: `Set-WebServicesVirtualDirectory ... -InternalUrl https://<fqdn>/EWS/Exchange.asmx`), and probe that URL.",
			"Kerberos service names are host names: register `HTTP/<fqdn>` on the server's account if it is missing (`setspn -S HTTP/<fqdn> <SERVER>`), never an SPN for an address.")
		j.ownRemediation = true
		return VerdictSPNUnknown, fmt.Sprintf("%s names an IP address (%s), which no account holds as an HTTP SPN: Kerberos needs the server's host name (event 71's first cause)", h.URL, h.Host)
	}
	if v, s, ok := j.kerberos(); ok {
		return v, s
	}
	if o.Kerberos == nil && !o.Options.HasCredentials {
		return VerdictNoCredentials, fmt.Sprintf("%s offers Negotiate, but the probe has no Kerberos credentials to try it with", h.URL)
	}
	f := h.Final
	if f == nil {
		if h.Err != nil {
			j.add("the request with the Kerberos token got no answer: %v", h.Err)
			return VerdictProtocolError, fmt.Sprintf("%s gave no answer to the Kerberos token: %s", o.Target, shortErr(h.Err))
		}
		return VerdictUnknown, "the Kerberos token was not sent"
	}
	j.clocks.evidence(j.add)
	j.add("GET %s with a Kerberos token: %d%s", h.URL, f.Status, replyTokenWords(f))
	switch {
	case f.Status == 401:
		if s, outlier, ok := j.clocks.skew(); ok {
			j.outlier(outlier)
			return VerdictClockSkew, s
		}
		k := o.Kerberos
		if k != nil && k.TicketObtained && j.clocks.agree(MaxSkew-resolution) {
			// IIS (and mod_auth_gssapi) answer a server that cannot read
			// its own keys with the same bare 401: keep that cause in view.
			j.add("a server that cannot use its own keys at all (its keytab unreadable, its computer account's secret broken) answers the same 401")
			return j.undecryptable("401 with clocks in step")
		}
		j.add("candidate causes, most likely first: 1) the server cannot decrypt the ticket (%s on another account, a key version not replicated); 2) clocks more than 5 minutes apart (the server's Date header was not read)", o.Kerberos.spnOrEmpty())
		return VerdictAuthTemporaryFailure, fmt.Sprintf("%s refused the Kerberos token (401) and nothing observed singles out one cause", h.URL)
	case f.Status >= 200 && f.Status < 400:
		if h.MutualErr != "" && h.MutualMalformed {
			j.add("the server's Negotiate reply could not be read: %s", h.MutualErr)
			return VerdictProtocolError, fmt.Sprintf("%s answered %d with a Negotiate reply that is not a Kerberos token: %s", h.URL, f.Status, h.MutualErr)
		}
		if h.MutualErr != "" {
			j.add("the server's reply token did not verify: %s", h.MutualErr)
			return VerdictKeyMismatch, fmt.Sprintf("%s accepted the ticket but its mutual-authentication reply did not verify: %s", h.URL, h.MutualErr)
		}
		if !h.Mutual {
			j.warn(WarningNoMutualAuth, "no mutual-authentication reply", "the server sent no reply token (AP-REP), so it did not prove it holds the key of "+o.Kerberos.spnOrEmpty())
		}
		return VerdictOK, fmt.Sprintf("%s accepted Kerberos for %s (%d)", h.URL, o.Kerberos.spnOrEmpty(), f.Status)
	}
	return VerdictUnknown, fmt.Sprintf("%s answered %d to the Kerberos token", h.URL, f.Status)
}

func schemesOrNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ", ")
}

func serverWords(server string) string {
	if server == "" {
		return ""
	}
	return " (Server: " + server + ")"
}

func replyTokenWords(r *HTTPResponse) string {
	if r.ReplyToken {
		return ", with a Negotiate reply token"
	}
	return ""
}
