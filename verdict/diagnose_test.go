package verdict_test

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/smtpreply"
	"github.com/exauth/exauth/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// observation builds what a probe of hub01 sees up to authentication: the
// banner written by a server clock serverOff from this host, an EHLO with
// caps, and a Kerberos side whose KDC clock is kdcOff from this host.
func observation(serverOff, kdcOff time.Duration, caps ...string) *verdict.Observation {
	banner := t0.Add(serverOff)
	lines := append([]string{"hub01.lab.test Hello [10.0.0.12]"}, caps...)
	ehlo := smtpreply.Reply{Code: 250, Lines: lines}
	kvno := 3
	return &verdict.Observation{
		Target: "hub01.lab.test", Address: "10.0.0.11:25",
		Options: verdict.ObservedOptions{Mech: "auto", TLS: "auto", HasCredentials: true},
		Connect: &verdict.ConnectObservation{},
		Banner: &verdict.BannerObservation{
			Reply: smtpreply.Reply{Code: 220, Lines: []string{"hub01.lab.test Microsoft ESMTP MAIL Service ready at " + banner.Format(time.RFC1123Z)}},
			Date:  &banner, ReceivedAt: t0,
		},
		EHLO: &verdict.EHLOObservation{Reply: ehlo, Capabilities: smtpreply.ParseEHLO(ehlo)},
		Kerberos: &verdict.KerberosObservation{
			Realm: "LAB.TEST", Client: "HUB02$@LAB.TEST", SPN: "SMTPSVC/hub01.lab.test", KDC: "10.0.0.5:88", Transport: "tcp",
			EType: 18, KVNO: &kvno, TicketObtained: true,
			ClockSample: &verdict.ClockSample{KDC: t0.Add(kdcOff), Local: t0, Source: "ticket time of the TGS reply"},
		},
	}
}

func replied(o *verdict.Observation, code int, enh, text string, tokenSent bool) *verdict.Observation {
	o.Auth = &verdict.AuthObservation{Verb: "X-EXPS", Mechanism: "GSSAPI", Offered: []string{"GSSAPI", "NTLM"},
		TokenSent: tokenSent, Final: &smtpreply.Reply{Code: code, Enhanced: enh, Lines: []string{text}}}
	return o
}

func kdcError(o *verdict.Observation, exchange verdict.KDCExchange, code krberror.Code, name string) *verdict.Observation {
	if code != 0 && code.String() != name {
		panic(fmt.Sprintf("code %d is %s, not %s", code, code, name))
	}
	o.Kerberos.TicketObtained, o.Kerberos.KVNO, o.Kerberos.EType = false, nil, 0
	o.Kerberos.KDCError = &verdict.KRBError{Exchange: exchange, Code: code}
	o.Auth = &verdict.AuthObservation{Verb: "X-EXPS", Mechanism: "GSSAPI", Offered: []string{"GSSAPI", "NTLM"}}
	return o
}

var exchangeAuthCaps = []string{"SIZE 37748736", "AUTH NTLM LOGIN", "X-EXPS EXCHANGEAUTH GSSAPI NTLM", "X-EXCHANGEAUTH SHA256"}

// exchangeAuth is a probe that sent X-EXPS EXCHANGEAUTH inside
// X-ANONYMOUSTLS and got code back; reverse, followUp and spn, when given,
// are the second leg and the follow-up observations.
func exchangeAuth(code int, enh, text string, reverse *verdict.ReverseObservation, followUp *verdict.FollowUpObservation, spn *verdict.SPNCheck) *verdict.Observation {
	o := observation(0, 0, "SIZE 37748736", "STARTTLS", "X-ANONYMOUSTLS", "X-EXPS GSSAPI NTLM")
	o.Options.EHLOName = "hub02.lab.test"
	ehlo := smtpreply.Reply{Code: 250, Lines: append([]string{"hub01.lab.test Hello [10.0.0.12]"}, exchangeAuthCaps...)}
	o.TLS = &verdict.TLSObservation{Mode: verdict.TLSAnonymous, Verb: "X-ANONYMOUSTLS", Version: "TLS 1.2", Cipher: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}
	o.EHLOTLS = &verdict.EHLOObservation{Reply: ehlo, Capabilities: smtpreply.ParseEHLO(ehlo)}
	o.Auth = &verdict.AuthObservation{Verb: "X-EXPS", Mechanism: "EXCHANGEAUTH", Offered: []string{"EXCHANGEAUTH", "GSSAPI", "NTLM"}, TokenSent: true,
		Final: &smtpreply.Reply{Code: code, Enhanced: enh, Lines: []string{text}}, SPNFrom: "advertised", Reverse: reverse,
		Why: "offered inside X-ANONYMOUSTLS: what an Exchange 2007+ sender uses"}
	o.FollowUp, o.ReverseSPN = followUp, spn
	return o
}

