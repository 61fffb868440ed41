package scenarios

import (
	"crypto/tls"
	"embed"
	"fmt"
	"io/fs"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/internal/enctype"
	"github.com/exauth/exauth/internal/yamlfile"
	"github.com/exauth/exauth/verdict"
)

//go:embed catalogue/*.yaml
var catalogue embed.FS

// LoadError is a scenario that cannot be used: it names the file, the
// field and the line.
type LoadError = yamlfile.Error

// Names lists the bundled scenarios, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(catalogue, "catalogue")
	var names []string
	for _, e := range entries {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// All loads every bundled scenario.
func All() ([]*Scenario, error) {
	var out []*Scenario
	for _, n := range Names() {
		sc, err := Bundled(n)
		if err != nil {
			return nil, err
		}
		out = append(out, sc)
	}
	return out, nil
}

// Bundled loads a bundled scenario by name.
func Bundled(name string) (*Scenario, error) {
	data, err := catalogue.ReadFile("catalogue/" + name + ".yaml")
	if err != nil {
		return nil, fmt.Errorf("no bundled scenario %q (exauth scenarios lists them)", name)
	}
	sc, err := Parse("scenarios/catalogue/"+name+".yaml", data)
	if err == nil && sc.Name != name {
		return nil, &LoadError{Source: sc.source, Field: "name", Msg: fmt.Sprintf("bundled file %s.yaml names itself %q", name, sc.Name)}
	}
	return sc, err
}

// Lookup loads NAME|FILE: a path when it names a file (contains a slash or
// ends in .yaml/.yml), else a bundled name.
func Lookup(nameOrFile string) (*Scenario, error) {
	if strings.ContainsRune(nameOrFile, os.PathSeparator) || strings.HasSuffix(nameOrFile, ".yaml") || strings.HasSuffix(nameOrFile, ".yml") {
		return LoadFile(nameOrFile)
	}
	return Bundled(nameOrFile)
}

// LoadFile loads a user-written scenario file.
func LoadFile(file string) (*Scenario, error) {
	data, err := yamlfile.Read(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, data)
}

// Parse decodes and validates a scenario. Unknown fields, bad durations,
// unknown verdicts and impossible combinations are errors; nothing is
// silently defaulted except what the schema documents as a default.
func Parse(source string, data []byte) (*Scenario, error) {
	var sc Scenario
	doc, err := yamlfile.Decode(source, data, &sc, "a scenario")
	if err != nil {
		return nil, err
	}
	sc.source = source
	v := validator{yamlfile.NewErrors(doc)}
	v.scenario(&sc)
	if err := v.Err(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// validator checks what the schema cannot express.
type validator struct{ *yamlfile.Errors }

func (v *validator) fail(field, format string, args ...any) { v.Add(field, format, args...) }

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	hostRE  = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))+$`)
	realmRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9.-]{0,253}$`)
	spnRE   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*/[A-Za-z0-9.-]+(:\d+)?$`)
	acctRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._$-]{0,63}$`)
)

// maxOffset bounds a clock offset: a skew nobody replays is a typo.
const maxOffset = 48 * time.Hour

func (v *validator) scenario(sc *Scenario) {
	if !nameRE.MatchString(sc.Name) {
		v.fail("name", "required: lower-case letters, digits and hyphens (got %q)", sc.Name)
	}
	if strings.TrimSpace(sc.Description) == "" {
		v.fail("description", "required: one line saying what the scenario replays")
	}
	if sc.Expect == "" {
		v.fail("expect", "required: the verdict a correct probe reaches")
	} else if !verdict.Verdict(sc.Expect).Valid() {
		v.fail("expect", "unknown verdict %q (want one of %s)", sc.Expect, verdictList())
	}
	if sc.IsCAS() {
		v.cas(sc)
	} else {
		v.hub(sc)
	}
	v.kdc(sc)
	v.probe(sc)
	v.combinations(sc)
}

func verdictList() string {
	var s []string
	for _, vd := range verdict.Verdicts() {
		s = append(s, string(vd))
	}
	return strings.Join(s, ", ")
}

