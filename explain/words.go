package explain

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/smtpreply"
	"github.com/exauth/exauth/verdict"
)

// effect is what a recognised phrase means, as an observation.
type effect struct {
	krb     krberror.Code       // a Kerberos error code (RFC 4120), 0 = none
	connect verdict.ConnectKind // a connect failure kind
	fact    verdict.Fact        // a fact for the diagnosis
	reply   string              // an SMTP reply the words stand for, "454 4.7.0"
	creds   bool                // no usable credentials
	kdcDown bool                // no KDC reachable
}

// rule: any of the phrases (lower case) means the effect. Phrases are
// Exchange's, Windows', MIT's and Heimdal's own wordings, and the
// translations of Exchange's texts in testdata/SOURCES.md.
type rule struct {
	phrases []string
	effect  effect
	name    string
}

var rules = []rule{
	// Kerberos, by name, by Windows status code, by MIT/Heimdal wording.
	{[]string{"krb_ap_err_skew", "clock skew too great", "status_time_difference_at_dc", "0xc0000133", "sec_e_time_skew", "0x80090324", "error_time_skew", "zeitdifferenz zwischen client und server"}, effect{krb: krberror.KRB_AP_ERR_SKEW}, "Kerberos clock skew (KRB_AP_ERR_SKEW)"},
	{[]string{"kdc_err_s_principal_unknown", "server not found in kerberos database", "sec_e_target_unknown", "0x80090303"}, effect{krb: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN}, "KDC does not know the service principal (KDC_ERR_S_PRINCIPAL_UNKNOWN)"},
	// klist get names an unknown SPN with STATUS_NO_TRUST_SAM_ACCOUNT
	// (0xc000018b, Win32 0x6fb), Microsoft's "error message when you can't
	// find the SPN". The same status at logon means a broken machine trust,
	// so only klist's own wording counts, not the status text alone.
	{[]string{"klist failed with 0xc000018b", "getticket substatus): 0x6fb"}, effect{krb: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN}, "klist get: the KDC does not know the SPN (0xc000018b, KDC_ERR_S_PRINCIPAL_UNKNOWN)"},
	{[]string{"kdc_err_principal_not_unique", "principal has multiple entries in kerberos database"}, effect{krb: krberror.KDC_ERR_PRINCIPAL_NOT_UNIQUE}, "principal not unique (KDC_ERR_PRINCIPAL_NOT_UNIQUE)"},
	{[]string{"kdc_err_etype_nosupp", "kdc_err_etype_notsupp", "kdc has no support for encryption type", "sec_e_etype_not_supp", "0x80090341", "did not have a suitable key for generating a kerberos ticket"}, effect{krb: krberror.KDC_ERR_ETYPE_NOSUPP}, "no common encryption type (KDC_ERR_ETYPE_NOSUPP)"},
	{[]string{"krb_ap_err_tkt_nyv", "ticket not yet valid", "the current time on this computer and the current time on the network are different"}, effect{krb: krberror.KRB_AP_ERR_TKT_NYV}, "ticket not yet valid: clocks differ (KRB_AP_ERR_TKT_NYV)"},
	{[]string{"krb_ap_err_bad_integrity"}, effect{krb: krberror.KRB_AP_ERR_BAD_INTEGRITY}, "integrity check failed on decryption (KRB_AP_ERR_BAD_INTEGRITY)"},
	{[]string{"krb_ap_err_modified", "message stream modified", "sec_e_wrong_principal", "0x80090322"}, effect{krb: krberror.KRB_AP_ERR_MODIFIED}, "the server could not decrypt the ticket (KRB_AP_ERR_MODIFIED)"},
	{[]string{"kdc_err_preauth_failed", "preauthentication failed", "pre-authentication failed", "password incorrect while getting initial credentials", "decrypt integrity check failed while getting initial credentials"}, effect{krb: krberror.KDC_ERR_PREAUTH_FAILED}, "the KDC refused the client's key (KDC_ERR_PREAUTH_FAILED)"},
	{[]string{"decrypt integrity check failed"}, effect{krb: krberror.KRB_AP_ERR_BAD_INTEGRITY}, "the ticket did not decrypt with the service key (integrity check failed)"},
	{[]string{"krb_ap_err_badkeyver", "key version number for principal in key table is incorrect", "specified version of key is not available"}, effect{krb: krberror.KRB_AP_ERR_BADKEYVER}, "key version mismatch (KRB_AP_ERR_BADKEYVER)"},
	{[]string{"kdc_err_c_principal_unknown", "client not found in kerberos database"}, effect{krb: krberror.KDC_ERR_C_PRINCIPAL_UNKNOWN}, "KDC does not know the client (KDC_ERR_C_PRINCIPAL_UNKNOWN)"},
	{[]string{"cannot contact any kdc", "cannot find kdc for realm", "status_no_logon_servers", "0xc000005e", "sec_e_no_authenticating_authority", "0x80090311", "there are currently no logon servers available", "unable to reach any kdc"}, effect{kdcDown: true}, "no KDC could be reached"},
	// MIT's "Keytab contains no suitable keys" fails before the KDC is
	// asked (gic_keytab.c): the keytab lacks the principal or a usable key,
	// so nothing about the servers is known yet.
	{[]string{"no credentials cache found", "no kerberos credentials available", "no credentials were supplied", "sec_e_no_credentials", "0x8009030e", "credentials cache keyring", "ticket expired while", "bad format in credentials cache", "no ticket file", "unable to find realm of host", "keytab contains no suitable keys"}, effect{creds: true}, "no usable Kerberos credentials"},
	// Events.
	{[]string{"kdc reply did not match expectations", "krb_ap_err_msg_type", "response too big"}, effect{fact: verdict.FactProtocolError}, "a Kerberos reply that does not fit the request"},
	{[]string{"esmtp inspection", "inspect esmtp", "fixup smtp", "fixup protocol smtp", "smtp inspection", "mailguard"}, effect{fact: verdict.FactVerbsStripped}, "a firewall's SMTP/ESMTP inspection"},
	{[]string{"ds_service_principal_name", "duplicate names while processing a kerberos", "encountered duplicate names", "multiple accounts with name"}, effect{fact: verdict.FactKDCEvent11}, "KDC event 11: duplicate SPN"},
	{[]string{"logondenied"}, effect{fact: verdict.FactLogonDenied}, "authentication refused (LogonDenied)"},
	// TLS.
	{[]string{"must issue a starttls command first", "starttls is required", "tls negotiation failed", "tls is required", "handshake failure", "tls not available", "tls 交涉失敗", "tls ネゴシエーション"}, effect{fact: verdict.FactTLSFailed}, "the TLS upgrade failed or was required"},
	{[]string{"certificate has expired", "certificate is not trusted", "untrusted root", "certificate chain", "x509: certificate signed by unknown authority", "certificatevalidation", "remote certificate is invalid"}, effect{fact: verdict.FactCertUntrusted}, "certificate not trusted"},
	// Connecting.
	{[]string{"socketconnectionrefused", "winsock error code: 10061", "connection refused", "no connection could be made because the target machine actively refused"}, effect{connect: verdict.ConnectRefused}, "connection refused"},
	{[]string{"sockettimedout", "winsock error code: 10060", "failed connection to", "connection timed out", "the remote server did not respond", "failed to connect"}, effect{connect: verdict.ConnectTimeout}, "connection timed out"},
	{[]string{"dns query failed", "non-existent domain", "falha na consulta de dns", "no such host"}, effect{connect: verdict.ConnectDNS}, "DNS lookup failed"},
	{[]string{"unable to connect", "socketerror", "kann keine verbindung herstellen", "impossible de se connecter", "no se puede conectar", "impossibile connettersi", "kan geen verbinding maken", "kan inte ansluta", "não é possível conectar", "接続できません", "无法连接", "無法連線"}, effect{connect: verdict.ConnectOther}, "unable to connect"},
	// Exchange replies quoted without their codes, in several languages.
	{[]string{"temporary authentication failure", "tijdelijke verificatiefout", "tillfälligt autentiseringsfel", "一時的な認証", "临时认证失败", "臨時驗證失敗", "error de autenticación temporal", "błąd uwierzytelniania tymczasowego", "tymczasowy błąd uwierzytelniania", "geçici kimlik doğrulama hatası", "dočasným ověřením", "dočasné selhání ověřování", "כשל אימות זמני"}, effect{reply: "454 4.7.0"}, "Temporary authentication failure (454 4.7.0)"},
	{[]string{"cannot achieve exchange server authentication"}, effect{reply: "451 5.7.3"}, "Cannot achieve Exchange Server authentication (451 5.7.3)"},
	{[]string{"unrecognized authentication type"}, effect{reply: "504 5.7.4"}, "Unrecognized authentication type (504 5.7.4)"},
	{[]string{"client was not authenticated"}, effect{reply: "530 5.7.1"}, "Client was not authenticated (530 5.7.1)"},
	{[]string{"authentication unsuccessful"}, effect{reply: "535 5.7.3"}, "Authentication unsuccessful (535 5.7.3)"},
}

