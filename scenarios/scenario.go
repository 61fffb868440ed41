// Package scenarios is exauth's catalogue of Exchange authentication
// failures — one YAML file per scenario, embedded in the binary — and the
// harness that starts one (a fake KDC and a fake receive connector on
// loopback) for a Go test, `exauth serve` or `exauth probe --scenario`.
//
// A scenario is data: the behaviour of the receiving hub and of the KDC, the
// probe settings it is meant for, and the verdict a correct probe reaches.
// A user-written file with the same schema works wherever a bundled name
// does. The schema is documented in scenarios/SCHEMA.md.
//
// Why YAML, and go.yaml.in/yaml/v3: the files are edited by hand by
// Exchange administrators, who know YAML from other tools and want
// comments; yaml/v3's decoder rejects unknown fields (KnownFields) and its
// node tree carries line numbers, so every loading error can name the file,
// the field and the line. go.yaml.in/yaml/v3 is the YAML organisation's
// maintained continuation of gopkg.in/yaml.v3 (same API), which was archived.
package scenarios

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Scenario is one replayable situation.
type Scenario struct {
	Name        string `yaml:"name" json:"name"`
	Description string `yaml:"description" json:"description"`
	// Expect is the verdict a correct probe reaches.
	Expect string `yaml:"expect" json:"-"`
	// Hub is the receiving Exchange server of an SMTP scenario; CAS the
	// target Client Access server of an HTTP one. A scenario has one.
	Hub   Hub   `yaml:"hub" json:"hub,omitempty"`
	CAS   *CAS  `yaml:"cas" json:"cas,omitempty"`
	KDC   KDC   `yaml:"kdc" json:"kdc,omitempty"`
	Probe Probe `yaml:"probe" json:"probe,omitempty"`
	// Evidence is a fragment the probe's evidence or summary must contain
	// (the catalogue test checks it).
	Evidence string `yaml:"evidence" json:"evidence_fragment,omitempty"`
	// Logs are what the real systems show for this failure.
	Logs Logs `yaml:"logs" json:"logs,omitempty"`

	// source is where the scenario came from, for error messages.
	source string
}

// MarshalJSON adds the source to the JSON form, and writes the expected
// verdict as a list, as lab plans and check results do.
func (s *Scenario) MarshalJSON() ([]byte, error) {
	type plain Scenario
	return json.Marshal(struct {
		*plain
		Expect []string `json:"expect"`
		Source string   `json:"source"`
	}{(*plain)(s), []string{s.Expect}, s.source})
}

// Hub is the receiving Exchange server's behaviour.
type Hub struct {
	Host string `yaml:"host" json:"host,omitempty"`
	// Role is the kind of server: hub (the default: Exchange 2013-2019),
	// frontend, hub-2010, edge or exchange-2003. It chooses the EHLO lists.
	Role string `yaml:"role" json:"role,omitempty"`
	// Banner replaces Exchange's greeting (Set-ReceiveConnector -Banner),
	// which hides the server's date from the probe.
	Banner string `yaml:"banner" json:"banner,omitempty"`
	// ClockOffset is the hub's clock against the probing host ("7m").
	ClockOffset Duration `yaml:"clock_offset" json:"clock_offset,omitempty"`
	// Capabilities is the EHLO list before TLS; empty means the role's.
	Capabilities []string `yaml:"capabilities" json:"capabilities,omitempty"`
	// CapabilitiesAnonymousTLS is the EHLO list inside X-ANONYMOUSTLS;
	// empty derives it as an Exchange hub does.
	CapabilitiesAnonymousTLS []string `yaml:"capabilities_anonymous_tls" json:"capabilities_anonymous_tls,omitempty"`
	// Tarpit delays a failed X-EXPS before its 454 (the connector's
	// TarpitInterval; Exchange's default is 5s, scenarios use none).
	Tarpit Duration `yaml:"tarpit" json:"tarpit,omitempty"`
	// ExchangeAuth are ExchangeAuth faults that are not the KDC's or the
	// keys'.
	ExchangeAuth HubExchangeAuth `yaml:"exchange_auth" json:"exchange_auth,omitempty"`
	MaskVerbs    []string        `yaml:"mask_verbs" json:"mask_verbs,omitempty"` // ESMTP inspection (XXXXXXXA)
	DropVerbs    []string        `yaml:"drop_verbs" json:"drop_verbs,omitempty"`
	TLS          HubTLS          `yaml:"tls" json:"tls,omitempty"`
	// Mechanisms are what the acceptor takes ("GSSAPI"); empty means GSSAPI.
	Mechanisms []string  `yaml:"mechanisms" json:"mechanisms,omitempty"`
	Keytab     HubKeytab `yaml:"keytab" json:"keytab,omitempty"`
}