func (v *validator) hub(sc *Scenario) {
	h := &sc.Hub
	if !hostRE.MatchString(h.Host) {
		v.fail("hub.host", "required: the receiving server's FQDN, e.g. hub01.lab.test (got %q)", h.Host)
	}
	if strings.ContainsAny(h.Banner, "\r\n") {
		v.fail("hub.banner", "one line, without the 220")
	}
	if abs(h.ClockOffset.D()) > maxOffset {
		v.fail("hub.clock_offset", "%s is more than 48h: not a clock skew anyone replays", h.ClockOffset)
	}
	for i, c := range h.Capabilities {
		if strings.TrimSpace(c) == "" || strings.ContainsAny(c, "\r\n") {
			v.fail(fmt.Sprintf("hub.capabilities.%d", i), "an EHLO keyword line, e.g. \"X-EXPS GSSAPI NTLM\" (got %q)", c)
		}
	}
	for i, m := range h.MaskVerbs {
		if containsFold(h.DropVerbs, m) {
			v.fail(fmt.Sprintf("hub.mask_verbs.%d", i), "%q is both masked and dropped", m)
		}
	}
	if _, ok := roles[strings.ToLower(h.Role)]; h.Role != "" && !ok {
		v.fail("hub.role", "unknown role %q (want %s)", h.Role, roleNames())
	}
	for i, c := range h.CapabilitiesAnonymousTLS {
		if strings.TrimSpace(c) == "" || strings.ContainsAny(c, "\r\n") {
			v.fail(fmt.Sprintf("hub.capabilities_anonymous_tls.%d", i), "an EHLO keyword line, e.g. \"X-EXPS EXCHANGEAUTH GSSAPI NTLM\" (got %q)", c)
		}
	}
	if h.Tarpit.D() < 0 || h.Tarpit.D() > 10*time.Minute {
		v.fail("hub.tarpit", "%s out of range (0 to 10m, as TarpitInterval)", h.Tarpit)
	}
	for field, ver := range map[string]string{"hub.tls.min_version": h.TLS.MinVersion, "hub.tls.max_version": h.TLS.MaxVersion} {
		if _, ok := tlsVersions[ver]; ver != "" && !ok {
			v.fail(field, "unknown TLS version %q (want 1.0, 1.1, 1.2 or 1.3)", ver)
		}
	}
	if lo, hi := tlsVersions[h.TLS.MinVersion], tlsVersions[h.TLS.MaxVersion]; lo != 0 && hi != 0 && lo > hi {
		v.fail("hub.tls.min_version", "%s is above max_version %s", h.TLS.MinVersion, h.TLS.MaxVersion)
	}
	switch h.TLS.Certificate {
	case "", "trusted", "untrusted", "expired", "wrong-name", "none":
	default:
		v.fail("hub.tls.certificate", "unknown value %q (want trusted, untrusted, expired, wrong-name or none)", h.TLS.Certificate)
	}
	for i, m := range h.Mechanisms {
		if !strings.EqualFold(m, "GSSAPI") {
			v.fail(fmt.Sprintf("hub.mechanisms.%d", i), "the acceptor implements GSSAPI only (got %q); list NTLM in capabilities to advertise it", m)
		}
	}
	v.etypes("hub.keytab.etypes", h.Keytab.ETypes)
	if h.Keytab.KVNOBehind < 0 {
		v.fail("hub.keytab.kvno_behind", "must not be negative")
	}
}

// cas checks a Client Access server scenario: a scenario replays one path,
// so it has no hub.
func (v *validator) cas(sc *Scenario) {
	c := sc.CAS
	if !reflect.ValueOf(sc.Hub).IsZero() {
		v.fail("hub", "a scenario has a hub (SMTP) or a cas (HTTP), not both")
	}
	if !hostRE.MatchString(c.Host) {
		v.fail("cas.host", "required: the target Client Access server's FQDN, e.g. cas02.lab.test (got %q)", c.Host)
	}
	if c.Path != "" && !slices.ContainsFunc(casPaths, func(p string) bool { return strings.EqualFold(p, c.Path) }) {
		v.fail("cas.path", "unknown virtual directory %q (want one of %s)", c.Path, strings.Join(casPaths, ", "))
	}
	for i, p := range c.Providers {
		if !slices.Contains(casProviders, p) {
			v.fail(fmt.Sprintf("cas.providers.%d", i), "unknown Windows Authentication provider %q (want Negotiate, NTLM or Negotiate:Kerberos)", p)
		}
	}
	if abs(c.ClockOffset.D()) > maxOffset {
		v.fail("cas.clock_offset", "%s is more than 48h: not a clock skew anyone replays", c.ClockOffset)
	}
	switch c.TLS.Certificate {
	case "", "trusted", "untrusted", "expired", "wrong-name":
	default:
		v.fail("cas.tls.certificate", "unknown value %q (want trusted, untrusted, expired or wrong-name: IIS serves Exchange over HTTPS only)", c.TLS.Certificate)
	}
	v.etypes("cas.keytab.etypes", c.Keytab.ETypes)
	if c.Keytab.KVNOBehind < 0 {
		v.fail("cas.keytab.kvno_behind", "must not be negative")
	}
	for _, f := range []struct {
		field string
		set   bool
	}{{"probe.mech", sc.Probe.Mech != ""}, {"probe.tls", sc.Probe.TLS != ""}, {"probe.require_trusted_cert", sc.Probe.RequireTrustedCert}} {
		if f.set {
			v.fail(f.field, "an SMTP setting, not for a Client Access server (the HTTP probe always requires a trusted certificate)")
		}
	}
}