// Kerberos error codes written as numbers: Windows security events
// ("Failure Code: 0x25"), gokrb5 ("KRB Error: (37)"), Heimdal/MIT
// ("krb5_get_init_creds: ... (-1765328347)" is too varied to trust).
var (
	failureCodeRE = regexp.MustCompile(`(?:failure code|error code|result code)\s*[:=]?\s*0x([0-9a-f]{1,2})\b`)
	krbErrorRE    = regexp.MustCompile(`krb error:?\s*\((\d{1,2})\)`)
	// MIT and Heimdal put the principal inside the sentence: MIT "Client
	// 'HUB02$@CONTOSO.COM' not found in Kerberos database" (get_in_tkt.c)
	// and "Server SMTPSVC/hub01@CONTOSO.COM not found in Kerberos database"
	// (gc_via_tkt.c), Heimdal "Client (HUB02$@CONTOSO.COM) unknown" and
	// "Server (...) unknown" (rd_error.c). Heimdal's form needs the
	// parentheses: "server ... unknown" alone is too common a phrase.
	principalRE = regexp.MustCompile(`\b(client|server) (?:'[^'\s]{0,256}'|\([^()\s]{0,256}\)|[^'()\s]{1,256}) (not found in kerberos database|unknown)`)
	// A Client Access proxy event names the target by its internal URL
	// ("https://10.0.0.12/owa"); the host is what the proxying server asks
	// an HTTP SPN for.
	urlHostRE = regexp.MustCompile(`(?i)\bhttps?://(\[[0-9a-f:.]+\]|[a-z0-9][a-z0-9.-]*)`)
	// Event 43 says AllowInternalUntrustedCerts is "0" (quoted in every
	// translation; French quotes leave spaces inside).
	quotedZeroRE = regexp.MustCompile(`"\s?0\s?"`)
	// Event 2017 names the SPN: "The target is SMTPSVC/hub01.contoso.com."
	targetRE = regexp.MustCompile(`(?i)the target is (SMTPSVC/[A-Za-z0-9.-]*[A-Za-z0-9])`)
)

