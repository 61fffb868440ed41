package verdict

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/safetext"
	"github.com/exauth/exauth/internal/smtpreply"
)

// Diagnosis is the judgement of one Observation.
type Diagnosis struct {
	Verdict     Verdict
	Severity    Severity
	Summary     string
	Evidence    []string
	Remediation []string
	// Warnings say why an ok verdict has severity warning; empty otherwise.
	Warnings []Warning
}

// MaxSkew is the clock difference Kerberos tolerates by default (RFC 4120
// 1.6; Active Directory's "Maximum tolerance for computer clock
// synchronization"); WarnSkew is where "works, but look at this" begins, and
// CertExpiryWarning how close to its end a trusted certificate is a
// warning. Monitoring output uses the same thresholds.
const (
	MaxSkew           = 5 * time.Minute
	WarnSkew          = 2 * time.Minute
	CertExpiryWarning = 14 * 24 * time.Hour
)

// Diagnose turns an Observation into a verdict. It is a pure function: no
// network, no clock but the ones recorded in the Observation. The rules run
// in the order a session runs, so the first thing that broke is what is
// reported, and later facts are evidence.
func Diagnose(o *Observation) Diagnosis {
	j := &judgement{o: o}
	j.collectEvidence()
	v, summary := j.decide()
	d := Diagnosis{Verdict: v, Severity: v.Severity(), Summary: summary, Evidence: j.evidence}
	d.Remediation = append([]string{}, j.remediation...)
	if !j.ownRemediation {
		d.Remediation = append(d.Remediation, verdictTable[v].remediation...)
	}
	d.Evidence = append(d.Evidence, j.warnings...)
	d.Warnings = []Warning{}
	if v == VerdictOK && len(j.warnings) > 0 {
		d.Severity = SeverityWarning
		d.Warnings = warningIDs(j.warningIDs)
		d.Summary += "; but " + strings.Join(j.warningsShort, "; ")
	}
	return d
}

type judgement struct {
	o             *Observation
	evidence      []string
	remediation   []string
	warnings      []string
	warningsShort []string
	warningIDs    []Warning
	clocks        clocks
	// ownRemediation: the rule's remediation replaces the verdict table's,
	// which would point at the wrong machine.
	ownRemediation bool
}

func (j *judgement) add(format string, args ...any) {
	j.evidence = append(j.evidence, fmt.Sprintf(format, args...))
}

func (j *judgement) warn(id Warning, short, long string) {
	j.warningIDs = append(j.warningIDs, id)
	j.warningsShort = append(j.warningsShort, short)
	j.warnings = append(j.warnings, long)
}

// collectEvidence records the facts every verdict benefits from: the
// clocks and the certificate.
func (j *judgement) collectEvidence() {
	o := j.o
	j.clocks = observeClocks(o)
	if o.TLS != nil && o.TLS.Version != "" {
		if o.TLS.Mode == TLSHTTPS {
			j.add("TLS: %s, %s", o.TLS.Version, o.TLS.Cipher)
		} else {
			j.add("TLS: %s via %s, %s, %s", o.TLS.Mode, o.TLS.Verb, o.TLS.Version, o.TLS.Cipher)
		}
	}
	if c := o.TLS.peerCert(); c != nil {
		if c.Trusted {
			j.add("certificate %q (SAN %s) is trusted for %s, valid until %s", c.Subject, c.SAN(), o.Target, c.NotAfter.UTC().Format(time.RFC3339))
			if o.Banner != nil && c.NotAfter.Sub(o.Banner.ReceivedAt) < CertExpiryWarning {
				j.warn(WarningCertificateExpiring, "the certificate expires soon", fmt.Sprintf("certificate expires %s, in less than 14 days", c.NotAfter.UTC().Format(time.RFC3339)))
			}
		} else if !o.Options.RequireTrustedCert {
			expired := o.Banner != nil && c.NotAfter.Before(o.Banner.ReceivedAt)
			if o.TLS.Mode == TLSAnonymous && !expired {
				// Exchange checks no CA or name inside X-ANONYMOUSTLS: the
				// certificate's public key goes into ExchangeAuth's hash, and
				// self-signed Internal Transport Certificates are the norm.
				j.add("certificate %q is not trusted for %s: %s — X-ANONYMOUSTLS does not check it (its public key goes into the ExchangeAuth hash); --require-trusted-cert makes this a failure", c.Subject, o.Target, c.Error)
			} else {
				j.warn(WarningCertificateUntrusted, "the certificate is not trusted", fmt.Sprintf("certificate %q is not trusted for %s: %s (Exchange servers often use self-signed certificates between themselves; --require-trusted-cert makes this a failure)", c.Subject, o.Target, c.Error))
			}
		}
	}
	if v := o.TLS.version(); v == "TLS 1.0" || v == "TLS 1.1" {
		j.add("%s negotiated: Exchange accepts it and ExchangeAuth works over it, but TLS 1.2 should be enabled on both servers (Schannel registry settings)", v)
	}
	if d := o.Directory; d != nil && d.Err != "" {
		j.add("the directory could not be read (%s): the verdict rests on SMTP and Kerberos alone", d.Err)
	}
	j.senderEvidence()
}

func (t *TLSObservation) version() string {
	if t == nil {
		return ""
	}
	return t.Version
}

func (t *TLSObservation) peerCert() *CertObservation {
	if t == nil {
		return nil
	}
	return t.PeerCert
}

