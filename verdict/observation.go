package verdict

import (
	"slices"
	"strings"
	"time"

	"github.com/exauth/exauth/internal/krberror"

	"github.com/exauth/exauth/internal/smtpreply"
)

// Observation is everything a producer saw, and nothing it concluded. The
// SMTP probe fills it step by step; the explain package fills the parts it
// can recognise in pasted text; Diagnose turns either into a verdict. Fields
// are plain data so that the judgement needs no network and no Kerberos
// library.
type Observation struct {
	Target  string // host name the probe was asked about (SPN and TLS name)
	Address string // address dialled, "" when not dialled
	Options ObservedOptions

	Connect *ConnectObservation
	Banner  *BannerObservation
	EHLO    *EHLOObservation // first EHLO, before TLS
	TLS     *TLSObservation
	EHLOTLS *EHLOObservation // second EHLO, inside TLS
	// Kerberos is the client side: credentials, AS and TGS exchanges.
	Kerberos *KerberosObservation
	Auth     *AuthObservation
	// FollowUp is a second session with X-EXPS GSSAPI after ExchangeAuth
	// was refused: it tells a ticket the receiver cannot use from a
	// refusal after the ticket was accepted.
	FollowUp *FollowUpObservation
	// ReverseSPN is this host's own SPN (SMTPSVC/<EHLO name>) asked of the
	// KDC after ExchangeAuth was refused: the receiver needs a ticket for it.
	ReverseSPN *SPNCheck
	// Failure is the step at which the dialogue stopped early, if any.
	Failure *StepFailure
	// Interrupted is set when the probe did not end by itself: its caller
	// stopped it, or its time budget ran out, before it had an answer.
	Interrupted *Interruption
	// HTTP is the HTTP path between Client Access servers; nil for SMTP.
	HTTP *HTTPObservation
	// Directory is what Active Directory holds about the SPN's holders and
	// the probing identity, read over LDAP; nil when not read.
	Directory *DirectoryObservation
	// Notes are facts recognised in pasted text that have no dialogue step
	// (explain): a KDC event 11, an event 1035, a Kerberos error name.
	Notes *TextObservation

	Transcript []TranscriptLine
	Timings    Timings
}

// ObservedOptions are the probe settings that change what an observation
// means.
type ObservedOptions struct {
	Mech               Mech
	EHLOName           string // the name this host sent in EHLO
	TLS                TLSMode
	SPN                string
	RequireTrustedCert bool
	HasCredentials     bool
	ShowSecrets        bool          // tokens may appear in evidence
	StepTimeout        time.Duration // the bound of each network step
}

// ConnectObservation is the TCP connect.
type ConnectObservation struct {
	Err  error
	Kind ConnectKind
}

// ConnectKind classifies a failed TCP connect.
type ConnectKind string

// Connect failure kinds; the zero value means the connect worked.
const (
	ConnectOK          ConnectKind = ""
	ConnectDNS         ConnectKind = "dns"
	ConnectRefused     ConnectKind = "refused"
	ConnectTimeout     ConnectKind = "timeout"
	ConnectUnreachable ConnectKind = "unreachable"
	ConnectOther       ConnectKind = "other"
)

// BannerObservation is the server's greeting.
type BannerObservation struct {
	Reply smtpreply.Reply
	// Date is the server's own clock as written in an Exchange banner
	// ("... ready at Mon, 23 Nov 2026 12:13:41 +0000"); nil when absent.
	Date *time.Time
	// ReceivedAt is this host's clock when the banner arrived.
	ReceivedAt time.Time
}

// ServerOffset is the receiving server's clock minus this host's clock, from
// the banner date (one-second resolution).
func (b *BannerObservation) ServerOffset() (time.Duration, bool) {
	if b == nil || b.Date == nil {
		return 0, false
	}
	return b.Date.Sub(b.ReceivedAt.Truncate(time.Second)), true
}

// EHLOObservation is one EHLO exchange.
type EHLOObservation struct {
	Reply        smtpreply.Reply
	Capabilities smtpreply.Capabilities
}

