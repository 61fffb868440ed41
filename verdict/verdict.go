package verdict

// Verdict is a diagnosis's stable ID: part of exauth's public interface
// (docs/verdicts.md), shared by probe, explain, scenarios and check.
type Verdict string

// The verdicts of docs/verdicts.md.
const (
	VerdictOK                   Verdict = "ok"
	VerdictCertUntrusted        Verdict = "cert-untrusted"
	VerdictClockSkew            Verdict = "clock-skew"
	VerdictSPNUnknown           Verdict = "spn-unknown"
	VerdictSPNMissing           Verdict = "spn-missing"
	VerdictSPNDuplicate         Verdict = "spn-duplicate"
	VerdictKeyMismatch          Verdict = "key-mismatch"
	VerdictETypeUnsupported     Verdict = "etype-unsupported"
	VerdictKDCUnreachable       Verdict = "kdc-unreachable"
	VerdictExchangeAuthDisabled Verdict = "exchange-auth-disabled"
	VerdictVerbsStripped        Verdict = "verbs-stripped"
	VerdictNTLMOnly             Verdict = "ntlm-only"
	VerdictTLSFailed            Verdict = "tls-failed"
	VerdictAuthTemporaryFailure Verdict = "auth-temporary-failure"
	VerdictAuthRejected         Verdict = "auth-rejected"
	VerdictNoCredentials        Verdict = "no-credentials"
	VerdictConnectFailed        Verdict = "connect-failed"
	VerdictProtocolError        Verdict = "protocol-error"
	VerdictReverseAuthFailed    Verdict = "reverse-auth-failed"
	VerdictNoSubmitPermission   Verdict = "no-submit-permission"
	VerdictEdgeServer           Verdict = "edge-server"
	VerdictInterrupted          Verdict = "interrupted"
	VerdictUnknown              Verdict = "unknown"
)

// Severity is the monitoring-plugin state of a report.
type Severity string

// Severities, in the order of their exit codes.
const (
	SeverityOK       Severity = "ok"
	SeverityWarning  Severity = "warning"
	SeverityCritical Severity = "critical"
	SeverityUnknown  Severity = "unknown"
)

// ExitCode follows the Nagios/Icinga plugin convention.
func (s Severity) ExitCode() int {
	switch s {
	case SeverityOK:
		return 0
	case SeverityWarning:
		return 1
	case SeverityCritical:
		return 2
	default:
		return 3
	}
}

// verdictInfo is the one verdict table: what each verdict means, how severe
// it is, and what an administrator does about it. Remediation specific to
// what was observed is added by the rules in diagnose.go.
type verdictInfo struct {
	severity    Severity
	remediation []string
}