// decide walks the session in order and returns the first verdict that fits.
func (j *judgement) decide() (Verdict, string) {
	o := j.o
	f := o.Failure
	if f != nil && f.Kind == FailLocal {
		j.add("probe configuration: %v", f.Err)
		return VerdictUnknown, "the probe could not start: " + f.Err.Error()
	}
	if i := o.Interrupted; i != nil {
		return j.interrupted(i)
	}
	if o.Notes != nil {
		if v, s, ok := j.fromNotes(); ok {
			return v, s
		}
	}
	if o.HTTP != nil {
		return j.decideHTTP()
	}
	// Connect and banner.
	if c := o.Connect; c != nil && c.Err != nil {
		j.add("TCP connect to %s failed (%s): %v", o.Address, c.Kind, c.Err)
		return VerdictConnectFailed, fmt.Sprintf("cannot connect to %s: %s", o.Address, connectWords(c.Kind))
	}
	if f != nil && f.Step == StepBanner {
		if b := o.Banner; b != nil && b.Reply.Code != 220 {
			j.add("banner: %s", b.Reply.String())
			return VerdictConnectFailed, fmt.Sprintf("%s refused the session: %s", o.Target, b.Reply.String())
		}
		return j.noGreeting()
	}
	if b := o.Banner; b != nil {
		j.add("banner: %s", b.Reply.String())
	}
	if f != nil && f.Step == StepEHLO {
		return j.protocolError("at EHLO")
	}
	caps := o.finalCapabilities()
	if masked := o.maskedLines(); len(masked) > 0 {
		j.add("EHLO shows masked lines %s: the signature of a firewall's ESMTP inspection", strings.Join(masked, ", "))
		if !caps.Has("X-EXPS") || o.TLS == nil && !caps.Has("X-ANONYMOUSTLS") && !caps.Has("STARTTLS") {
			return VerdictVerbsStripped, "a middlebox between here and " + o.Target + " masks ESMTP verbs (" + strings.Join(masked, ", ") + "); X-ANONYMOUSTLS/X-EXPS cannot pass"
		}
	}
	// TLS.
	if f != nil && f.Step == StepTLS {
		if f.Kind == FailSyntax || f.Kind == FailLineTooLong || f.Kind == FailTooManyLines {
			return j.protocolError("at " + o.TLS.Verb)
		}
		if o.TLS.Reply != nil && o.TLS.Reply.Code != 220 {
			j.add("%s answered %s", o.TLS.Verb, o.TLS.Reply.String())
		} else {
			j.add("TLS handshake after %s failed: %v", o.TLS.Verb, f.Err)
		}
		return VerdictTLSFailed, fmt.Sprintf("the TLS upgrade (%s) to %s failed: %s", o.TLS.Verb, o.Target, shortErr(f.Err))
	}
	if c := o.TLS.peerCert(); c != nil && !c.Trusted && o.Options.RequireTrustedCert {
		j.add("certificate %q (SAN %s, issuer %q, expires %s) is not trusted: %s", c.Subject, c.SAN(), c.Issuer, c.NotAfter.UTC().Format(time.RFC3339), c.Error)
		return VerdictCertUntrusted, fmt.Sprintf("the certificate of %s is not trusted: %s", o.Target, c.Error)
	}
	if f != nil && f.Step == StepEHLOTLS {
		return j.protocolError("at EHLO inside TLS")
	}
	// What the connector offers.
	if o.Auth == nil && o.EHLO != nil {
		return j.noAuthOffered(caps)
	}
	if o.Auth != nil && len(o.Auth.Offered) > 0 {
		j.add("%s offered mechanisms: %s", o.Auth.Verb, strings.Join(o.Auth.Offered, " "))
	}
	if a := o.Auth; a != nil && a.Why != "" {
		j.add("%s chosen: %s", a.label(), a.Why)
	}
	if a := o.Auth; a != nil && a.Verb == "X-EXPS" {
		j.advertisedName()
	}
	// Kerberos on the client side.
	if v, s, ok := j.kerberos(); ok {
		j.whoLogs(false)
		return v, s
	}
	if o.Auth == nil {
		return VerdictUnknown, "nothing recognised points at an Exchange authentication problem"
	}
	// The authentication exchange.
	v, summary := j.authResult()
	if a := o.Auth; a.Final != nil && a.Final.Code == 454 && a.TokenSent && a.Err == nil {
		j.whoLogs(true)
	}
	return v, summary
}

// whoLogs says which server's logs hold the failure: a sender that cannot
// get its ticket never sends X-EXPS (event 2017 on the sender, nothing on
// the receiver); a receiver that refuses one logs event 1035 or 1018.
func (j *judgement) whoLogs(receiverRefused bool) {
	o := j.o
	if o.Notes != nil || o.Auth == nil || o.Auth.Verb != "X-EXPS" {
		return
	}
	if receiverRefused {
		j.add("the receiving server refused the token: read its Application log (MSExchangeTransport event 1035, or 1018 for a permission refusal) and its SMTP receive protocol log; the sending server logs event 2003 and queues \"451 4.4.0 ... responded with: 454 4.7.0 Temporary authentication failure\"")
		return
	}
	k := o.Kerberos
	if k == nil || k.TicketObtained || k.CredentialsProblem != "" || k.ConfigProblem != "" {
		return
	}
	j.add("a real Exchange sender stops at this point: it sends no X-EXPS, logs event 2017 (\"Outbound authentication failed with error ... The authentication mechanism is ExchangeAuth. The target is %s.\") and queues a 454 4.7.0 it made itself; the receiving server logs nothing — read the sending server's Application log", orSPN(k.SPN))
}

func (o *Observation) finalCapabilities() smtpreply.Capabilities {
	if o.EHLOTLS != nil {
		return o.EHLOTLS.Capabilities
	}
	if o.EHLO != nil {
		return o.EHLO.Capabilities
	}
	return nil
}

func (o *Observation) maskedLines() []string {
	var out []string
	for _, e := range []*EHLOObservation{o.EHLO, o.EHLOTLS} {
		if e == nil {
			continue
		}
		for _, c := range e.Capabilities.Masked() {
			out = append(out, c.String())
		}
	}
	return out
}

func (j *judgement) protocolError(where string) (Verdict, string) {
	f := j.o.Failure
	words := map[FailureKind]string{
		FailTimeout:      "no reply in time",
		FailClosed:       "the server closed the connection",
		FailSyntax:       "a reply that is not SMTP",
		FailLineTooLong:  "a reply line longer than any SMTP server sends",
		FailTooManyLines: "a reply that never ends",
		FailReply:        "an unexpected reply",
	}[f.Kind]
	if words == "" {
		words = "an I/O error"
	}
	j.add("%s %s: %v", f.Step, where, f.Err)
	return VerdictProtocolError, fmt.Sprintf("%s broke the SMTP dialogue %s: %s", j.o.Target, where, words)
}