// casPaths and casProviders are what the fake Client Access server serves
// and advertises.
var (
	casPaths     = fakecas.VirtualDirectories()
	casProviders = []string{string(fakecas.ProviderNegotiate), string(fakecas.ProviderNTLM), string(fakecas.ProviderNegotiateKerberos)}
)

// etypes checks a list of encryption type names.
func (v *validator) etypes(field string, names []string) {
	for j, e := range names {
		if _, ok := enctype.ID(e); !ok {
			v.fail(fmt.Sprintf("%s.%d", field, j), "unknown encryption type %q (want aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 or rc4-hmac)", e)
		}
	}
}

func (v *validator) kdc(sc *Scenario) {
	k := &sc.KDC
	if !realmRE.MatchString(k.Realm) {
		v.fail("kdc.realm", "required: an upper-case realm, e.g. LAB.TEST (got %q)", k.Realm)
	}
	if abs(k.ClockOffset.D()) > maxOffset {
		v.fail("kdc.clock_offset", "%s is more than 48h", k.ClockOffset)
	}
	if len(k.Accounts) == 0 {
		v.fail("kdc.accounts", "required: at least the client account and the receiving hub's account")
	}
	seen := map[string]bool{}
	for i, a := range k.Accounts {
		f := fmt.Sprintf("kdc.accounts.%d", i)
		if !acctRE.MatchString(a.Name) {
			v.fail(f+".name", "required: an account name such as HUB01$ (got %q)", a.Name)
		}
		if seen[strings.ToUpper(a.Name)] {
			v.fail(f+".name", "account %q is listed twice", a.Name)
		}
		seen[strings.ToUpper(a.Name)] = true
		if a.KVNO < 0 || a.KVNO > 1000 {
			v.fail(f+".kvno", "key version %d out of range 1..1000", a.KVNO)
		}
		v.etypes(f+".etypes", a.ETypes)
		if a.ETypesUnset && len(a.ETypes) > 0 && !slices.Contains(a.ETypes, "rc4-hmac") {
			v.fail(f+".etypes_unset", "an account without msDS-SupportedEncryptionTypes gets RC4 tickets: list rc4-hmac in etypes, or leave etypes out")
		}
		for j, s := range a.SPNs {
			if !spnRE.MatchString(s) {
				v.fail(fmt.Sprintf("%s.spns.%d", f, j), "not a service principal name like SMTPSVC/hub01.lab.test: %q", s)
			}
		}
	}
	if k.Client == "" {
		v.fail("kdc.client", "required: the sending hub's account, e.g. HUB02$")
	} else if !seen[strings.ToUpper(k.Client)] {
		v.fail("kdc.client", "account %q is not in kdc.accounts", k.Client)
	}
	v.etypes("kdc.client_etypes", k.ClientETypes)
	switch k.DuplicateSPN {
	case "", "principal-unknown", "not-unique", "wrong-account":
	default:
		v.fail("kdc.duplicate_spn", "unknown value %q (want principal-unknown, not-unique or wrong-account)", k.DuplicateSPN)
	}
	if field, kt := sc.serviceKeytab(); kt.Account != "" && !seen[strings.ToUpper(kt.Account)] {
		v.fail(field+".account", "account %q is not in kdc.accounts", kt.Account)
	}
}

// tlsVersions are the names hub.tls.min_version and max_version take.
var tlsVersions = map[string]uint16{"1.0": tls.VersionTLS10, "1.1": tls.VersionTLS11, "1.2": tls.VersionTLS12, "1.3": tls.VersionTLS13}