// HubTLS is the hub's TLS behaviour.
type HubTLS struct {
	// Certificate: "trusted" (issued by the scenario CA the probe is given),
	// "untrusted" (issued by another CA), "expired", "wrong-name", "none".
	Certificate   string `yaml:"certificate" json:"certificate,omitempty"`
	FailHandshake bool   `yaml:"fail_handshake" json:"fail_handshake,omitempty"`
	// MinVersion and MaxVersion ("1.0" ... "1.3") bound what the hub
	// negotiates: a server with only TLS 1.0 enabled, say.
	MinVersion string `yaml:"min_version" json:"min_version,omitempty"`
	MaxVersion string `yaml:"max_version" json:"max_version,omitempty"`
}

// HubExchangeAuth switches on the receiver's ExchangeAuth faults.
type HubExchangeAuth struct {
	// HashMismatch: the client's hash does not match the receiver's TLS
	// session, as behind a TLS-terminating device (LogonDenied).
	HashMismatch bool `yaml:"hash_mismatch" json:"hash_mismatch,omitempty"`
	// NoSubmitPermission: the client authenticates but is not allowed to
	// submit (not an Exchange server; event 1018).
	NoSubmitPermission bool `yaml:"no_submit_permission" json:"no_submit_permission,omitempty"`
	// BadReplyHash and CorruptReply spoil the receiver's 235 blob.
	BadReplyHash bool `yaml:"bad_reply_hash" json:"bad_reply_hash,omitempty"`
	CorruptReply bool `yaml:"corrupt_reply" json:"corrupt_reply,omitempty"`
}

// HubKeytab is the service keytab the hub holds.
type HubKeytab struct {
	// Account whose keys the hub holds; default the owner of SMTPSVC/<host>.
	Account string `yaml:"account" json:"account,omitempty"`
	// KVNOBehind makes the hub hold keys that many password changes behind
	// the KDC (a password change not replicated, a stale keytab).
	KVNOBehind int `yaml:"kvno_behind" json:"kvno_behind,omitempty"`
	// ETypes keeps only the keys of these types (a server with RC4
	// disabled, a keytab exported for AES only); default every type the
	// account has.
	ETypes []string `yaml:"etypes" json:"etypes,omitempty"`
}

// CAS is the target Client Access server's behaviour: CAS 2, to which the
// proxying CAS 1 (the probe) sends an OWA or EWS request and authenticates
// with Negotiate/Kerberos for HTTP/<host>.
type CAS struct {
	Host string `yaml:"host" json:"host"`
	// Path is the virtual directory the proxying server requests; default
	// /owa.
	Path string `yaml:"path" json:"path,omitempty"`
	// Providers are IIS's Windows Authentication providers in order
	// (Negotiate, NTLM, Negotiate:Kerberos); default Negotiate, NTLM.
	Providers []string `yaml:"providers" json:"providers,omitempty"`
	// ClockOffset is the server's clock against the probing host; its
	// Date header shows it.
	ClockOffset Duration `yaml:"clock_offset" json:"clock_offset,omitempty"`
	TLS         CASTLS   `yaml:"tls" json:"tls,omitempty"`
	// Keytab is the server's keys, as for a hub; the default account is
	// the owner of HTTP/<host>, else the one named after the host.
	Keytab HubKeytab `yaml:"keytab" json:"keytab,omitempty"`
}