func (j *judgement) noAuthOffered(caps smtpreply.Capabilities) (Verdict, string) {
	o := j.o
	x := caps.Mechanisms("X-EXPS")
	auth := caps.Mechanisms("AUTH")
	j.add("EHLO%s: %s", map[bool]string{true: " inside TLS", false: ""}[o.EHLOTLS != nil], strings.Join(caps.Strings(), " | "))
	mech := o.Options.Mech.Canonical()
	verb, mechs := "X-EXPS", x
	if mech == MechAUTH {
		verb, mechs = "AUTH", auth
	}
	switch {
	case mech == MechExchangeAuth && !caps.Offers("X-EXPS", "EXCHANGEAUTH") && o.Notes == nil:
		// The probe was told to use a mechanism this EHLO does not offer:
		// the configuration's choice, not the server's fault.
		where := "here"
		if o.TLS == nil || o.TLS.Mode != TLSAnonymous {
			where = "outside X-ANONYMOUSTLS (Exchange offers it only inside)"
		}
		j.add("X-EXPS EXCHANGEAUTH is not offered %s", where)
		return VerdictUnknown, fmt.Sprintf("%s does not offer X-EXPS EXCHANGEAUTH %s: probe with --mech auto and --tls auto", o.Target, where)
	case caps.Offers("X-EXPS", "GSSAPI") && mech != MechAUTH, caps.Offers("AUTH", "GSSAPI") && (mech == MechAuto || mech == MechAUTH):
		// Only explain gets here: a probe would have authenticated.
		return VerdictUnknown, "the EHLO offers GSSAPI: nothing here shows a failure"
	case verb == "X-EXPS" && slices.Contains(mechs, "NTLM") && !slices.Contains(mechs, "GSSAPI") && o.EHLO != nil && o.EHLO.Capabilities.Has("X-ANONYMOUSTLS"):
		// Only a bridgehead offers X-EXPS GSSAPI; a server with
		// Exchange Server authentication that offers X-EXPS NTLM alone,
		// with X-ANONYMOUSTLS, is an Edge Transport server.
		j.add("X-EXPS offers %s only, with X-ANONYMOUSTLS: the signature of an Edge Transport server", strings.Join(mechs, " "))
		return VerdictEdgeServer, fmt.Sprintf("%s is an Edge Transport server (X-EXPS %s with X-ANONYMOUSTLS): Edge is trusted through EdgeSync and certificates, and Kerberos is not used with it by design", o.Target, strings.Join(mechs, " "))
	case slices.Contains(mechs, "NTLM"):
		j.add("%s offers %s but not GSSAPI", verb, strings.Join(mechs, " "))
		return VerdictNTLMOnly, fmt.Sprintf("%s offers %s %s only: Kerberos (GSSAPI) cannot be used", o.Target, verb, strings.Join(mechs, " "))
	case len(mechs) > 0:
		j.add("%s offers %s, neither GSSAPI nor NTLM", verb, strings.Join(mechs, " "))
		return VerdictUnknown, fmt.Sprintf("%s offers %s %s: no mechanism the probe can use", o.Target, verb, strings.Join(mechs, " "))
	case verb == "AUTH":
		j.add("AUTH is not offered")
		return VerdictUnknown, fmt.Sprintf("%s does not offer AUTH (use --mech auto for Exchange)", o.Target)
	}
	j.add("X-EXPS is not offered: the receive connector does not have Exchange Server authentication")
	if o.TLS == nil && o.EHLO != nil && (o.EHLO.Capabilities.Has("STARTTLS") || o.EHLO.Capabilities.Has("X-ANONYMOUSTLS")) {
		j.remediation = append(j.remediation, "The probe stayed in clear text (--tls none) although TLS was offered: a connector may offer X-EXPS only inside TLS; probe again with --tls auto.")
	}
	return VerdictExchangeAuthDisabled, fmt.Sprintf("%s does not offer X-EXPS: Exchange Server authentication is off on the receive connector (or a firewall strips it)", o.Target)
}