// event1035 recognises MSExchangeTransport event 1035 (and its outbound
// twin 2017) in any language by its language-independent tokens.
func event1035(lower string) bool {
	if !strings.Contains(lower, "exchangeauth") {
		return false
	}
	for _, tok := range []string{"illegalmessage", "unexpectedexchangeauthblob", "inbound authentication failed", "outbound authentication failed", "受信認証"} {
		if strings.Contains(lower, tok) {
			return true
		}
	}
	// Localized texts keep "ExchangeAuth" and "Microsoft Exchange".
	return strings.Contains(lower, "microsoft exchange")
}

// casProxyAuthPhrases are the first sentence of MSExchange OWA event 71
// and its Exchange Web Services twin, as translated (testdata/SOURCES.md):
// enough when a paste holds only that sentence.
var casProxyAuthPhrases = []string{
	"authentication for the connection between the two client access servers failed",
	"authentification de la connexion entre les deux serveurs d",
	"authentifizierung der verbindung zwischen den beiden clientzugriffsservern",
}

// findCASProxy recognises a Client Access server's HTTP proxy events by
// what every translation keeps: the symbolic names, the registry value,
// the cmdlet and setting names, setspn, Kerberos and NTLM. The English,
// French and German first sentences stand in when the paste is shorter.
func (r *recognition) findCASProxy(flat, lower string) {
	has := func(s string) bool { return strings.Contains(lower, s) }
	if has("proxyerrorssltrustfailure") || has("allowinternaluntrustedcerts") && has("ssl") && quotedZeroRE.MatchString(lower) {
		r.fact(verdict.FactCASProxyCert, "MSExchange OWA event 43 (ProxyErrorSslTrustFailure): the target Client Access server's certificate is not trusted, AllowInternalUntrustedCerts is 0")
		r.proxy = &verdict.ProxyNote{Service: "OWA"}
		return
	}
	auth := has("proxyerrorauthenticationtocas2failure") ||
		has("setspn") && has("kerberos") && has("ntlm") && (has("internalurl") || has("internalhostname"))
	for _, p := range casProxyAuthPhrases {
		auth = auth || has(p)
	}
	if !auth {
		return
	}
	p := &verdict.ProxyNote{Service: "OWA"}
	name := "MSExchange OWA event 71 (ProxyErrorAuthenticationToCas2Failure): authentication between two Client Access servers failed"
	for _, ews := range []string{"set-webservicesvirtualdirectory", "internalhostname", "exchange web services", "services web exchange", "exchange-webdienste", "/ews"} {
		if has(ews) {
			p.Service = "EWS"
			name = "the Exchange Web Services twin of MSExchange OWA event 71: authentication between two Client Access servers failed"
			break
		}
	}
	// The inserts in order are the proxying server (%1) and the target
	// (%2, its internal URL); with one URL only, that URL is the target's.
	var hosts []string
	for _, m := range urlHostRE.FindAllStringSubmatch(flat, 20) {
		if h := strings.ToLower(m[1]); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	switch {
	case len(hosts) >= 2:
		p.TargetHost = hosts[1]
	case len(hosts) == 1:
		p.TargetHost = hosts[0]
	}
	r.fact(verdict.FactCASProxyAuth, name)
	r.proxy = p
}

func (r *recognition) findWords(flat, lower string) {
	r.findCASProxy(flat, lower)
	for _, ru := range rules {
		for _, p := range ru.phrases {
			if !strings.Contains(lower, p) {
				continue
			}
			name := ru.name
			if ru.effect.creds {
				name = p // say what was found, not the verdict's words
			}
			r.apply(ru.effect, name)
			break
		}
	}
	hasAny := func(subs ...string) bool {
		for _, x := range subs {
			if strings.Contains(lower, x) {
				return true
			}
		}
		return false
	}
	if !r.hasKrb && hasAny("failure code", "error code", "result code") {
		if m := failureCodeRE.FindStringSubmatch(lower); m != nil {
			if c, err := strconv.ParseInt(m[1], 16, 32); err == nil && c > 0 && c < 100 {
				r.apply(effect{krb: krberror.Code(c)}, "Kerberos failure code 0x"+m[1])
			}
		}
	}
	if !r.hasKrb && hasAny("not found in kerberos database", ") unknown") {
		for _, m := range principalRE.FindAllStringSubmatch(lower, 4) {
			if m[2] == "unknown" && !strings.Contains(m[0], "(") {
				continue
			}
			if m[1] == "client" {
				r.apply(effect{krb: krberror.KDC_ERR_C_PRINCIPAL_UNKNOWN}, "KDC does not know the client (KDC_ERR_C_PRINCIPAL_UNKNOWN)")
			} else {
				r.apply(effect{krb: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN}, "KDC does not know the service principal (KDC_ERR_S_PRINCIPAL_UNKNOWN)")
			}
			break
		}
	}
	if !r.hasKrb && hasAny("krb error") {
		if m := krbErrorRE.FindStringSubmatch(lower); m != nil {
			if c, err := strconv.Atoi(m[1]); err == nil {
				r.apply(effect{krb: krberror.Code(c)}, "Kerberos error ("+m[1]+")")
			}
		}
	}
	// Which side logged it decides whose problem it is: 1035 and the
	// "Inbound" protocol-log lines are the receiving server's, 2017 and
	// "Outbound" the sending server's.
	inbound := hasAny("inbound authentication failed", "inbound exchangeauth negotiation failed", "inbound negotiate failed")
	outbound := hasAny("outbound authentication failed")
	if inbound || (event1035(lower) && !outbound) {
		r.fact(verdict.FactEvent1035, "MSExchangeTransport event 1035 (receiving server): inbound authentication failed")
	}
	if outbound && !hasAny("failed to initialize") {
		r.fact(verdict.FactEvent2017, "MSExchangeTransport event 2017 (sending server): outbound authentication failed")
		if m := targetRE.FindStringSubmatch(flat); m != nil {
			r.spn = m[1]
		}
		if hasAny("targetunknown") {
			r.apply(effect{krb: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN}, "TargetUnknown: the sending server's KDC does not know the SPN")
		}
		if hasAny("timeskew") {
			r.apply(effect{krb: krberror.KRB_AP_ERR_SKEW}, "TimeSkew")
		}
		if hasAny("noauthenticatingauthority") {
			r.apply(effect{kdcDown: true}, "NoAuthenticatingAuthority: no domain controller answered")
		}
	}
	if hasAny("authentication credential initialization error", "failed to initialize with") {
		r.fact(verdict.FactEvent2016, "MSExchangeTransport event 2016 (sending server): authentication could not start")
	}
	if hasAny("tls1_0notsupported") {
		r.fact(verdict.FactNoEAPKey, "TLS1_0NotSupported: no TLS EAP key")
	}
	if hasAny("has failed to authenticate with") {
		r.fact(verdict.FactEvent2003, "MSExchangeTransport event 2003 (sending server): the remote server refused authentication")
	}
	if hasAny("does not have submit permission", "doesn't have submit permission") {
		r.fact(verdict.FactEvent1018, "MSExchangeTransport event 1018: valid credentials without submit permission")
	}
	if hasAny("authentication failures have exceeded the maximum", "too many errors on this connection") {
		r.fact(verdict.FactEvent1012, "MSExchangeTransport event 1012: too many authentication failures")
	}
	if hasAny("inbound authentication initialization failed", "client did not specify hash algorithm") {
		r.fact(verdict.FactEvent1034, "MSExchangeTransport event 1034: receive authentication could not start")
	}
	if inbound && hasAny("exchangeauth") {
		switch {
		case hasAny("because connection is not tls"):
			r.fact(verdict.FactNotTLS, "ExchangeAuth outside TLS")
		case hasAny("targetunknown"):
			r.fact(verdict.FactReverseUnknown, "TargetUnknown in the receiving server's log: its reverse ticket")
		case hasAny("logondenied"):
			r.fact(verdict.FactHashMismatch, "LogonDenied in the receiving server's ExchangeAuth log: the hash")
		}
	}
}

func (r *recognition) apply(e effect, name string) {
	switch {
	case e.krb != 0:
		if !r.hasKrb {
			r.krbCode, r.hasKrb = e.krb, true
			r.phrases = append(r.phrases, name)
		}
	case e.connect != "":
		if r.connect == "" || r.connect == verdict.ConnectOther {
			r.connect = e.connect
			r.phrases = append(r.phrases, name)
		}
	case e.fact != "":
		r.fact(e.fact, name)
	case e.reply != "" && r.inner == nil:
		code, _ := strconv.Atoi(e.reply[:3])
		r.inner = &smtpreply.Reply{Code: code, Enhanced: e.reply[4:], Lines: []string{name}}
		r.phrases = append(r.phrases, name)
	case e.creds:
		if r.creds == "" {
			r.creds = name
			r.phrases = append(r.phrases, name)
		}
	case e.kdcDown:
		r.fact(verdict.FactKDCUnreachable, name)
	}
}

// observation turns the recognition into what a probe would have seen.
func (r *recognition) observation() *verdict.Observation {
	o := &verdict.Observation{
		Target: "the server",
		Notes:  &verdict.TextObservation{Reply: r.inner, Outer: r.outer, Phrases: r.phrases, Proxy: r.proxy},
	}
	for f := range r.facts {
		o.Notes.Facts = append(o.Notes.Facts, f)
	}
	inner := r.inner
	connect := inner != nil && connectReply(*inner)
	if connect && r.connect == "" {
		r.connect = verdict.ConnectOther
	}
	if r.connect != "" && (inner == nil || connect) {
		o.Connect = &verdict.ConnectObservation{Err: errors.New(strings.Join(r.phrases, "; ")), Kind: r.connect}
		o.Address = "the server"
	}
	if len(r.ehlo) > 0 {
		lines := append([]string{"(pasted EHLO)"}, r.ehlo...)
		o.EHLO = &verdict.EHLOObservation{Reply: smtpreply.Reply{Code: 250, Lines: lines}, Capabilities: smtpreply.ParseEHLO(smtpreply.Reply{Code: 250, Lines: lines})}
		if !o.EHLO.Capabilities.Has("X-EXPS") && o.EHLO.Capabilities.Has("AUTH") {
			o.Options.Mech = verdict.MechAUTH
		}
	}
	if r.hasKrb || r.creds != "" || r.facts[verdict.FactKDCUnreachable] || r.spn != "" {
		k := &verdict.KerberosObservation{SPN: r.spn}
		if r.hasKrb {
			k.KDCError = &verdict.KRBError{Code: r.krbCode}
		}
		if r.facts[verdict.FactKDCUnreachable] && !r.hasKrb {
			k.Unreachable = []verdict.KDCAttempt{{Addr: "the KDCs", Transport: "tcp/udp", Result: "could not be contacted"}}
		}
		if r.creds != "" && !r.hasKrb {
			k.CredentialsProblem = r.creds
		}
		o.Kerberos = k
	}
	switch {
	case inner != nil && !connect:
		o.Auth = &verdict.AuthObservation{Mechanism: "GSSAPI", Final: inner, TokenSent: true}
	case r.facts[verdict.FactEvent1035]:
		// Event 1035 is logged exactly when the receiver answers 454 4.7.0.
		o.Auth = &verdict.AuthObservation{Verb: "X-EXPS", Mechanism: "GSSAPI", TokenSent: true,
			Final: &smtpreply.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"Temporary authentication failure (as event 1035 records)"}}}
	case r.facts[verdict.FactEvent2017]:
		// After event 2017 the sending server queues a 454 4.7.0 it made
		// itself: no token reached the receiver.
		o.Auth = &verdict.AuthObservation{Verb: "X-EXPS", Mechanism: "EXCHANGEAUTH",
			Final: &smtpreply.Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"Temporary authentication failure (generated by the sending server, as event 2017 records)"}}}
	}
	return o
}
