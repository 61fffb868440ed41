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
	"fmt"
	"time"
)

// Scenario is one replayable situation.
type Scenario struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// Expect is the verdict a correct probe reaches.
	Expect string `yaml:"expect"`
	Hub    Hub    `yaml:"hub"`
	KDC    KDC    `yaml:"kdc"`
	Probe  Probe  `yaml:"probe"`
	// Evidence is a fragment the probe's evidence or summary must contain
	// (the catalogue test checks it).
	Evidence string `yaml:"evidence"`
	// Logs are what the real systems show for this failure.
	Logs Logs `yaml:"logs"`

	// source is where the scenario came from, for error messages.
	source string
}

// Hub is the receiving Exchange server's behaviour.
type Hub struct {
	Host string `yaml:"host"`
	// ClockOffset is the hub's clock against the probing host ("7m").
	ClockOffset Duration `yaml:"clock_offset"`
	// Capabilities is the EHLO list before TLS; empty means Exchange's
	// defaults.
	Capabilities []string `yaml:"capabilities"`
	MaskVerbs    []string `yaml:"mask_verbs"` // ESMTP inspection (XXXXXXXA)
	DropVerbs    []string `yaml:"drop_verbs"`
	TLS          HubTLS   `yaml:"tls"`
	// Mechanisms are what the acceptor takes ("GSSAPI"); empty means GSSAPI.
	Mechanisms []string  `yaml:"mechanisms"`
	Keytab     HubKeytab `yaml:"keytab"`
}

// HubTLS is the hub's TLS behaviour.
type HubTLS struct {
	// Certificate: "trusted" (issued by the scenario CA the probe is given),
	// "untrusted" (issued by another CA), "expired", "wrong-name", "none".
	Certificate   string `yaml:"certificate"`
	FailHandshake bool   `yaml:"fail_handshake"`
}

// HubKeytab is the service keytab the hub holds.
type HubKeytab struct {
	// Account whose keys the hub holds; default the owner of SMTPSVC/<host>.
	Account string `yaml:"account"`
	// KVNOBehind makes the hub hold keys that many password changes behind
	// the KDC (a password change not replicated, a stale keytab).
	KVNOBehind int `yaml:"kvno_behind"`
}

// KDC is the domain controller's behaviour.
type KDC struct {
	Realm       string    `yaml:"realm"`
	ClockOffset Duration  `yaml:"clock_offset"`
	Accounts    []Account `yaml:"accounts"`
	// Client is the probing host's account (the sending hub), e.g. "HUB02$".
	Client string `yaml:"client"`
	// DuplicateSPN: principal-unknown (as Windows, with event 11),
	// not-unique, wrong-account.
	DuplicateSPN string `yaml:"duplicate_spn"`
	// Reachable false closes 88/TCP and 88/UDP.
	Reachable *bool `yaml:"reachable"`
	SilentUDP bool  `yaml:"silent_udp"`
}

// Account is a directory account. Passwords are never in files: every run
// generates random ones.
type Account struct {
	Name   string   `yaml:"name"`
	KVNO   int      `yaml:"kvno"`
	ETypes []string `yaml:"etypes"`
	SPNs   []string `yaml:"spns"`
}

// Probe is the probe settings the scenario is meant for.
type Probe struct {
	Mech               string   `yaml:"mech"`
	TLS                string   `yaml:"tls"`
	RequireTrustedCert bool     `yaml:"require_trusted_cert"`
	Timeout            Duration `yaml:"timeout"`
}

// Logs are what the systems involved would show, for people reading
// `exauth scenarios --json`.
type Logs struct {
	// Hub: SMTP receive protocol-log lines and event texts of the receiver.
	Hub []string `yaml:"hub"`
	// KDC: domain controller events.
	KDC []string `yaml:"kdc"`
	// Queue: the "Last error" the sending server's queue shows.
	Queue string `yaml:"queue"`
}

// Duration is a time.Duration written as "7m", "-10m", "90s".
type Duration time.Duration

// D returns the duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats the duration.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses "7m".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q (want e.g. 7m, -10m, 90s)", b)
	}
	*d = Duration(v)
	return nil
}

// Source is the file or bundled name the scenario came from.
func (s *Scenario) Source() string { return s.source }