// kerberos judges the client side: credentials and the KDC exchanges.
func (j *judgement) kerberos() (Verdict, string, bool) {
	k := j.o.Kerberos
	if k == nil {
		return "", "", false
	}
	if k.Client != "" {
		j.add("Kerberos client %s, realm %s, SPN %s", k.Client, k.Realm, k.SPN)
	}
	if k.Credentials != "" {
		j.add("credentials: %s", k.Credentials)
	}
	if k.ConfigProblem != "" {
		j.add("Kerberos configuration: %s", k.ConfigProblem)
		j.remediation = append(j.remediation, "Fix the Kerberos configuration named above (the file and line), or give the realm and its KDC directly (--realm, --kdc); nothing was sent to a KDC or judged about the servers.")
		j.ownRemediation = true
		return VerdictNoCredentials, "the probe's Kerberos configuration cannot be used: " + k.ConfigProblem, true
	}
	if k.CredentialsProblem != "" {
		j.add("credentials: %s", k.CredentialsProblem)
		if k.CredentialsAdvice != "" {
			j.remediation = append(j.remediation, k.CredentialsAdvice)
			j.ownRemediation = true
		}
		return VerdictNoCredentials, "no usable Kerberos credentials: " + k.CredentialsProblem, true
	}
	if len(k.Unreachable) > 0 && k.KDCError == nil && !k.TicketObtained {
		var parts []string
		for _, a := range k.Unreachable {
			parts = append(parts, fmt.Sprintf("%s/%s %s", a.Addr, a.Transport, a.Result))
		}
		j.add("no KDC answered: %s", strings.Join(parts, "; "))
		realm := k.Realm
		if realm == "" {
			realm = "the realm"
		}
		return VerdictKDCUnreachable, fmt.Sprintf("no KDC for %s answered on 88/TCP or 88/UDP (%s)", realm, strings.Join(parts, "; ")), true
	}
	if e := k.KDCError; e != nil {
		if e.Exchange != ExchangeUnknown {
			j.add("KDC answered the %s request with %s (%d)%s", e.Exchange, e.Code, int32(e.Code), textSuffix(e.Text))
		} else {
			j.add("Kerberos error %s (%d)%s", e.Code, int32(e.Code), textSuffix(e.Text))
		}
		if k.ClockSample != nil {
			j.add("KDC clock %s vs this host %s (%s)", k.ClockSample.KDC.UTC().Format(time.RFC3339), k.ClockSample.Local.UTC().Format(time.RFC3339), k.ClockSample.Source)
		}
		switch e.Code {
		case krberror.KRB_AP_ERR_SKEW, krberror.KRB_AP_ERR_TKT_NYV:
			j.clocks.evidence(j.add)
			if s, outlier, ok := j.clocks.skew(); ok {
				j.outlier(outlier)
				return VerdictClockSkew, s, true
			}
			if e.Exchange == ExchangeUnknown {
				return VerdictClockSkew, fmt.Sprintf("Kerberos reports clocks more than the allowed skew apart (%s)", e.Code), true
			}
			return VerdictClockSkew, fmt.Sprintf("the KDC refused this host's time (%s): this host's and the KDC's clocks are more than 5 minutes apart", e.Code), true
		case krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN:
			if e.Exchange == ExchangeAS {
				// In the AS exchange the server asked for is krbtgt/REALM.
				j.remediation = append(j.remediation, "Check the realm: default_realm in krb5.conf, or --realm, must be the AD domain's DNS name in upper case (CONTOSO.COM).")
				j.ownRemediation = true
				return VerdictNoCredentials, fmt.Sprintf("the KDC does not know the realm's ticket-granting service (krbtgt/%s): the probe's realm is wrong", k.Realm), true
			}
			if strings.HasPrefix(k.SPN, "SMTP/") {
				// MIT and Heimdal names are case-sensitive, and Postfix/Cyrus
				// and most Unix MTAs use the lower-case service name.
				j.remediation = append(j.remediation, fmt.Sprintf("Against a non-Windows KDC (MIT, Heimdal) service names are case-sensitive: Postfix/Cyrus use smtp/<host>; try --spn smtp/%s.", strings.TrimPrefix(k.SPN, "SMTP/")))
			}
			if spnNamesAddress(k.SPN) {
				// No account has, or should have, an SPN for an address:
				// the advice is to use the server's name, not setspn.
				j.remediation = append(j.remediation, "Probe the server by its name (the FQDN its receive connector advertises), not by its IP address: Kerberos service names are host names, and Exchange builds SMTPSVC/<advertised FQDN>. Use --connect ADDRESS to dial an address while naming the server.")
				j.ownRemediation = true
				return VerdictSPNUnknown, fmt.Sprintf("%s names an IP address, which no account holds as an SPN: Kerberos needs the server's name", k.SPN), true
			}
			if v, summary, ok := j.spnFromDirectory(k.SPN); ok {
				return v, summary, true
			}
			return VerdictSPNUnknown, fmt.Sprintf("the KDC does not know %s (KDC_ERR_S_PRINCIPAL_UNKNOWN): the SPN is missing, or duplicated (a Windows KDC answers a duplicate this way and logs event 11)", orSPN(k.SPN)), true
		case krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE:
			return VerdictSPNDuplicate, fmt.Sprintf("%s is registered on more than one account (KDC_ERR_PRINCIPAL_NOT_UNIQUE)", orSPN(k.SPN)), true
		case krberror.KDC_ERR_ETYPE_NOSUPP:
			if e.Exchange == ExchangeAS {
				// In the AS exchange the mismatch is the client's own keys.
				j.remediation = append(j.remediation, fmt.Sprintf("The KDC has no key of the requested types for %s itself: compare the sending account's msDS-SupportedEncryptionTypes and its keytab (`klist -k -e`) with the etypes this host's krb5.conf requests; re-export the keytab after changing them.", orUnknown(k)))
				j.ownRemediation = true
				return VerdictETypeUnsupported, fmt.Sprintf("no encryption type is common to %s's keys and what this host requests (KDC_ERR_ETYPE_NOSUPP in the AS exchange)", orUnknown(k)), true
			}
			j.etypeEvidence(k.SPN)
			return VerdictETypeUnsupported, fmt.Sprintf("no encryption type is common to this client and %s (KDC_ERR_ETYPE_NOSUPP)", orSPN(k.SPN)), true
		case krberror.KDC_ERR_C_PRINCIPAL_UNKNOWN, krberror.KDC_ERR_PREAUTH_FAILED, krberror.KDC_ERR_CLIENT_REVOKED, krberror.KDC_ERR_KEY_EXPIRED:
			// The AS exchange refused the client's own key: the sending
			// server's account (or the probe's keytab), not the connector.
			client := orUnknown(k)
			j.remediation = append(j.remediation,
				fmt.Sprintf("Check the credentials of %s: a keytab must hold the account's current key (compare `klist -k -t` kvno with msDS-KeyVersionNumber; re-export it after a password change), a password must be current.", client),
				"Check that the account exists and is enabled, not locked out or expired (Get-ADComputer / Get-ADUser ... -Properties Enabled,LockedOut,AccountExpirationDate).")
			j.ownRemediation = true
			if d := j.o.Directory; d != nil && d.Sender != nil && d.Sender.Disabled {
				return VerdictAuthRejected, fmt.Sprintf("the KDC refused the credentials of %s (%s): the directory has the account disabled", client, e.Code), true
			}
			if e.Code == krberror.KDC_ERR_C_PRINCIPAL_UNKNOWN {
				// Active Directory answers this for a name it has no account
				// for, and for a realm that is not its own domain: both are
				// about the probe's identity, never the receiving server.
				return VerdictAuthRejected, fmt.Sprintf("the KDC has no account %s (KDC_ERR_C_PRINCIPAL_UNKNOWN): the name is misspelt, the account was deleted, or the realm is not the KDC's domain", client), true
			}
			return VerdictAuthRejected, fmt.Sprintf("the KDC refused the credentials of %s (%s)", client, e.Code), true
		case krberror.KRB_AP_ERR_MODIFIED, krberror.KRB_AP_ERR_BADKEYVER, krberror.KRB_AP_ERR_BAD_INTEGRITY:
			return VerdictKeyMismatch, fmt.Sprintf("the ticket could not be decrypted by the receiving server (%s): its key for %s differs from the KDC's", e.Code, orSPN(k.SPN)), true
		}
		return VerdictUnknown, fmt.Sprintf("the KDC answered %s (%d)", e.Code, int32(e.Code)), true
	}
	if r := k.ReferredTo; r != nil && !k.TicketObtained {
		j.add("the KDC %s referred %s to realm %s", k.KDC, k.SPN, *r)
		j.remediation = append(j.remediation,
			fmt.Sprintf("The SPN lives in realm %s (another domain or forest): probe with credentials of that realm (--principal NAME@%s and its KDC), or check which account holds the SPN there (setspn -Q %s).", *r, *r, k.SPN))
		j.ownRemediation = true
		return VerdictUnknown, fmt.Sprintf("%s is in realm %s, not %s: exauth does not follow cross-realm referrals", k.SPN, *r, k.Realm), true
	}
	if k.KDCProtocolError != "" && !k.TicketObtained {
		j.add("the KDC %s/%s answered with an invalid reply: %s", k.KDC, k.Transport, k.KDCProtocolError)
		j.remediation = append(j.remediation, "Check that the realm's kdc entries (krb5.conf or DNS SRV) name domain controllers, and look for a proxy or inspection device on port 88.")
		return VerdictProtocolError, fmt.Sprintf("the KDC %s broke the Kerberos protocol: %s", k.KDC, shortErr(fmt.Errorf("%s", k.KDCProtocolError))), true
	}
	if k.Err != nil && !k.TicketObtained {
		j.add("Kerberos: %v", k.Err)
		if k.CredentialsAdvice != "" {
			j.remediation = append(j.remediation, k.CredentialsAdvice)
		}
		return VerdictUnknown, "Kerberos failed before a ticket was obtained: " + shortErr(k.Err), true
	}
	if k.TicketObtained {
		kv := "unknown"
		if k.KVNO != nil {
			kv = fmt.Sprint(*k.KVNO)
		}
		if k.KDC == "" {
			// A Windows logon session's tickets come from a KDC that
			// Windows chose; SSPI does not say which.
			j.add("service ticket for %s: etype %s, kvno %s", k.SPN, ETypeName(k.EType), kv)
		} else {
			j.add("service ticket for %s issued by %s over %s: etype %s, kvno %s", k.SPN, k.KDC, k.Transport, ETypeName(k.EType), kv)
		}
	}
	return "", "", false
}

