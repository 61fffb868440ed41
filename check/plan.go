// Package check runs a lab validation plan: many targets, each with the
// verdict it should reach, probed concurrently with shared Kerberos
// credentials, reported as a table, JSON or JUnit XML, and compared with an
// earlier run — the question an administrator asks before and after
// changing SPNs, service accounts, connectors, firewalls or time sources.
package check

import (
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/internal/yamlfile"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// Plan is a lab validation plan (see examples/lab-plan.yaml and
// docs/plan.md).
type Plan struct {
	Name     string   `yaml:"name"`
	Defaults Settings `yaml:"defaults"`
	Targets  []Target `yaml:"targets"`

	source string
}

// CredSSPI is the cred value that selects the Windows logon session.
const CredSSPI = "sspi"

// Settings are probe settings: the plan's defaults, overridable per target.
type Settings struct {
	// Cred is the credential source: "" (a keytab, a password file or a
	// ccache, as the keys below say) or "sspi", the Windows logon session
	// (as SYSTEM, the computer account: the identity Exchange itself uses).
	Cred               string          `yaml:"cred"`
	Krb5Conf           string          `yaml:"krb5_conf"`
	Realm              string          `yaml:"realm"`
	KDC                string          `yaml:"kdc"`
	CCache             string          `yaml:"ccache"`
	Keytab             string          `yaml:"keytab"`
	Principal          string          `yaml:"principal"`
	PasswordFile       string          `yaml:"password_file"`
	Mech               verdict.Mech    `yaml:"mech"`
	TLS                verdict.TLSMode `yaml:"tls"`
	EHLO               string          `yaml:"ehlo"`
	CAFile             string          `yaml:"ca_file"`
	RequireTrustedCert *bool           `yaml:"require_trusted_cert"`
	Timeout            Duration        `yaml:"timeout"`
	// LDAP is auto, off (the default in a plan: a lab rarely has a
	// directory) or a URL, as probe's --ldap.
	LDAP                   string `yaml:"ldap"`
	LDAPInsecureSkipVerify *bool  `yaml:"ldap_insecure_skip_verify"`
	// LDAPEveryProbe reads the directory after a probe that passed too,
	// for the key versions across domain controllers (an exporter's
	// warning key-version-differs); by default only a failure reads it.
	LDAPEveryProbe *bool `yaml:"ldap_every_probe"`
}

// Target is one server pair to check.
type Target struct {
	Name     string `yaml:"name"`     // default: host or scenario
	Host     string `yaml:"host"`     // HOST[:PORT] of a real or fake receive connector
	URL      string `yaml:"url"`      // https://HOST/PATH of a Client Access server (the HTTP path)
	Connect  string `yaml:"connect"`  // dial this instead of HOST
	SPN      string `yaml:"spn"`      // default SMTPSVC/HOST
	Scenario string `yaml:"scenario"` // NAME|FILE: a bundled or written scenario, started in-process
	// Expect is one verdict or a list; for a scenario it defaults to the
	// scenario's own expectation.
	Expect   Verdicts `yaml:"expect"`
	Settings `yaml:",inline"`
}

// Verdicts is "ok" or [ok, cert-untrusted] in YAML.
type Verdicts []verdict.Verdict

// UnmarshalYAML accepts a scalar or a sequence.
func (v *Verdicts) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*v = Verdicts{verdict.Verdict(n.Value)}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		for _, s := range list {
			*v = append(*v, verdict.Verdict(s))
		}
		return nil
	}
	return fmt.Errorf("line %d: expect is a verdict or a list of verdicts", n.Line)
}

// Has reports whether got is one of the expected verdicts.
func (v Verdicts) Has(got verdict.Verdict) bool {
	for _, x := range v {
		if x == got {
			return true
		}
	}
	return false
}

func (v Verdicts) String() string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = string(x)
	}
	return strings.Join(s, "|")
}