// casProxy is what explain makes of a Client Access proxy event: no
// session, one fact and the target's host.
func casProxy(f verdict.Fact, service, host string) *verdict.Observation {
	return &verdict.Observation{Target: "the server", Notes: &verdict.TextObservation{
		Phrases: []string{string(f)}, Facts: []verdict.Fact{f},
		Proxy: &verdict.ProxyNote{Service: service, TargetHost: host},
	}}
}

func reply(code int, enh, text string) *smtpreply.Reply {
	return &smtpreply.Reply{Code: code, Enhanced: enh, Lines: []string{text}}
}

var xexps = []string{"SIZE 37748736", "X-ANONYMOUSTLS", "X-EXPS GSSAPI NTLM"}

// TestDiagnose is the verdict table without a network: each observation is
// judged and the whole diagnosis compared with testdata/diagnose/NAME.golden
// (go test -run TestDiagnose -update rewrites them).
func TestDiagnose(t *testing.T) {
	tests := []struct {
		name    string
		obs     *verdict.Observation
		verdict verdict.Verdict
	}{
		{"ok", replied(observation(0, 0, xexps...), 235, "2.7.0", "Authentication successful", true), verdict.VerdictOK},
		{"ok-clock-close-to-limit", replied(observation(3*time.Minute, 0, xexps...), 235, "2.7.0", "Authentication successful", true), verdict.VerdictOK},
		{"server-ahead-of-both", replied(observation(7*time.Minute, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true), verdict.VerdictClockSkew},
		{"split-skew", replied(observation(8*time.Minute, 4*time.Minute, xexps...), 454, "4.7.0", "Temporary authentication failure", true), verdict.VerdictClockSkew},
		{"this-host-off", replied(observation(-9*time.Minute, -9*time.Minute, xexps...), 454, "4.7.0", "Temporary authentication failure", true), verdict.VerdictClockSkew},
		{"skew-does-not-explain-504", replied(observation(6*time.Minute, 0, xexps...), 504, "5.7.4", "Unrecognized authentication type", false), verdict.VerdictExchangeAuthDisabled},
		{"454-clocks-agree", replied(observation(time.Second, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true), verdict.VerdictKeyMismatch},
		{"ap-rep-unverified-then-cancel", func() *verdict.Observation {
			// The server's AP-REP did not verify; this side cancelled, and
			// the 454 answers the cancel, with a KDC clock 7 minutes off
			// that did not matter to a ticket the server had accepted.
			o := replied(observation(0, 7*time.Minute, xexps...), 454, "4.7.0", "Temporary authentication failure", true)
			o.Auth.ServerData, o.Auth.Err = true, errors.New("verifying the server's mutual-authentication token: SEC_E_MUTUAL_AUTH_FAILED")
			return o
		}(), verdict.VerdictKeyMismatch},
		{"454-rc4-ticket-aes-asked", func() *verdict.Observation {
			o := replied(observation(time.Second, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true)
			o.Kerberos.EType, o.Kerberos.RequestedETypes = 23, []int32{18, 17, 23}
			return o
		}(), verdict.VerdictKeyMismatch},
		{"454-rc4-ticket-rc4-asked-first", func() *verdict.Observation {
			o := replied(observation(time.Second, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true)
			o.Kerberos.EType, o.Kerberos.RequestedETypes = 23, []int32{23, 18}
			return o
		}(), verdict.VerdictKeyMismatch},
		{"spn-unknown-directory-no-holder", withDirectory(kdcError(observation(0, 0, xexps...), "TGS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN")), verdict.VerdictSPNMissing},
		{"spn-unknown-directory-two-holders", withDirectory(kdcError(observation(0, 0, xexps...), "TGS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"), hub01Account, oldHubAccount), verdict.VerdictSPNDuplicate},
		{"spn-unknown-directory-one-holder", withDirectory(kdcError(observation(0, 0, xexps...), "TGS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"), hub01Account), verdict.VerdictSPNUnknown},
		{"spn-unknown-directory-unreadable", func() *verdict.Observation {
			o := kdcError(observation(0, 0, xexps...), "TGS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN")
			o.Directory = &verdict.DirectoryObservation{Server: "ldaps://dc1.lab.test", Err: "LDAP Result Code 49 \"Invalid Credentials\""}
			return o
		}(), verdict.VerdictSPNUnknown},
		{"454-directory-wrong-account", withDirectory(replied(observation(time.Second, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true), oldHubAccount), verdict.VerdictKeyMismatch},
		{"454-directory-kvno-not-replicated", func() *verdict.Observation {
			o := withDirectory(replied(observation(time.Second, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true), hub01Account)
			three, four := 3, 4
			o.Directory.KeyVersions = []verdict.DCKeyVersion{{DC: "dc1.lab.test", KeyVersion: &four}, {DC: "dc2.lab.test", KeyVersion: &three}}
			return o
		}(), verdict.VerdictKeyMismatch},
		{"454-directory-own-account", withDirectory(replied(observation(time.Second, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true), hub01Account), verdict.VerdictKeyMismatch},
		{"spn-unknown-directory-disabled-holder", withDirectory(kdcError(observation(0, 0, xexps...), "TGS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"), disabled(hub01Account)), verdict.VerdictSPNUnknown},
		{"etype-nosupp-directory", withDirectory(kdcError(observation(0, 0, xexps...), "TGS", 14, "KDC_ERR_ETYPE_NOSUPP"), hub01Account), verdict.VerdictETypeUnsupported},
		{"exchangeauth-refused-gssapi-works-receiver-disabled", func() *verdict.Observation {
			o := exchangeAuth(454, "4.7.0", "Temporary authentication failure", nil,
				&verdict.FollowUpObservation{Offered: true, APRep: true, Final: reply(235, "2.7.0", "Authentication successful")},
				&verdict.SPNCheck{SPN: "SMTPSVC/hub02.lab.test", TicketObtained: true})
			return withDirectory(o, disabled(hub01Account))
		}(), verdict.VerdictAuthTemporaryFailure},
		{"http-internalurl-ip", &verdict.Observation{
			Target: "10.0.0.5", Address: "10.0.0.5:443", Options: verdict.ObservedOptions{HasCredentials: true},
			Connect: &verdict.ConnectObservation{},
			TLS:     &verdict.TLSObservation{Mode: verdict.TLSHTTPS, Version: "TLS 1.2", PeerCert: &verdict.CertObservation{Subject: "CN=10.0.0.5", Trusted: true}},
			HTTP: &verdict.HTTPObservation{URL: "https://10.0.0.5/owa", Host: "10.0.0.5", HostIsAddress: true,
				Challenge: &verdict.HTTPResponse{Status: 401, Schemes: []string{"Negotiate", "NTLM"}, Server: "Microsoft-IIS/10.0"}},
		}, verdict.VerdictSPNUnknown},
		{"sender-disabled-directory", func() *verdict.Observation {
			o := withDirectory(kdcError(observation(0, 0, xexps...), "AS", 18, "KDC_ERR_CLIENT_REVOKED"), hub01Account)
			no := false
			o.Directory.Sender = &verdict.DirectoryAccount{Name: "HUB02$", DN: "CN=HUB02,CN=Computers,DC=lab,DC=test", Disabled: true, ExchangeServer: &no}
			return o
		}(), verdict.VerdictAuthRejected},
		{"454-no-clock-evidence", func() *verdict.Observation {
			o := replied(observation(0, 0, xexps...), 454, "4.7.0", "Temporary authentication failure", true)
			o.Banner.Date = nil
			return o
		}(), verdict.VerdictAuthTemporaryFailure},
		{"535", replied(observation(0, 0, xexps...), 535, "5.7.3", "Authentication unsuccessful", true), verdict.VerdictAuthRejected},
		{"451-5.7.3", replied(observation(0, 0, xexps...), 451, "5.7.3", "Cannot achieve Exchange Server authentication", false), verdict.VerdictExchangeAuthDisabled},
		{"spn-unknown", kdcError(observation(0, 0, xexps...), "TGS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"), verdict.VerdictSPNUnknown},
		{"realm-unknown", kdcError(observation(0, 0, xexps...), "AS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"), verdict.VerdictNoCredentials},
		{"preauth-failed", kdcError(observation(0, 0, xexps...), "AS", 24, "KDC_ERR_PREAUTH_FAILED"), verdict.VerdictAuthRejected},
		{"client-unknown", kdcError(observation(0, 0, xexps...), "AS", 6, "KDC_ERR_C_PRINCIPAL_UNKNOWN"), verdict.VerdictAuthRejected},
		{"not-unique", kdcError(observation(0, 0, xexps...), "TGS", 8, "KDC_ERR_PRINCIPAL_NOT_UNIQUE"), verdict.VerdictSPNDuplicate},
		{"etype", kdcError(observation(0, 0, xexps...), "TGS", 14, "KDC_ERR_ETYPE_NOSUPP"), verdict.VerdictETypeUnsupported},
		{"client-skew", kdcError(observation(0, 10*time.Minute, xexps...), "AS", 37, "KRB_AP_ERR_SKEW"), verdict.VerdictClockSkew},
		{"kdc-unreachable", func() *verdict.Observation {
			o := observation(0, 0, xexps...)
			o.Kerberos.TicketObtained, o.Kerberos.ClockSample = false, nil
			o.Kerberos.Unreachable = []verdict.KDCAttempt{{Addr: "10.0.0.5:88", Transport: "tcp", Result: "no answer"}, {Addr: "10.0.0.5:88", Transport: "udp", Result: "no answer"}}
			o.Auth = &verdict.AuthObservation{Verb: "X-EXPS", Mechanism: "GSSAPI", Offered: []string{"GSSAPI", "NTLM"}}
			return o
		}(), verdict.VerdictKDCUnreachable},
		{"cross-realm-referral", func() *verdict.Observation {
			o := kdcError(observation(0, 0, xexps...), "TGS", 0, "")
			o.Kerberos.KDCError = nil
			realm := "FABRIKAM.COM"
			o.Kerberos.ReferredTo = &realm
			return o
		}(), verdict.VerdictUnknown},
		{"masked-ehlo", observation(0, 0, "SIZE 37748736", "XXXXXXXA", "XXXXXXXXXXXXXB", "AUTH NTLM"), verdict.VerdictVerbsStripped},
		{"ntlm-only", observation(0, 0, "SIZE 37748736", "X-EXPS NTLM"), verdict.VerdictNTLMOnly},
		{"x-exps-other-mechanism", observation(0, 0, "SIZE 37748736", "X-EXPS EXCHANGEAUTH"), verdict.VerdictUnknown},
		{"no-x-exps", observation(0, 0, "SIZE 37748736", "STARTTLS", "AUTH NTLM"), verdict.VerdictExchangeAuthDisabled},
		{"exchangeauth-ok-reverse-verified", exchangeAuth(235, "", "00000004dG9r00000004AQI=", &verdict.ReverseObservation{SPN: "SMTPSVC/hub02.lab.test", Verified: true, Principal: "HUB01$@LAB.TEST"}, nil, nil), verdict.VerdictOK},
		{"exchangeauth-ok-reverse-skipped", exchangeAuth(235, "", "00000004dG9r00000004AQI=", &verdict.ReverseObservation{SPN: "SMTPSVC/hub02.lab.test", Skipped: "the credentials are a ccache, which holds tickets but not the account's keys"}, nil, nil), verdict.VerdictOK},
		{"exchangeauth-reverse-fails", exchangeAuth(235, "", "00000004dG9r00000004AQI=", &verdict.ReverseObservation{SPN: "SMTPSVC/hub02.lab.test", Err: errors.New("the service ticket does not decrypt with the acceptor's key (KRB_AP_ERR_MODIFIED)")}, nil, nil), verdict.VerdictReverseAuthFailed},
		{"exchangeauth-reverse-malformed", exchangeAuth(235, "", "0000FFFFdG9r", &verdict.ReverseObservation{SPN: "SMTPSVC/hub02.lab.test", Malformed: true, Err: errors.New("exchangeauth: malformed blob: token field: length 65535, only 4 bytes follow")}, nil, nil), verdict.VerdictProtocolError},
		{"exchangeauth-refused-then-gssapi-aprep-refused", exchangeAuth(454, "4.7.0", "Temporary authentication failure", nil,
			&verdict.FollowUpObservation{Offered: true, APRep: true, Final: reply(454, "4.7.0", "Temporary authentication failure")},
			&verdict.SPNCheck{SPN: "SMTPSVC/hub02.lab.test", TicketObtained: true}), verdict.VerdictNoSubmitPermission},
		{"exchangeauth-refused-then-gssapi-refused", exchangeAuth(454, "4.7.0", "Temporary authentication failure", nil,
			&verdict.FollowUpObservation{Offered: true, Final: reply(454, "4.7.0", "Temporary authentication failure")},
			&verdict.SPNCheck{SPN: "SMTPSVC/hub02.lab.test", TicketObtained: true}), verdict.VerdictKeyMismatch},
		{"exchangeauth-refused-gssapi-works-reverse-spn-unknown", exchangeAuth(454, "4.7.0", "Temporary authentication failure", nil,
			&verdict.FollowUpObservation{Offered: true, APRep: true, Final: reply(235, "2.7.0", "Authentication successful")},
			&verdict.SPNCheck{SPN: "SMTPSVC/hub02.lab.test", KDCError: &verdict.KRBError{Exchange: verdict.ExchangeTGS, Code: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN}}), verdict.VerdictReverseAuthFailed},
		{"exchangeauth-refused-gssapi-works", exchangeAuth(454, "4.7.0", "Temporary authentication failure", nil,
			&verdict.FollowUpObservation{Offered: true, APRep: true, Final: reply(235, "2.7.0", "Authentication successful")},
			&verdict.SPNCheck{SPN: "SMTPSVC/hub02.lab.test", TicketObtained: true}), verdict.VerdictAuthTemporaryFailure},
		{"exchangeauth-refused-user-identity", func() *verdict.Observation {
			o := exchangeAuth(454, "4.7.0", "Temporary authentication failure", nil, nil, nil)
			o.Kerberos.Client = "jane@LAB.TEST"
			return o
		}(), verdict.VerdictAuthTemporaryFailure},
		{"spn-is-an-address", func() *verdict.Observation {
			o := kdcError(observation(0, 0, xexps...), "TGS", 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN")
			o.Kerberos.SPN = "SMTPSVC/10.0.0.11"
			return o
		}(), verdict.VerdictSPNUnknown},
		{"cas-proxy-owa71-ip", casProxy(verdict.FactCASProxyAuth, "OWA", "10.0.0.12"), verdict.VerdictSPNUnknown},
		{"cas-proxy-ews71-ipv6", casProxy(verdict.FactCASProxyAuth, "EWS", "[2001:db8::12]"), verdict.VerdictSPNUnknown},
		{"cas-proxy-owa71-hostname", casProxy(verdict.FactCASProxyAuth, "OWA", "cas02.contoso.com"), verdict.VerdictAuthTemporaryFailure},
		{"cas-proxy-ews71-template", casProxy(verdict.FactCASProxyAuth, "EWS", ""), verdict.VerdictAuthTemporaryFailure},
		{"cas-proxy-owa43", casProxy(verdict.FactCASProxyCert, "OWA", ""), verdict.VerdictCertUntrusted},
		{"edge-server", observation(0, 0, "SIZE 37748736", "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS NTLM"), verdict.VerdictEdgeServer},
		{"connect-refused", &verdict.Observation{Target: "hub01.lab.test", Address: "10.0.0.11:25",
			Connect: &verdict.ConnectObservation{Err: errors.New("dial tcp 10.0.0.11:25: connect: connection refused"), Kind: "refused"},
			Failure: &verdict.StepFailure{Step: "connect", Kind: "io", Err: errors.New("connection refused")}}, verdict.VerdictConnectFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := verdict.Diagnose(tt.obs)
			if d.Verdict != tt.verdict {
				t.Errorf("verdict %s, want %s: %s", d.Verdict, tt.verdict, d.Summary)
			}
			if d2 := verdict.Diagnose(tt.obs); fmt.Sprint(d2) != fmt.Sprint(d) {
				t.Error("Diagnose is not a pure function: two calls differ")
			}
			got := render(d)
			path := filepath.Join("testdata", "diagnose", tt.name+".golden")
			if *update {
				os.WriteFile(path, []byte(got), 0o644)
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestDiagnose -update)", err)
			}
			if got != string(want) {
				t.Errorf("diagnosis differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

func render(d verdict.Diagnosis) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict: %s\nseverity: %s\nsummary: %s\n", d.Verdict, d.Severity, d.Summary)
	if len(d.Warnings) > 0 {
		fmt.Fprintf(&b, "warnings: %v\n", d.Warnings)
	}
	for _, e := range d.Evidence {
		fmt.Fprintf(&b, "evidence: %s\n", e)
	}
	for _, r := range d.Remediation {
		fmt.Fprintf(&b, "remediation: %s\n", r)
	}
	return b.String()
}

var (
	hub01Account  = verdict.DirectoryAccount{Name: "HUB01$", DN: "CN=HUB01,CN=Computers,DC=lab,DC=test", DNSHostName: "hub01.lab.test", KeyVersion: intPtr(3)}
	oldHubAccount = verdict.DirectoryAccount{Name: "OLDHUB$", DN: "CN=OLDHUB,CN=Computers,DC=lab,DC=test", DNSHostName: "oldhub.lab.test", KeyVersion: intPtr(2)}
)

func intPtr(i int) *int { return &i }

// withDirectory adds what the directory holds about the SPN: its holders.
func withDirectory(o *verdict.Observation, holders ...verdict.DirectoryAccount) *verdict.Observation {
	o.Directory = &verdict.DirectoryObservation{Server: "ldaps://dc1.lab.test", SPN: o.Kerberos.SPN, Holders: holders}
	return o
}

// TestVerdictsDocumented keeps docs/verdicts.md, the public list of verdict
// IDs, in step with the code.
func TestVerdictsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "verdicts.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range verdict.Verdicts() {
		if !strings.Contains(string(doc), "| `"+string(v)+"` |") {
			t.Errorf("docs/verdicts.md has no table row for %s", v)
		}
	}
}

func disabled(a verdict.DirectoryAccount) verdict.DirectoryAccount {
	a.Disabled = true
	return a
}

// TestDiagnose_Warnings: each thing close to breaking on a session that
// worked makes the ok verdict a warning, named by its stable ID.
func TestDiagnose_Warnings(t *testing.T) {
	rc4 := func(o *verdict.Observation) { o.Kerberos.EType = 23 }
	kvno := func(o *verdict.Observation) {
		withDirectory(o, hub01Account)
		o.Directory.KeyVersions = []verdict.DCKeyVersion{{DC: "dc1.lab.test", KeyVersion: intPtr(3)}, {DC: "dc2.lab.test", KeyVersion: intPtr(2)}}
	}
	sameKVNO := func(o *verdict.Observation) {
		withDirectory(o, hub01Account)
		o.Directory.KeyVersions = []verdict.DCKeyVersion{{DC: "dc1.lab.test", KeyVersion: intPtr(3)}, {DC: "dc2.lab.test", KeyVersion: intPtr(3)}}
	}
	for _, tc := range []struct {
		name         string
		serverOff    time.Duration
		mod          func(*verdict.Observation)
		want         []verdict.Warning
		wantSeverity verdict.Severity
	}{
		{"healthy", 0, nil, []verdict.Warning{}, verdict.SeverityOK},
		{"server 3 minutes ahead", 3 * time.Minute, nil, []verdict.Warning{verdict.WarningClockDrift}, verdict.SeverityWarning},
		{"rc4 ticket", 0, rc4, []verdict.Warning{verdict.WarningRC4}, verdict.SeverityWarning},
		{"key versions differ between DCs", 0, kvno, []verdict.Warning{verdict.WarningKeyVersionDiffers}, verdict.SeverityWarning},
		{"key versions agree", 0, sameKVNO, []verdict.Warning{}, verdict.SeverityOK},
		{"drift and rc4", 3 * time.Minute, rc4, []verdict.Warning{verdict.WarningClockDrift, verdict.WarningRC4}, verdict.SeverityWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := exchangeAuth(235, "", "<authenticated>", &verdict.ReverseObservation{SPN: "SMTPSVC/hub02.lab.test", Skipped: "no keys"}, nil, nil)
			o.Banner.Date = ptrTime(t0.Add(tc.serverOff))
			if tc.mod != nil {
				tc.mod(o)
			}
			d := verdict.Diagnose(o)
			if d.Verdict != verdict.VerdictOK || d.Severity != tc.wantSeverity || !slices.Equal(d.Warnings, tc.want) {
				t.Errorf("got %s/%s %v, want ok/%s %v\n%s", d.Verdict, d.Severity, d.Warnings, tc.wantSeverity, tc.want, render(d))
			}
		})
	}
}

func ptrTime(t time.Time) *time.Time { return &t }

// TestWarningsDocumented keeps docs/verdicts.md's warning IDs in step.
func TestWarningsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "verdicts.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range verdict.Warnings() {
		if !strings.Contains(string(doc), "| `"+string(w)+"` |") {
			t.Errorf("docs/verdicts.md has no table row for warning %s", w)
		}
	}
}