// authResult judges the server's answer to X-EXPS / AUTH.
func (j *judgement) authResult() (Verdict, string) {
	o := j.o
	a := o.Auth
	j.clocks.evidence(j.add)
	if a.Final == nil {
		if o.Failure != nil && o.Failure.Step == StepAuth {
			return j.protocolError("during " + a.Verb + " GSSAPI")
		}
		if a.Err != nil {
			j.add("the GSSAPI exchange failed on this side: %v", a.Err)
			return VerdictProtocolError, "the server's GSSAPI data could not be used: " + shortErr(a.Err)
		}
		return VerdictUnknown, "the authentication exchange ended without a reply"
	}
	r := *a.Final
	shown := r.String()
	if a.Mechanism == "EXCHANGEAUTH" && r.Code == 235 && !o.Options.ShowSecrets {
		shown = fmt.Sprintf("235 <ExchangeAuth blob, %d bytes>", len(r.Text()))
	} else if tok, ok := r.AuthToken(); ok {
		// The AP-REP on the 235 line is a secret like any token.
		shown = fmt.Sprintf("%03d <server token, %d bytes>", r.Code, len(tok))
	} else if a.TokenSent && !o.Options.ShowSecrets {
		shown = safetext.RedactTokens(shown)
	}
	if a.Verb != "" {
		j.add("%s answered: %s", a.label(), shown)
	} else {
		j.add("the server answered: %s", shown)
	}
	// Only a refusal of the token can be the clocks' doing; an answer to
	// this side's own cancel is none.
	skewed, isSkewed := "", false
	if a.TokenSent && a.Err == nil && (r.Code == 454 || r.Code == 535) {
		var outlier string
		if skewed, outlier, isSkewed = j.clocks.skew(); isSkewed {
			j.outlier(outlier)
		}
	}
	switch {
	case r.Code == 235 && a.Mechanism == "EXCHANGEAUTH":
		return j.exchangeAuthAccepted()
	case r.Code == 334 && a.Mechanism == "EXCHANGEAUTH":
		return VerdictProtocolError, fmt.Sprintf("%s answered ExchangeAuth with a 334 challenge: Exchange answers it in one line, 235 <blob> or a failure", o.Target)
	case r.Code == 235:
		if a.Err != nil {
			j.add("the server's mutual-authentication data did not verify: %v", a.Err)
			return VerdictKeyMismatch, "the server accepted the ticket but its mutual-authentication reply did not verify: " + shortErr(a.Err)
		}
		if !a.Mutual {
			j.warn(WarningNoMutualAuth, "the server sent no mutual-authentication data", "the server accepted authentication without returning an AP-REP (no mutual authentication)")
		} else {
			j.add("mutual authentication verified (AP-REP)")
		}
		j.okWarnings()
		return VerdictOK, fmt.Sprintf("%s accepted %s from %s", o.Target, a.label(), orUnknown(o.Kerberos))
	case a.Err != nil && a.ServerData:
		// This side failed on the server's mutual-authentication data and
		// cancelled: the final answer is to that, not to the ticket, which
		// the server had accepted to build its AP-REP.
		j.add("the server's mutual-authentication data did not verify: %v; this side cancelled, and the server's last answer is to that", a.Err)
		return VerdictKeyMismatch, "the server accepted the ticket but its mutual-authentication reply did not verify: " + shortErr(a.Err)
	case isSkewed:
		return VerdictClockSkew, skewed
	case r.Code == 454 && (r.Enhanced == "4.7.0" || r.Enhanced == ""):
		return j.temporaryFailure(r)
	case (r.Code == 530 || r.Code == 454 || r.Code == 451) && strings.Contains(strings.ToUpper(r.Text()), "STARTTLS"):
		return VerdictTLSFailed, fmt.Sprintf("%s wants TLS first: %s", o.Target, r.String())
	case r.Code == 530:
		// Exchange answers MAIL FROM this way when the connector admits
		// authenticated senders only and the sender did not authenticate.
		j.remediation = append(j.remediation, "530 means the sending server did not authenticate before MAIL FROM: look for the X-EXPS failure before it (event 1035, the queue's earlier errors), or allow the sender's permission group on the connector.")
		return VerdictAuthRejected, fmt.Sprintf("%s requires an authenticated sender and the client was not authenticated: %s", o.Target, r.String())
	case r.Code == 535 || r.Enhanced == "5.7.30" || r.Enhanced == "5.7.57":
		return VerdictAuthRejected, fmt.Sprintf("%s refused the credentials: %s", o.Target, r.String())
	case r.Code == 504 || (r.Code == 451 && r.Enhanced == "5.7.3"):
		return VerdictExchangeAuthDisabled, fmt.Sprintf("%s answered %s: Exchange Server authentication is not available on the connector (or ESMTP inspection interferes)", o.Target, r.String())
	case r.Code == 500 || r.Code == 502:
		if len(o.maskedLines()) > 0 {
			return VerdictVerbsStripped, fmt.Sprintf("%s did not recognise %s after a middlebox masked it: %s", o.Target, orVerb(a.Verb), r.String())
		}
		return VerdictExchangeAuthDisabled, fmt.Sprintf("%s does not accept %s: %s", o.Target, orVerb(a.Verb), r.String())
	case r.Code == 454 && r.Enhanced == "4.7.5":
		return VerdictTLSFailed, fmt.Sprintf("%s wants TLS first: %s", o.Target, r.String())
	}
	return VerdictUnknown, fmt.Sprintf("%s answered %s", o.Target, r.String())
}