// Advertised is the name the server gave for itself in its EHLO answer
// ("hub01.contoso.com Hello [10.0.0.12]"): Exchange builds the SPN
// SMTPSVC/<name> from it, not from the name that was dialled. It is "" when
// the first word is not a host name.
func (e *EHLOObservation) Advertised() string {
	if e == nil || len(e.Reply.Lines) == 0 {
		return ""
	}
	f := strings.Fields(e.Reply.Lines[0])
	if len(f) == 0 || !isHostName(f[0]) {
		return ""
	}
	return f[0]
}

// isHostName reports whether s is a DNS name (not an IP literal): letters,
// digits, hyphens and dots, at least one letter.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") || strings.Contains(s, "..") {
		return false
	}
	letter := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
			letter = true
		case r >= '0' && r <= '9', r == '-', r == '.':
		default:
			return false
		}
	}
	return letter
}

// TLSObservation is the TLS upgrade.
type TLSObservation struct {
	Mode     TLSMode          // TLSAnonymous (X-ANONYMOUSTLS) or TLSStartTLS
	Verb     string           // the command sent
	Reply    *smtpreply.Reply // the answer to the verb
	Err      error            // handshake error
	Version  string           // e.g. "TLS 1.3"
	Cipher   string
	PeerCert *CertObservation
}

// CertObservation is the server's certificate and its verification.
type CertObservation struct {
	Subject  string
	Issuer   string
	DNSNames []string
	// IPAddresses are the subject alternative name's addresses (an
	// internalURL naming a server by address needs one).
	IPAddresses []string
	NotBefore   time.Time
	NotAfter    time.Time
	Trusted     bool   // chains to the trust anchors and matches the host name
	Error       string // why not trusted
}

// SAN is the subject alternative name as people read it: the DNS names,
// then the addresses.
func (c *CertObservation) SAN() string {
	return strings.Join(append(append([]string(nil), c.DNSNames...), c.IPAddresses...), ", ")
}

// KerberosObservation is the client side of Kerberos. The probe copies what
// its Kerberos client saw into plain fields; typed errors stay in Err for
// callers that branch on them.
type KerberosObservation struct {
	Realm  string
	Client string // principal@REALM
	// Credentials says where the client's credentials came from: "keytab
	// /etc/exauth/hub02.keytab (HUB02$@LAB.TEST)", "ccache FILE:/tmp/krb5cc_0",
	// "password for HUB02$ (from the environment's EXAUTH_PASSWORD)".
	Credentials string
	// CredentialsAdvice, when set, is what to do when these credentials
	// are the problem, in their source's own tools (`klist` for a Windows
	// logon session); "" means the general advice (kinit, a keytab).
	CredentialsAdvice string
	SPN               string
	KDC               string // the KDC that answered
	Transport         string // tcp or udp
	EType             int32  // the etype of the service key the ticket is encrypted in; 0 when unknown
	KVNO              *int   // service ticket kvno
	// RequestedETypes are the etypes the client asked the ticket in, most
	// preferred first: a KDC that answers with one it was not asked for
	// first chose it for the service account.
	RequestedETypes []int32
	Err             error

	// CredentialsProblem is set when no usable credentials were found.
	CredentialsProblem string
	// ConfigProblem is set when the Kerberos configuration cannot be used
	// (krb5.conf unreadable or malformed, no KDC for the realm): the
	// probe's own setup, nothing about the servers.
	ConfigProblem string
	// KDCError is the KRB-ERROR a KDC answered, with the exchange (AS or TGS).
	KDCError *KRBError
	// ReferredTo is the realm a KDC referred the SPN to: it lives in a
	// trusted domain or forest, not in the probe's realm.
	ReferredTo *string
	// KDCProtocolError is set when a KDC answered with something that is
	// not a valid reply to the request (not Kerberos, too long, the reply
	// to another request).
	KDCProtocolError string
	// Unreachable lists KDC transports that did not answer.
	Unreachable []KDCAttempt
	// ClockSample pairs the KDC's clock with ours at the same moment.
	ClockSample *ClockSample
	// TicketObtained is true when a service ticket for SPN was issued.
	TicketObtained bool
	// TicketEnd is the service ticket's end time; zero when none was
	// issued.
	TicketEnd time.Time
}

// KRBError is a Kerberos error as observed: its code keeps its meaning.
type KRBError struct {
	Exchange KDCExchange
	Code     krberror.Code // its String is the RFC name, e.g. KDC_ERR_S_PRINCIPAL_UNKNOWN
	Text     string
}