// Duration is a YAML duration ("30s").
type Duration time.Duration

// UnmarshalYAML parses "30s", reporting the line of a bad value.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode || v < 0 {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 30s, 2m)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// LoadPlan reads and validates a plan file. Relative paths in it (keytabs,
// scenario files, krb5.conf) are relative to the plan's directory.
func LoadPlan(path string) (*Plan, error) {
	data, err := yamlfile.Read(path)
	if err != nil {
		return nil, err
	}
	return ParsePlan(path, data)
}

// ParsePlan decodes and validates a plan.
func ParsePlan(source string, data []byte) (*Plan, error) {
	var p Plan
	doc, err := yamlfile.Decode(source, data, &p, "a plan")
	if err != nil {
		return nil, err
	}
	p.source = source
	errs := yamlfile.NewErrors(doc)
	p.validate(errs)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	p.resolvePaths(filepath.Dir(source))
	return &p, nil
}

var (
	hostPortRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})(:\d{1,5})?$`)
	nameRE     = regexp.MustCompile(`^[\w.:@/$-]{1,128}$`)
)

func (p *Plan) validate(errs *yamlfile.Errors) {
	p.Defaults.Validate(errs, "defaults")
	if s := p.Defaults; (s.Keytab != "" || s.PasswordFile != "") && s.Principal == "" {
		errs.Add("defaults.principal", "keytab and password_file need a principal")
	}
	if len(p.Targets) == 0 {
		errs.Add("targets", "required: at least one target")
	}
	names := map[string]int{}
	for i := range p.Targets {
		t := &p.Targets[i]
		f := fmt.Sprintf("targets.%d", i)
		kinds := 0
		for _, v := range []string{t.Host, t.URL, t.Scenario} {
			if v != "" {
				kinds++
			}
		}
		switch {
		case kinds == 0:
			errs.Add(f, "a target needs host:, url: or scenario:")
		case kinds > 1 && t.Scenario != "":
			errs.Add(f+".scenario", "a target is either a host, a URL or a scenario, not several")
		case kinds > 1:
			errs.Add(f+".url", "a target is either a host, a URL or a scenario, not several")
		case t.Host != "" && !hostPortRE.MatchString(t.Host):
			errs.Add(f+".host", "not a HOST[:PORT]: %q", t.Host)
		case t.URL != "":
			if _, err := httpprobe.ParseURL(t.URL); err != nil {
				errs.Add(f+".url", "%v", err)
			}
			if t.SPN != "" {
				errs.Add(f+".spn", "a URL target's SPN is HTTP/<its host>")
			}
		}
		if t.Scenario != "" {
			if _, err := scenarios.Lookup(t.Scenario); err != nil && !strings.ContainsRune(t.Scenario, '/') && !strings.HasSuffix(t.Scenario, ".yaml") {
				errs.Add(f+".scenario", "%v", err)
			}
			if t.Connect != "" || t.SPN != "" || t.Settings != (Settings{}) {
				errs.Add(f+".scenario", "a scenario target brings its own connection and credentials; remove connect/spn/credential overrides")
			}
		}
		if t.Scenario == "" && len(t.Expect) == 0 {
			errs.Add(f+".expect", "required for a host target: the verdict it should reach (ok, or a list)")
		}
		for j, v := range t.Expect {
			if !v.Valid() {
				errs.Add(fmt.Sprintf("%s.expect", f), "unknown verdict %q (target %d, entry %d)", v, i, j)
			}
		}
		if t.Name == "" {
			t.Name = t.Host + t.URL + t.Scenario
		}
		if !nameRE.MatchString(t.Name) {
			errs.Add(f+".name", "names are letters, digits and ._:@/$- (got %q)", t.Name)
		}
		if prev, dup := names[t.Name]; dup {
			errs.Add(f+".name", "target name %q is used twice (also target %d); give one a name:", t.Name, prev)
		}
		names[t.Name] = i
		if t.Connect != "" && !hostPortRE.MatchString(t.Connect) {
			errs.Add(f+".connect", "not a HOST[:PORT]: %q", t.Connect)
		}
		t.Settings.Validate(errs, f)
	}
}

// Validate checks settings that sit at the dotted path f of a file (a
// plan's "defaults", a target, an exporter's module), recording each
// problem with its line in errs.
func (s *Settings) Validate(errs *yamlfile.Errors, f string) {
	if !s.Mech.Valid() {
		errs.Add(f+".mech", "unknown value %q (want "+verdict.MechChoices+")", s.Mech)
	}
	if !s.TLS.Valid() {
		errs.Add(f+".tls", "unknown value %q (want auto, anonymous, starttls or none)", s.TLS)
	}
	if s.Keytab != "" && s.PasswordFile != "" {
		errs.Add(f+".password_file", "give a keytab or a password_file, not both")
	}
	switch s.Cred {
	case "":
	case CredSSPI:
		if runtime.GOOS != "windows" {
			errs.Add(f+".cred", "sspi is the Windows logon session, and this is %s: use a keytab, a password_file or a ccache", runtime.GOOS)
		}
		for _, field := range s.Credentials().Given() {
			errs.Add(f+"."+KeyOf[field], "does not apply with cred: sspi, which uses the Windows logon session and its domain")
		}
	default:
		errs.Add(f+".cred", "unknown value %q (want sspi, or leave it out for a keytab, a password_file or a ccache)", s.Cred)
	}
	if time.Duration(s.Timeout) > 10*time.Minute {
		errs.Add(f+".timeout", "more than 10m")
	}
	if _, err := smtpprobe.ParseLDAP(s.LDAP); err != nil {
		errs.Add(f+".ldap", "%v", err)
	}
}

func (p *Plan) resolvePaths(dir string) {
	p.Defaults.ResolvePaths(dir)
	for i := range p.Targets {
		t := &p.Targets[i]
		t.Settings.ResolvePaths(dir)
		if strings.ContainsRune(t.Scenario, '/') || strings.HasSuffix(t.Scenario, ".yaml") {
			if !filepath.IsAbs(t.Scenario) {
				t.Scenario = filepath.Join(dir, t.Scenario)
			}
		}
	}
}

// ResolvePaths makes the settings' relative file paths (krb5.conf, keytab,
// ccache, password file, CA file) relative to dir, the directory of the
// file that names them.
func (s *Settings) ResolvePaths(dir string) {
	for _, p := range []*string{&s.Krb5Conf, &s.Keytab, &s.CCache, &s.PasswordFile, &s.CAFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// merged is the target's settings over the defaults.
func (t *Target) merged(d Settings) Settings {
	s := d
	o := t.Settings
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&s.Cred, o.Cred)
	set(&s.Krb5Conf, o.Krb5Conf)
	set(&s.Realm, o.Realm)
	set(&s.KDC, o.KDC)
	set(&s.CCache, o.CCache)
	set(&s.Keytab, o.Keytab)
	set(&s.Principal, o.Principal)
	set(&s.PasswordFile, o.PasswordFile)
	if o.Mech != "" {
		s.Mech = o.Mech
	}
	if o.TLS != "" {
		s.TLS = o.TLS
	}
	set(&s.EHLO, o.EHLO)
	set(&s.CAFile, o.CAFile)
	if o.RequireTrustedCert != nil {
		s.RequireTrustedCert = o.RequireTrustedCert
	}
	if o.Timeout != 0 {
		s.Timeout = o.Timeout
	}
	set(&s.LDAP, o.LDAP)
	if o.LDAPInsecureSkipVerify != nil {
		s.LDAPInsecureSkipVerify = o.LDAPInsecureSkipVerify
	}
	if o.LDAPEveryProbe != nil {
		s.LDAPEveryProbe = o.LDAPEveryProbe
	}
	return s
}