// temporaryFailure explains a 454 4.7.0. With a valid ticket and clocks
// that agree, the remaining KB 979174 cause that fits is that the receiving
// server could not decrypt the ticket: its key differs from the one the KDC
// used (SPN on another account, stale key version, replication).
func (j *judgement) temporaryFailure(r smtpreply.Reply) (Verdict, string) {
	o := j.o
	k := o.Kerberos
	if a := o.Auth; a.Mechanism == "EXCHANGEAUTH" && !a.TokenSent {
		// The sending server's own 454: it never sent X-EXPS.
		j.add("candidate causes on the sending server, most likely first: 1) the KDC does not know %s (SPN missing, or duplicated); 2) no domain controller answered on 88/TCP+UDP; 3) a broken trust between the forests or domains; 4) the sending server's clock", orSPN(k.spnOrEmpty()))
		j.remediation = append(j.remediation, "Read event 2017 on the sending server: its error names the cause — TargetUnknown (the SPN), NoAuthenticatingAuthority (no DC reachable), TimeSkew (clocks), LogonDenied (trust or keys).")
		return VerdictAuthTemporaryFailure, "the sending server could not authenticate (event 2017) and queued its own 454 4.7.0: the cause is on its side, not the receiving server's"
	}
	if a := o.Auth; a.Mechanism == "EXCHANGEAUTH" {
		return j.exchangeAuthRefused(r)
	}
	if a := o.Auth; a.Verb == "X-EXPS" && a.Mutual {
		// Exchange sends its AP-REP before it checks permissions: a refusal
		// after a verified AP-REP is not about the ticket.
		j.add("the receiving server accepted the ticket (its AP-REP verified) and refused afterwards")
		return VerdictNoSubmitPermission, fmt.Sprintf("%s accepts %s's Kerberos ticket but does not let it submit (event 1018): not an Exchange server's identity, or the connector's permissions", o.Target, orUnknown(k))
	}
	if k != nil && k.TicketObtained && j.clocks.agree(MaxSkew-resolution) {
		return j.undecryptable("454 4.7.0 with clocks in step")
	}
	j.add("candidate causes, most likely first (KB 979174): 1) clocks more than 5 minutes apart; 2) the receiving server cannot decrypt the ticket (SPN on another account, AD replication); 3) SMTPSVC SPN missing or duplicated; 4) 88/TCP+UDP blocked between the servers and the DCs")
	return VerdictAuthTemporaryFailure, fmt.Sprintf("%s answered %s and nothing observed singles out one cause", o.Target, r.String())
}

// undecryptable judges a valid ticket the receiving server refused with
// clocks in step: it could not decrypt it, because the key it holds
// differs from the KDC's. When the ticket is in RC4 although this host
// asked for AES first, a second cause fits as well: the KDC chose RC4 for
// the receiving account (Active Directory does so for accounts whose
// msDS-SupportedEncryptionTypes is unset or RC4-only), and a server holding
// AES keys only — RC4 disabled by policy, an AES-only keytab — cannot
// decrypt it whatever its key version. Nothing the probe sees over SMTP
// separates the two (Exchange answers both with the same 454), so both are
// named and ranked: a stale or foreign key first, as a Windows server
// keeps an RC4 key unless policy removes it. why is what was observed.
func (j *judgement) undecryptable(why string) (Verdict, string) {
	o, k := j.o, j.o.Kerberos
	j.add("a valid ticket was issued and all three clocks are within 5 minutes of each other, so the receiving server most likely could not decrypt the ticket")
	if cause := j.keyEvidence(k.SPN); cause != "" {
		return VerdictKeyMismatch, fmt.Sprintf("%s could not use a valid ticket for %s (%s): %s", o.Target, k.SPN, why, cause)
	}
	if !kdcChoseWeaker(k) {
		j.add("the key the receiving server holds for %s most likely differs from the KDC's", k.SPN)
		if k.EType != 0 {
			// A keytab made for another purpose (ktpass /crypto RC4-HMAC-NT)
			// may hold the right version in the wrong type.
			return VerdictKeyMismatch, fmt.Sprintf("%s could not use a valid ticket for %s (%s): its key for the SPN differs from the KDC's — SPN on the wrong account, a key version not replicated, or no %s key", o.Target, k.SPN, why, ETypeName(k.EType))
		}
		return VerdictKeyMismatch, fmt.Sprintf("%s could not use a valid ticket for %s (%s): its key for the SPN differs from the KDC's — SPN on the wrong account or a key version not replicated", o.Target, k.SPN, why)
	}
	et := ETypeName(k.EType)
	j.add("the KDC issued the ticket for %s in %s although this host asked for %s first: the KDC chose %s for the account holding the SPN (Active Directory does so when the account's msDS-SupportedEncryptionTypes is unset or allows only %s)", k.SPN, et, ETypeName(k.RequestedETypes[0]), et, et)
	j.add("candidate causes, most likely first: 1) the key the receiving server holds for %s differs from the KDC's (a key version not replicated, SPN on another account, a keytab exported before a password change); 2) it holds no %s key at all (RC4 disabled by policy on it, or a keytab with AES keys only)", k.SPN, et)
	j.remediation = append(j.remediation, verdictTable[VerdictKeyMismatch].remediation...)
	j.remediation = append(j.remediation,
		fmt.Sprintf("If the receiving server holds AES keys only, give the account holding %s the types it holds (`Get-ADComputer NAME -Properties msDS-SupportedEncryptionTypes`; unset means RC4 for service tickets; 24 = AES128+AES256: `Set-ADComputer NAME -KerberosEncryptionType AES128,AES256`), then `klist purge` on the sending server so that it asks again.", k.SPN))
	j.ownRemediation = true
	return VerdictKeyMismatch, fmt.Sprintf("%s could not use a valid ticket for %s in %s (%s): its key for the SPN differs from the KDC's, or it holds no %s key — the KDC chose %s for the receiving account although AES was asked for", o.Target, k.SPN, et, why, et, et)
}

// kdcChoseWeaker reports whether the ticket is in RC4 although the client
// asked for an AES type before it.
func kdcChoseWeaker(k *KerberosObservation) bool {
	if k == nil || k.EType != enctype.RC4HMAC || len(k.RequestedETypes) == 0 {
		return false
	}
	for _, e := range k.RequestedETypes {
		if e == k.EType {
			return false
		}
		if enctype.IsAES(e) {
			return true
		}
	}
	return false
}

// outlier replaces the clock-skew advice with advice for the one machine
// whose clock is off, when the other two agree.
func (j *judgement) outlier(which string) {
	if r := outlierRemediation(which); r != nil {
		j.remediation = append(j.remediation, r...)
		j.ownRemediation = true
	}
}

func orVerb(verb string) string {
	if verb == "" {
		return "the authentication command"
	}
	return verb
}

func orSPN(spn string) string {
	if spn == "" {
		return "the SPN"
	}
	return spn
}

func orUnknown(k *KerberosObservation) string {
	if k == nil || k.Client == "" {
		return "the client"
	}
	return k.Client
}

func connectWords(kind ConnectKind) string {
	switch kind {
	case ConnectDNS:
		return "the name does not resolve"
	case ConnectRefused:
		return "connection refused (nothing listens on the port, or a firewall rejects it)"
	case ConnectTimeout:
		return "no answer (a firewall drops the connection, or the host is down)"
	case ConnectUnreachable:
		return "no route to the host"
	}
	return "connection failed"
}

func textSuffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