// KDCExchange names the Kerberos exchange an error came from.
type KDCExchange string

// Kerberos exchanges.
const (
	ExchangeUnknown KDCExchange = ""    // e.g. an error name found in pasted text
	ExchangeAS      KDCExchange = "AS"  // the client's login
	ExchangeTGS     KDCExchange = "TGS" // the service ticket
	ExchangeAP      KDCExchange = "AP"  // the receiving server's acceptor
)

// KDCAttempt is one reachability check of a KDC transport.
type KDCAttempt struct {
	Addr      string
	Transport string // tcp or udp
	Result    string // "answered", "refused", "no answer", or an error text
}

// ClockSample is a KDC time reading and this host's time at that moment.
type ClockSample struct {
	KDC    time.Time
	Local  time.Time
	Source string // "KRB-ERROR stime", "ticket starttime", ...
}

// Offset is the KDC's clock minus ours.
func (c *ClockSample) Offset() time.Duration { return c.KDC.Sub(c.Local) }

// AuthObservation is the X-EXPS / AUTH exchange.
type AuthObservation struct {
	Verb       string   // "X-EXPS" or "AUTH"
	Mechanism  string   // "EXCHANGEAUTH" or "GSSAPI"
	Offered    []string // mechanisms the server offered for Verb
	Final      *smtpreply.Reply
	TokenSent  bool // the client's Kerberos token reached the wire
	Mutual     bool // the server's AP-REP was verified
	ServerData bool // the server sent mutual-authentication data at all
	Err        error
	// Why says why this mechanism was chosen, and which one an Exchange
	// 2007+ sender would choose with this server.
	Why string
	// SPNFrom says where the SPN's host name came from: "advertised" (the
	// EHLO answer, as Exchange does), "dialled" or "given" (--spn).
	SPNFrom string
	// Reverse is ExchangeAuth's second leg; nil for GSSAPI.
	Reverse *ReverseObservation
}

// ReverseObservation is ExchangeAuth's second leg: the receiver's ticket
// to the sending server (SMTPSVC/<the sender's EHLO name>) in its 235 blob,
// and the hash over both session keys.
type ReverseObservation struct {
	SPN       string
	Verified  bool   // the token decrypted with the sending account's keys and the hash matched
	Principal string // whom the token came from (the receiving server's account)
	Err       error  // the blob, token or hash did not verify
	// Malformed is set when the 235 blob itself did not parse: the
	// receiver broke the protocol, no key is at fault.
	Malformed bool
	// Skipped says why the leg was not verified: only the sending
	// account's keys (a keytab or a password) can decrypt it.
	Skipped string
}

// FollowUpObservation is a second session with X-EXPS GSSAPI.
type FollowUpObservation struct {
	Offered bool             // the receiver offers X-EXPS GSSAPI
	APRep   bool             // its AP-REP arrived and verified: it accepted the ticket
	Final   *smtpreply.Reply // its last answer
	Err     error            // why the session could not tell
}

// SPNCheck is a ticket request made only to learn whether an SPN exists.
type SPNCheck struct {
	SPN            string
	TicketObtained bool
	KDCError       *KRBError
	Err            error
}

// Interruption says why a probe ended before it had an answer to judge.
type Interruption struct {
	ByCaller bool          // stopped by its caller (Ctrl-C, SIGTERM); else its time budget ran out
	Budget   time.Duration // the probe's whole time budget
	Step     Step          // the step that was running
}

// StepFailure records the step at which the dialogue ended early.
type StepFailure struct {
	Step Step
	Err  error
	Kind FailureKind
}

// Step is a step of the SMTP dialogue.
type Step string

// The dialogue's steps, in the order they run.
const (
	StepConnect  Step = "connect"
	StepBanner   Step = "banner"
	StepEHLO     Step = "ehlo"
	StepTLS      Step = "tls"
	StepEHLOTLS  Step = "ehlo-tls"
	StepKerberos Step = "kerberos"
	StepAuth     Step = "auth"
	StepQuit     Step = "quit"
)

// FailureKind classifies why a step failed.
type FailureKind string