var verdictTable = map[Verdict]verdictInfo{
	VerdictOK: {SeverityOK, nil},
	VerdictCertUntrusted: {SeverityCritical, []string{
		"Install a certificate on the receiving server whose subject or SAN is the server's FQDN, issued by a CA the sender trusts (Get-ExchangeCertificate; Enable-ExchangeCertificate -Services SMTP).",
		"Or give the probe the issuing CA with --ca-file.",
	}},
	VerdictClockSkew: {SeverityCritical, []string{
		"Synchronise the clocks to within 5 minutes (KB 979174): on the server that is off run `w32tm /resync /rediscover`; check the domain time hierarchy with `w32tm /monitor` and `w32tm /query /status`.",
		"Make the PDC emulator sync from a reliable external source: `w32tm /config /manualpeerlist:<ntp> /syncfromflags:manual /reliable:yes /update`.",
	}},
	VerdictSPNUnknown: {SeverityCritical, []string{
		"Check who owns the SPN: `setspn -Q SMTPSVC/<server FQDN>`; list the server's SPNs: `setspn -L <SERVER>`.",
		"If missing, register it on the receiving server's computer account: `setspn -S SMTPSVC/<server FQDN> <SERVER>` (and SMTPSVC/<short name>).",
		"Windows KDCs also answer a duplicated SPN this way (and log KDC event 11): find duplicates with `setspn -X -F` and remove the stray one with `setspn -D`.",
		"Force Active Directory replication so every DC knows the change: `repadmin /syncall /AdeP`.",
	}},
	VerdictSPNMissing: {SeverityCritical, []string{
		"Register the SPN on the receiving server's computer account: `setspn -S SMTPSVC/<server FQDN> <SERVER>` (and SMTPSVC/<short name>), then replicate: `repadmin /syncall /AdeP`.",
	}},
	VerdictSPNDuplicate: {SeverityCritical, []string{
		"Find the duplicates: `setspn -X -F` and `setspn -Q SMTPSVC/<server FQDN>`.",
		"Remove the SPN from the account that is not the receiving server's computer account: `setspn -D SMTPSVC/<server FQDN> <WRONGACCOUNT>`.",
		"Force replication (`repadmin /syncall /AdeP`) and purge the sending server's cached tickets: `klist -li 0x3e7 purge` (SYSTEM) and `klist -li 0x3e4 purge` (NETWORK SERVICE, which runs the transport service).",
	}},
	VerdictKeyMismatch: {SeverityCritical, []string{
		"Check that SMTPSVC/<server FQDN> is on the receiving server's own computer account: `setspn -Q SMTPSVC/<server FQDN>` (an SPN on another account makes the KDC encrypt with that account's key).",
		"If the computer account password changed recently, force AD replication (`repadmin /syncall /AdeP`) and compare msDS-KeyVersionNumber on every DC; reset the secure channel if needed: `Test-ComputerSecureChannel -Repair`.",
		"On the sending server purge cached tickets — `klist -li 0x3e7 purge` (SYSTEM) and `klist -li 0x3e4 purge` (NETWORK SERVICE, which runs the transport service) — then retry the queue (`Retry-Queue`).",
	}},
	VerdictETypeUnsupported: {SeverityCritical, []string{
		"Compare msDS-SupportedEncryptionTypes on the receiving server's computer account with the encryption types the sender allows (GPO \"Network security: Configure encryption types allowed for Kerberos\").",
		"Enable AES (0x18) on the account or re-enable RC4 where policy still needs it, then reset the account's keys (reboot or `Test-ComputerSecureChannel -Repair`) so keys of that type exist.",
	}},
	VerdictKDCUnreachable: {SeverityCritical, []string{
		"Open Kerberos between the sending server and its domain controllers: 88/TCP and 88/UDP (KB 979174); test with `Test-NetConnection <DC> -Port 88`.",
		"Check the DC locator: `nltest /dsgetdc:<domain> /kdc` and the _kerberos._tcp SRV records.",
	}},
	VerdictExchangeAuthDisabled: {SeverityCritical, []string{
		"Find the connector that receives server-to-server mail — `Get-ReceiveConnector -Server <SERVER> | fl Identity,Bindings,AuthMechanism,PermissionGroups` (Exchange 2013+: \"Default <SERVER>\" on port 2525 of the Transport service; \"Default Frontend <SERVER>\" on 25) — and add ExchangeServer to its existing AuthMechanism list and ExchangeServers to its PermissionGroups; -AuthMechanism replaces the whole list, so repeat the mechanisms it already has.",
		"If the connector has it enabled, a firewall between the servers may be stripping ESMTP verbs: disable ESMTP/SMTP inspection (Cisco: `no fixup smtp` / `no inspect esmtp`).",
	}},
	VerdictVerbsStripped: {SeverityCritical, []string{
		"Disable SMTP/ESMTP inspection on the firewall between the servers (Cisco ASA: `no inspect esmtp` in the global policy; PIX: `no fixup protocol smtp 25`).",
		"Confirm from the sending server with `telnet <server> 25` and `EHLO`: no `XXXXXXXA`-style lines should appear.",
	}},
	VerdictNTLMOnly: {SeverityCritical, []string{
		"Check the receive connector's AuthMechanism includes ExchangeServer and that the server can use Kerberos (its SMTPSVC SPN exists: `setspn -L <SERVER>`).",
		"Servers in different forests or without a trust fall back to NTLM; use a send/receive connector pair with TLS and externally secured authentication instead.",
	}},
	VerdictTLSFailed: {SeverityCritical, []string{
		"Check the receiving server's SMTP certificate (`Get-ExchangeCertificate | fl Services,NotAfter,Subject`) and that TLS 1.2 is enabled on both servers (SCHANNEL registry settings).",
		"Check for a middlebox that intercepts or blocks TLS on port 25.",
	}},
	VerdictAuthTemporaryFailure: {SeverityCritical, []string{
		"KB 979174 causes, most likely first: clocks more than 5 minutes apart (`w32tm /monitor`); Active Directory replication (`repadmin /replsummary`); SMTPSVC SPN missing or duplicated (`setspn -Q SMTPSVC/<server FQDN>`, `setspn -X -F`); Kerberos 88/TCP+UDP blocked to the DCs.",
		"Read event 1035 (MSExchangeTransport) on the receiving server for the mechanism and source IP.",
	}},
	VerdictAuthRejected: {SeverityCritical, []string{
		"Check that the sending server's account is a member of Exchange Servers and the connector's PermissionGroups include ExchangeServers.",
	}},
	VerdictNoCredentials: {SeverityUnknown, []string{
		"Give the probe credentials: on a Windows server, run exauth.exe in a logon session with Kerberos tickets (`--cred sspi`; as SYSTEM, e.g. `psexec -s`, it is the computer account; `klist` shows the session's tickets); elsewhere `kinit` (with KRB5CCNAME=FILE:/tmp/krb5cc_exauth), or --keytab FILE --principal NAME, or --password-file FILE --principal NAME.",
	}},
	VerdictConnectFailed: {SeverityCritical, []string{
		"Check DNS and the route to the server on port 25 (`Test-NetConnection <server> -Port 25`), and that the Microsoft Exchange Transport service is running.",
	}},
	VerdictProtocolError: {SeverityCritical, []string{
		"Something between the servers, or the server itself, does not speak SMTP correctly: capture the session (`--verbose`) and check for proxies, load balancers or inspection devices on port 25.",
	}},
	VerdictReverseAuthFailed: {SeverityCritical, []string{
		"ExchangeAuth is mutual through a reverse ticket: the receiving server asks its KDC for SMTPSVC/<sending server's EHLO name> and the sending server must decrypt it. Check that SPN on the sending server's computer account: `setspn -L <SENDER>`; register it if missing: `setspn -S SMTPSVC/<sender FQDN> <SENDER>`.",
		"The EHLO name is the send connector's FQDN when one is set (Get-SendConnector | fl Name,Fqdn): it must be a name whose SMTPSVC SPN is on the sending server's account, or empty.",
		"If the SPN is right, the sending server's keys differ from the KDC's (a password change not replicated): `repadmin /syncall /AdeP`, `Test-ComputerSecureChannel -Repair` on the sending server, then `klist -li 0x3e7 purge`.",
	}},
	VerdictNoSubmitPermission: {SeverityCritical, []string{
		"The identity authenticated, but the receive connector does not let it submit (ms-Exch-SMTP-Submit; event 1018 on the receiving server). Probe as the sending Exchange server's computer account (its keytab, or SYSTEM on that server), not as a user.",
		"If it is an Exchange server's account: check it is in the Exchange Servers group (`Get-ADComputer <SENDER> -Properties MemberOf`) and that the connector's PermissionGroups include ExchangeServers (`Get-ReceiveConnector | fl Identity,PermissionGroups`).",
	}},
	VerdictEdgeServer: {SeverityUnknown, []string{
		"Edge Transport servers do not use Kerberos: the organization trusts them through EdgeSync and their certificates. Check the subscription (`Test-EdgeSynchronization`) and the Edge's certificate instead, or probe a Mailbox server.",
	}},
	VerdictInterrupted: {SeverityUnknown, []string{
		"The probe was stopped before the server had answered; nothing was concluded about the server. Run it again (with a longer --timeout if the budget ran out).",
	}},
	VerdictUnknown: {SeverityUnknown, nil},
}

// Verdicts lists every verdict ID, in the order of docs/verdicts.md.
func Verdicts() []Verdict {
	return []Verdict{VerdictOK, VerdictCertUntrusted, VerdictClockSkew, VerdictSPNUnknown, VerdictSPNMissing,
		VerdictSPNDuplicate, VerdictKeyMismatch, VerdictETypeUnsupported, VerdictKDCUnreachable,
		VerdictExchangeAuthDisabled, VerdictVerbsStripped, VerdictNTLMOnly, VerdictTLSFailed,
		VerdictAuthTemporaryFailure, VerdictAuthRejected, VerdictNoCredentials, VerdictConnectFailed,
		VerdictProtocolError, VerdictReverseAuthFailed, VerdictNoSubmitPermission, VerdictEdgeServer, VerdictInterrupted, VerdictUnknown}
}

// Valid reports whether v is one of the verdicts of docs/verdicts.md.
func (v Verdict) Valid() bool {
	_, ok := verdictTable[v]
	return ok
}

// Severity is the verdict's default severity (ok may be raised to warning).
func (v Verdict) Severity() Severity {
	if i, ok := verdictTable[v]; ok {
		return i.severity
	}
	return SeverityUnknown
}