func shortErr(err error) string {
	if err == nil {
		return ""
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// signed renders an offset as "+7m00s" / "-10m00s".
func signed(d time.Duration) string {
	sign := "+"
	if d < 0 {
		sign = "-"
		d = -d
	}
	d = d.Round(100 * time.Millisecond)
	m := int(d / time.Minute)
	s := (d - time.Duration(m)*time.Minute).Seconds()
	if m >= 60 {
		return sign + d.Round(time.Second).String()
	}
	if m == 0 {
		return fmt.Sprintf("%s%.1fs", sign, s)
	}
	return fmt.Sprintf("%s%dm%04.1fs", sign, m, math.Abs(s))
}

// label names the mechanism as it goes on the wire: "X-EXPS EXCHANGEAUTH",
// "X-EXPS GSSAPI", "AUTH GSSAPI".
func (a *AuthObservation) label() string {
	mech := a.Mechanism
	if mech == "" {
		mech = "GSSAPI"
	}
	if a.Verb == "" {
		return mech
	}
	return a.Verb + " " + mech
}

// exchangeAuthAccepted judges a 235 to ExchangeAuth: the receiver accepted
// this host, and its reverse ticket is ExchangeAuth's mutual part.
func (j *judgement) exchangeAuthAccepted() (Verdict, string) {
	o := j.o
	a := o.Auth
	rev := a.Reverse
	switch {
	case rev == nil:
	case rev.Malformed:
		j.add("the 235 blob is malformed: %v", rev.Err)
		return VerdictProtocolError, fmt.Sprintf("%s accepted ExchangeAuth but its 235 blob is malformed (a real sender fails with IllegalMessage and logs event 2003): %s", o.Target, shortErr(rev.Err))
	case rev.Err != nil:
		j.add("reverse leg: the receiving server's ticket to %s did not verify: %v", rev.SPN, rev.Err)
		return VerdictReverseAuthFailed, fmt.Sprintf("%s accepted this host's ExchangeAuth, but its reverse ticket to %s did not verify: a real sending server drops the session (event 2003) — its SPN or keys are at fault, not the receiver's", o.Target, rev.SPN)
	case rev.Verified:
		j.add("reverse leg verified: %s authenticated back to %s and the second hash matched (mutual ExchangeAuth)", rev.Principal, rev.SPN)
	case rev.Skipped != "":
		j.add("reverse leg not verified: %s; the receiving server did send its ticket to %s — give the sending account's keytab (--keytab, --principal) to check it", rev.Skipped, rev.SPN)
	}
	j.okWarnings()
	return VerdictOK, fmt.Sprintf("%s accepted X-EXPS EXCHANGEAUTH from %s", o.Target, orUnknown(o.Kerberos))
}

// exchangeAuthRefused judges a 454 to ExchangeAuth. The receiver answers
// every failure of its checks alike — the ticket, the hash over the TLS
// session, the identity's permission, its own reverse ticket — so the
// follow-up observations decide, and without them the causes are ranked.
func (j *judgement) exchangeAuthRefused(r smtpreply.Reply) (Verdict, string) {
	o := j.o
	k := o.Kerberos
	client := orUnknown(k)
	computer := strings.Contains(client, "$@") || strings.HasSuffix(client, "$")
	if computer {
		j.add("identity used: %s, a computer account, as Exchange servers authenticate", client)
	} else {
		j.add("identity used: %s, not a computer account: Exchange servers authenticate as SERVER$, and a user has no ms-Exch-SMTP-Submit on the connector", client)
	}
	rs := o.ReverseSPN
	reverseUnknown := rs != nil && rs.KDCError != nil && (rs.KDCError.Code == krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN || rs.KDCError.Code == krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE)
	if reverseUnknown {
		j.add("the KDC answers %s for %s, the SPN the receiving server needs for its reverse ticket", rs.KDCError.Code, rs.SPN)
	} else if rs != nil && rs.TicketObtained {
		j.add("the KDC issues tickets for %s, the SPN of the receiving server's reverse ticket", rs.SPN)
	}
	if f := o.FollowUp; f != nil && f.Offered {
		switch {
		case f.APRep && f.Final != nil && f.Final.Code == 235:
			j.add("a second session with X-EXPS GSSAPI authenticated: the receiving server can decrypt this host's ticket and lets it submit, so ExchangeAuth's own parts failed — its hash over the TLS session, or its reverse ticket")
			if reverseUnknown {
				return VerdictReverseAuthFailed, fmt.Sprintf("%s refused ExchangeAuth because it cannot get its reverse ticket: the KDC does not know %s (%s) — register the sending server's SPN", o.Target, rs.SPN, rs.KDCError.Code)
			}
			if h := j.disabledHolder(k.SPN); h != nil {
				// A disabled account cannot log in: no reverse ticket.
				j.remediation = append(j.remediation, fmt.Sprintf("Enable the receiving server's account %s (`Enable-ADAccount`), then check its secure channel (`Test-ComputerSecureChannel -Repair` on the server).", h.Name))
				j.ownRemediation = true
				return VerdictAuthTemporaryFailure, fmt.Sprintf("%s refused ExchangeAuth although X-EXPS GSSAPI works, and the directory has its account %s disabled: it cannot log in to get its reverse ticket for %s", o.Target, h.Name, rs.spn())
			}
			j.add("candidate causes, most likely first: 1) a TLS-terminating device between the servers (the hash binds the certificate and the keys of the TLS session each end sees); 2) the receiving server cannot get its ticket for %s (its own KDC access or keys)", rs.spn())
			j.remediation = append(j.remediation,
				"Read event 1035 on the receiving server: status LogonDenied means the ExchangeAuth hash did not match — look for a firewall or load balancer that inspects or re-terminates TLS on 25/2525 between the servers and exempt server-to-server SMTP from it.",
				"Status TargetUnknown or a KDC error means the receiving server could not get its reverse ticket for "+rs.spn()+": check that SPN on the sending server's account (`setspn -Q "+rs.spn()+"`) and the receiving server's access to its domain controllers.")
			j.ownRemediation = true
			return VerdictAuthTemporaryFailure, fmt.Sprintf("%s refused ExchangeAuth although X-EXPS GSSAPI works: the hash over the TLS session or the reverse ticket failed", o.Target)
		case f.APRep:
			j.add("a second session with X-EXPS GSSAPI: the receiving server accepted the ticket (its AP-REP verified), then answered %s", replyOr(f.Final))
			return VerdictNoSubmitPermission, fmt.Sprintf("%s accepts %s's Kerberos ticket but does not let it submit (event 1018): not an Exchange server's identity, or the connector's permissions", o.Target, client)
		case f.Final != nil && f.Final.Code == 454:
			j.add("a second session with X-EXPS GSSAPI was refused before any AP-REP: the receiving server cannot use this host's ticket")
			if k.TicketObtained && j.clocks.agree(MaxSkew-resolution) {
				return j.undecryptable("454 4.7.0 to ExchangeAuth and to X-EXPS GSSAPI, with clocks in step")
			}
		case f.Err != nil:
			j.add("a second session with X-EXPS GSSAPI could not tell: %v", f.Err)
		}
	}
	if reverseUnknown {
		j.add("candidate causes, most likely first: 1) the receiving server cannot get its reverse ticket for %s (the KDC does not know it); 2) it cannot decrypt this host's ticket; 3) the identity lacks submit permission", rs.SPN)
		return VerdictReverseAuthFailed, fmt.Sprintf("%s refused ExchangeAuth, and the KDC does not know %s, which the receiving server needs for its reverse ticket: register the sending server's SPN", o.Target, rs.SPN)
	}
	causes := []string{"clocks more than 5 minutes apart", "the receiving server cannot decrypt the ticket (SPN on another account, AD replication)",
		"the identity has no submit permission (not an Exchange server)", "a TLS-terminating device between the servers (hash mismatch)",
		"the receiving server cannot get its reverse ticket for " + o.Options.spn()}
	if !computer {
		causes[0], causes[1], causes[2] = causes[2], causes[0], causes[1]
	}
	var b strings.Builder
	for i, c := range causes {
		fmt.Fprintf(&b, "%s%d) %s", map[bool]string{true: "", false: "; "}[i == 0], i+1, c)
	}
	j.add("candidate causes, most likely first: %s", b.String())
	j.remediation = append(j.remediation, "Read event 1035 on the receiving server: its status names the check that failed — IllegalMessage or another SSPI error (the ticket: clocks, keys, SPN), LogonDenied (the ExchangeAuth hash: a TLS-terminating device), TargetUnknown (its reverse ticket for "+o.Options.spn()+"); event 1018 instead means the identity has no submit permission.")
	return VerdictAuthTemporaryFailure, fmt.Sprintf("%s answered %s to ExchangeAuth and nothing observed singles out one cause", o.Target, r.String())
}

func (c *SPNCheck) spn() string {
	if c == nil {
		return "SMTPSVC/<this host's EHLO name>"
	}
	return c.SPN
}

// spn is this host's own SPN, which ExchangeAuth's reverse ticket is for.
func (o ObservedOptions) spn() string {
	if o.EHLOName == "" {
		return "SMTPSVC/<this host's EHLO name>"
	}
	return "SMTPSVC/" + o.EHLOName
}

func replyOr(r *smtpreply.Reply) string {
	if r == nil {
		return "nothing"
	}
	return r.String()
}

// advertisedName says where the SPN's host name came from, and when the
// server calls itself something else than the name the probe was given.
func (j *judgement) advertisedName() {
	o := j.o
	e := o.EHLOTLS
	if e == nil {
		e = o.EHLO
	}
	if e == nil {
		return // pasted text: no EHLO was seen
	}
	adv := e.Advertised()
	switch {
	case adv == "":
		j.add("the EHLO answer does not start with a host name: Exchange would ask for SMTPSVC/[<address>], which no account holds")
	case !strings.EqualFold(adv, o.Target):
		j.add("the server advertises itself as %s in EHLO, not %s: Exchange asks for SMTPSVC/%s — a receive connector FQDN that differs from the server's own name needs that SPN on the server's account (or the connector's FQDN set back)", adv, o.Target, adv)
	}
	if a := o.Auth; a != nil && a.SPNFrom == "dialled" && adv != "" {
		j.add("the SPN was built from the name dialled, not the advertised one")
	}
}

func (k *KerberosObservation) spnOrEmpty() string {
	if k == nil {
		return ""
	}
	return k.SPN
}

// interrupted judges a probe that was stopped before it had an answer: the
// caller's doing or its own time budget's, never the server's.
func (j *judgement) interrupted(i *Interruption) (Verdict, string) {
	o := j.o
	step := string(i.Step)
	if step == "" {
		step = "the dialogue"
	}
	if i.ByCaller {
		j.add("stopped by its caller during %s", step)
		return VerdictInterrupted, fmt.Sprintf("the probe of %s was interrupted during %s, before the server had answered: nothing is concluded about the server", o.Target, step)
	}
	j.add("the probe's time budget of %s ran out during %s", i.Budget, step)
	return VerdictInterrupted, fmt.Sprintf("the probe's time budget (%s) ran out during %s, before %s had answered: the budget, not the server, ended it — probe again with a longer timeout", i.Budget, step, o.Target)
}

// spnNamesAddress reports whether an SPN's host is an IP address
// ("SMTPSVC/10.0.0.11", "SMTPSVC/[10.0.0.11]", an IPv6 literal).
func spnNamesAddress(spn string) bool {
	_, host, ok := strings.Cut(spn, "/")
	if !ok || host == "" {
		return false
	}
	host = strings.Trim(host, "[]")
	if strings.Contains(host, ":") {
		return true
	}
	return strings.Trim(host, "0123456789.") == "" && strings.Count(host, ".") == 3
}

// noGreeting judges a server that did not greet as SMTP does: silence (a
// web server waits for the client to speak first), a first line that is no
// reply, or a close. The likeliest cause is the wrong port.
func (j *judgement) noGreeting() (Verdict, string) {
	o := j.o
	f := o.Failure
	j.add("banner: %v", f.Err)
	j.remediation = append(j.remediation, fmt.Sprintf("Check that %s is an SMTP port of the server (25 for the Front End Transport service, 2525 for the Transport service on Exchange 2013+): `Test-NetConnection %s -Port <port>` and `Get-ReceiveConnector -Server <SERVER> | fl Identity,Bindings`.", o.Address, o.Target))
	j.ownRemediation = true
	switch f.Kind {
	case FailTimeout:
		within := ""
		if o.Options.StepTimeout > 0 {
			within = " within " + o.Options.StepTimeout.String()
		}
		return VerdictProtocolError, fmt.Sprintf("no SMTP greeting from %s%s — is this an SMTP port? (a web server, for one, waits for the client to speak first)", o.Address, within)
	case FailSyntax, FailLineTooLong:
		return VerdictProtocolError, fmt.Sprintf("the first line from %s is not an SMTP greeting — is this an SMTP port?", o.Address)
	case FailClosed:
		return VerdictProtocolError, fmt.Sprintf("%s closed the connection without an SMTP greeting — is this an SMTP port, or does a firewall reset it?", o.Address)
	}
	return j.protocolError("before the banner")
}