// Failure kinds.
const (
	FailTimeout      FailureKind = "timeout"
	FailClosed       FailureKind = "closed"
	FailSyntax       FailureKind = "syntax"
	FailLineTooLong  FailureKind = "line-too-long"
	FailTooManyLines FailureKind = "too-many-lines"
	FailReply        FailureKind = "reply" // an unexpected reply code
	FailIO           FailureKind = "io"
	FailLocal        FailureKind = "local" // the probe's own configuration
)

// TextObservation holds what explain recognised in free text.
type TextObservation struct {
	Reply   *smtpreply.Reply // the (inner) reply classified
	Outer   *smtpreply.Reply // the sending side's wrapper, when unwrapped
	Phrases []string         // recognised phrases, for evidence
	Facts   []Fact
	// Proxy is the Client Access proxy event's inserts, when one was
	// recognised (FactCASProxyAuth, FactCASProxyCert).
	Proxy *ProxyNote
}

// ProxyNote is what a Client Access server's proxy event names: the
// virtual directory and the target it could not authenticate to.
type ProxyNote struct {
	Service string // "OWA" (MSExchange OWA) or "EWS" (its Exchange Web Services twin)
	// TargetHost is the host of the target's internal URL (or EWS
	// internalHostname) as the event filled it in; "" when the text is the
	// unfilled template (%2) or names no host.
	TargetHost string
}

// Fact is something recognised in pasted text that no dialogue step
// records: an event, a log line, a device's wording.
type Fact string

// Facts explain can recognise.
const (
	FactEvent1035      Fact = "event-1035"      // MSExchangeTransport 1035/2017: ExchangeAuth failed
	FactKDCEvent11     Fact = "kdc-event-11"    // a KDC found a duplicate SPN
	FactLogonDenied    Fact = "logon-denied"    // Exchange's LogonDenied status
	FactTLSFailed      Fact = "tls-failed"      // a TLS failure, or TLS required first
	FactCertUntrusted  Fact = "cert-untrusted"  // a certificate not trusted
	FactVerbsStripped  Fact = "verbs-stripped"  // a firewall's ESMTP inspection
	FactProtocolError  Fact = "protocol-error"  // a Kerberos reply that does not fit
	FactKDCUnreachable Fact = "kdc-unreachable" // no KDC could be reached
	// The sending server's side: it could not get or build its token
	// (event 2017, "Outbound Authentication failed with"), could not start
	// (event 2016), or was refused (event 2003).
	FactEvent2017 Fact = "event-2017"
	FactEvent2016 Fact = "event-2016"
	FactEvent2003 Fact = "event-2003"
	// The receiving server's side beyond event 1035.
	FactEvent1018      Fact = "event-1018"           // valid credentials without submit permission
	FactEvent1012      Fact = "event-1012"           // too many authentication failures on one connection
	FactEvent1034      Fact = "event-1034"           // receive authentication could not start
	FactHashMismatch   Fact = "hash-mismatch"        // inbound ExchangeAuth failed with LogonDenied
	FactReverseUnknown Fact = "reverse-unknown"      // inbound ExchangeAuth failed with TargetUnknown
	FactNoEAPKey       Fact = "no-eap-key"           // TLS1_0NotSupported: the TLS session gave no EAP key
	FactNotTLS         Fact = "exchangeauth-not-tls" // inbound ExchangeAuth outside TLS
	// A Client Access server proxying HTTP to another one (not SMTP):
	// MSExchange OWA event 71 ProxyErrorAuthenticationToCas2Failure and its
	// Exchange Web Services twin (the Kerberos/NTLM authentication between
	// the two failed), and MSExchange OWA event 43 ProxyErrorSslTrustFailure
	// (the target's certificate is not trusted).
	FactCASProxyAuth Fact = "cas-proxy-auth"
	FactCASProxyCert Fact = "cas-proxy-cert"
)

// Has reports whether the text showed fact f.
func (t *TextObservation) Has(f Fact) bool {
	return t != nil && slices.Contains(t.Facts, f)
}

// TranscriptLine is one line on the wire.
type TranscriptLine struct {
	TMillis float64 `json:"t_ms"`
	Dir     string  `json:"dir"` // ">" sent, "<" received
	Line    string  `json:"line"`
	TLS     bool    `json:"tls,omitempty"`
}

// Timings of the probe's phases.
type Timings struct {
	Connect time.Duration
	TLS     time.Duration
	KDC     time.Duration
	Auth    time.Duration
	Total   time.Duration
}