// CASTLS is the Client Access server's certificate.
type CASTLS struct {
	// Certificate: "trusted" (issued by the scenario CA), "untrusted",
	// "expired" or "wrong-name".
	Certificate string `yaml:"certificate" json:"certificate,omitempty"`
}

// IsCAS reports whether the scenario replays the HTTP path between Client
// Access servers rather than SMTP between transport servers.
func (s *Scenario) IsCAS() bool { return s.CAS != nil }

// KDC is the domain controller's behaviour.
type KDC struct {
	Realm       string    `yaml:"realm" json:"realm,omitempty"`
	ClockOffset Duration  `yaml:"clock_offset" json:"clock_offset,omitempty"`
	Accounts    []Account `yaml:"accounts" json:"accounts,omitempty"`
	// Client is the probing host's account (the sending hub), e.g. "HUB02$".
	Client string `yaml:"client" json:"client,omitempty"`
	// DuplicateSPN: principal-unknown (as Windows, with event 11),
	// not-unique, wrong-account.
	DuplicateSPN string `yaml:"duplicate_spn" json:"duplicate_spn,omitempty"`
	// ClientETypes are the types the probe's krb5.conf requests and
	// permits, most preferred first; default AES256 and AES128.
	ClientETypes []string `yaml:"client_etypes" json:"client_etypes,omitempty"`
	// Reachable false closes 88/TCP and 88/UDP.
	Reachable *bool `yaml:"reachable" json:"reachable,omitempty"`
	SilentUDP bool  `yaml:"silent_udp" json:"silent_udp,omitempty"`
}

// Account is a directory account. Passwords are never in files: every run
// generates random ones.
type Account struct {
	Name   string   `yaml:"name" json:"name"`
	KVNO   int      `yaml:"kvno" json:"kvno,omitempty"`
	ETypes []string `yaml:"etypes" json:"etypes,omitempty"`
	// ETypesUnset: the account has no msDS-SupportedEncryptionTypes, and
	// the KDC issues its service tickets in RC4, as Active Directory does.
	ETypesUnset bool     `yaml:"etypes_unset" json:"etypes_unset,omitempty"`
	SPNs        []string `yaml:"spns" json:"spns,omitempty"`
}

// Probe is the probe settings the scenario is meant for.
type Probe struct {
	// Host is the name the probe is given, when it is not hub.host: the
	// server's own name while its connector advertises another; for a CAS
	// scenario, the host of the internalURL (an IP address, say).
	Host               string   `yaml:"host" json:"host,omitempty"`
	Mech               string   `yaml:"mech" json:"mech,omitempty"`
	TLS                string   `yaml:"tls" json:"tls,omitempty"`
	RequireTrustedCert bool     `yaml:"require_trusted_cert" json:"require_trusted_cert,omitempty"`
	Timeout            Duration `yaml:"timeout" json:"timeout,omitempty"`
}

// Logs are what the systems involved would show, for people reading
// `exauth scenarios --json`.
type Logs struct {
	// Hub: SMTP receive protocol-log lines and event texts of the receiver.
	Hub []string `yaml:"hub" json:"hub,omitempty"`
	// KDC: domain controller events.
	KDC []string `yaml:"kdc" json:"kdc,omitempty"`
	// Sender: the sending server's events and send protocol-log lines
	// (a sender that gets no ticket logs event 2017 and sends nothing);
	// for a CAS scenario, the proxying Client Access server's events
	// (MSExchange OWA 71 and 43, the Exchange Web Services twin of 71).
	Sender []string `yaml:"sender" json:"sender,omitempty"`
	// CAS: the target Client Access server's IIS (W3C) log lines.
	CAS []string `yaml:"cas" json:"cas,omitempty"`
	// Queue: the "Last error" the sending server's queue shows.
	Queue string `yaml:"queue" json:"queue,omitempty"`
}

// Duration is a time.Duration written as "7m", "-10m", "90s".
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalYAML parses "7m", reporting the line of a bad value.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 7m, -10m, 90s)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Source is the file or bundled name the scenario came from.
func (s *Scenario) Source() string { return s.source }