func (v *validator) probe(sc *Scenario) {
	if sc.IsCAS() && net.ParseIP(sc.Probe.Host) != nil {
		// an internalURL naming the server by address: what event 71 reports
	} else if sc.Probe.Host != "" && !hostRE.MatchString(sc.Probe.Host) {
		v.fail("probe.host", "a host name, e.g. hub01.lab.test (got %q)", sc.Probe.Host)
	}
	if !verdict.Mech(sc.Probe.Mech).Valid() {
		v.fail("probe.mech", "unknown value %q (want "+verdict.MechChoices+")", sc.Probe.Mech)
	}
	switch sc.Probe.TLS {
	case "", "auto", "anonymous", "starttls", "none":
	default:
		v.fail("probe.tls", "unknown value %q (want auto, anonymous, starttls or none)", sc.Probe.TLS)
	}
	if sc.Probe.Timeout.D() < 0 || sc.Probe.Timeout.D() > 10*time.Minute {
		v.fail("probe.timeout", "%s out of range (0 to 10m)", sc.Probe.Timeout)
	}
}

// combinations rejects settings that cannot happen together.
func (v *validator) combinations(sc *Scenario) {
	h := sc.Hub
	if h.TLS.Certificate == "none" && h.TLS.FailHandshake {
		v.fail("hub.tls.fail_handshake", "a hub without a certificate (certificate: none) offers no TLS to fail")
	}
	if h.TLS.Certificate == "none" && sc.Probe.RequireTrustedCert {
		v.fail("probe.require_trusted_cert", "the hub has no certificate (hub.tls.certificate: none)")
	}
	if sc.Probe.TLS == "none" && (h.TLS.FailHandshake || sc.Probe.RequireTrustedCert) {
		v.fail("probe.tls", "probe.tls none never reaches the TLS behaviour this scenario sets")
	}
	if sc.KDC.DuplicateSPN != "" && !sc.hasDuplicateSPN() {
		v.fail("kdc.duplicate_spn", "set, but no SPN is listed on two accounts")
	}
	if field, kt := sc.serviceKeytab(); kt.KVNOBehind > 0 {
		if acc := sc.serviceAccount(); acc != nil && kt.KVNOBehind >= max(acc.KVNO, 1) {
			v.fail(field+".kvno_behind", "%d versions behind kvno %d leaves no key version", kt.KVNOBehind, max(acc.KVNO, 1))
		}
	}
	if sc.Expect == "ok" && sc.KDC.Reachable != nil && !*sc.KDC.Reachable {
		v.fail("expect", "ok is impossible with kdc.reachable: false")
	}
}

func (sc *Scenario) hasDuplicateSPN() bool {
	seen := map[string]bool{}
	for _, a := range sc.KDC.Accounts {
		for _, s := range a.SPNs {
			k := strings.ToLower(s)
			if seen[k] {
				return true
			}
			seen[k] = true
		}
	}
	return false
}

// serviceKeytab is the target server's keytab settings and their field
// name: the hub's or the Client Access server's.
func (sc *Scenario) serviceKeytab() (field string, kt HubKeytab) {
	if sc.IsCAS() {
		return "cas.keytab", sc.CAS.Keytab
	}
	return "hub.keytab", sc.Hub.Keytab
}

// serviceHost and serviceSPN are the target server's name and the SPN the
// probe asks a ticket for: SMTPSVC/<hub> or HTTP/<cas>.
func (sc *Scenario) serviceHost() string {
	if sc.IsCAS() {
		return strings.ToLower(sc.CAS.Host)
	}
	return strings.ToLower(sc.Hub.Host)
}

func (sc *Scenario) serviceSPN() string {
	if sc.IsCAS() {
		return "HTTP/" + sc.serviceHost()
	}
	return "SMTPSVC/" + sc.serviceHost()
}

// serviceAccount is the account whose keys the target server holds: its
// keytab.account, else the first owner of its SPN, else the account named
// after the host's first label ("HUB01$").
func (sc *Scenario) serviceAccount() *Account {
	_, kt := sc.serviceKeytab()
	want := kt.Account
	host := sc.serviceHost()
	if want == "" {
		spn := strings.ToLower(sc.serviceSPN())
		for i, a := range sc.KDC.Accounts {
			for _, s := range a.SPNs {
				if strings.ToLower(s) == spn {
					return &sc.KDC.Accounts[i]
				}
			}
		}
		want = strings.ToUpper(strings.SplitN(host, ".", 2)[0]) + "$"
	}
	for i, a := range sc.KDC.Accounts {
		if strings.EqualFold(a.Name, want) {
			return &sc.KDC.Accounts[i]
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Validate checks a scenario value (for example one built in Go) with the
// rules a file is loaded with.
func (s *Scenario) Validate() error {
	src := s.source
	if src == "" {
		src = "scenario " + s.Name
	}
	doc, err := yamlfile.DocOf(src, s)
	if err != nil {
		return err
	}
	v := validator{yamlfile.NewErrors(doc)}
	v.scenario(s)
	return v.Err()
}
