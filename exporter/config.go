package exporter

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"github.com/exauth/exauth/check"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/krbclient"
	"github.com/exauth/exauth/internal/sspicred"
	"github.com/exauth/exauth/internal/yamlfile"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
)

// Config is an exporter configuration file (docs/exporter.md): named
// modules, each a set of probe settings with the same keys as a plan's
// defaults (docs/plan.md), so that a module can be copied from a plan.
type Config struct {
	Modules map[string]check.Settings `yaml:"modules"`

	source string
	doc    *yamlfile.Doc
}

var moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// LoadConfig reads and validates a configuration file. Relative paths in
// it (keytabs, krb5.conf, CA files) are relative to the file's directory.
func LoadConfig(path string) (*Config, error) {
	data, err := yamlfile.Read(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig decodes and validates a configuration: unknown keys, bad
// values and modules without a usable shape are errors naming the line.
// It reads no other file; the credentials are read when an Exporter takes
// the configuration.
func ParseConfig(source string, data []byte) (*Config, error) {
	var c Config
	doc, err := yamlfile.Decode(source, data, &c, "an exporter configuration")
	if err != nil {
		return nil, err
	}
	c.source, c.doc = source, doc
	errs := yamlfile.NewErrors(doc)
	if len(c.Modules) == 0 {
		errs.Add("modules", "required: at least one module (a name and its probe settings)")
	}
	for _, name := range c.ModuleNames() {
		s := c.Modules[name]
		f := "modules." + name
		if !moduleNameRE.MatchString(name) {
			errs.Add(f, "module names are letters, digits and ._- (at most 64), starting with a letter or digit (got %q)", name)
		}
		s.Validate(errs, f)
		if (s.Keytab != "" || s.PasswordFile != "") && s.Principal == "" {
			errs.Add(f+".principal", "keytab and password_file need a principal")
		}
		s.ResolvePaths(filepath.Dir(source))
		c.Modules[name] = s
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ModuleNames are the modules' names, sorted.
func (c *Config) ModuleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// kerberosKeep tunes the Kerberos sides an exporter keeps for as long as it
// runs: tickets renewed ten minutes ahead of their end (at most a quarter
// of their life), a failure asked again after ten seconds — long enough
// that one scrape round of many targets costs the KDC one question, short
// enough that the next round sees a fix — and a bounded exchange log.
const (
	renewBefore   = 10 * time.Minute
	retryAfter    = 10 * time.Second
	keepExchanges = 64
)

// module is a configured module with its shared Kerberos side.
type module struct {
	name     string
	settings check.Settings
	kerberos kerberos.Side
}

// modules builds every module's Kerberos side, one per distinct set of
// credential settings, and reads the configuration and credentials now:
// a keytab that cannot be read stops the exporter at start-up (or fails a
// reload), naming the line, rather than turning every probe into
// no-credentials.
func (c *Config) modules(getenv func(string) string, clk clock.Clock) (map[string]*module, error) {
	errs := yamlfile.NewErrors(c.doc)
	shared := map[kerberos.Credentials]*kerberos.Client{}
	var logonSession kerberos.Side // cred: sspi, shared by every module that says so
	out := map[string]*module{}
	for _, name := range c.ModuleNames() {
		s := c.Modules[name]
		if s.Cred == check.CredSSPI {
			if logonSession == nil {
				side, err := sspicred.LogonSession()
				if err != nil {
					errs.Add("modules."+name+".cred", "%v", err)
					continue
				}
				logonSession = side
			}
			out[name] = &module{name: name, settings: s, kerberos: logonSession}
			continue
		}
		cs := s.Credentials()
		k, ok := shared[cs]
		if !ok {
			ks, err := cs.Settings(getenv, clk)
			if err != nil {
				errs.Add(fieldOf("modules."+name, err), "%v", unwrapField(err))
				continue
			}
			ks.RenewBefore, ks.RetryAfter, ks.KeepExchanges = renewBefore, retryAfter, keepExchanges
			k = kerberos.New(ks)
			if err := k.Ready(); err != nil {
				errs.Add(credentialField("modules."+name, s, err), "%v", err)
				continue
			}
			shared[cs] = k
		}
		out[name] = &module{name: name, settings: s, kerberos: k}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// fieldOf is the dotted path of a *smtpprobe.FieldError's field under
// prefix, in the file's own key names.
func fieldOf(prefix string, err error) string {
	var fe *smtpprobe.FieldError
	if errors.As(err, &fe) {
		if key, ok := check.KeyOf[fe.Field]; ok {
			return prefix + "." + key
		}
	}
	return prefix
}

func unwrapField(err error) error {
	var fe *smtpprobe.FieldError
	if errors.As(err, &fe) {
		return fe.Err
	}
	return err
}

// credentialField is the key an error reading a module's Kerberos
// configuration or credentials is about.
func credentialField(prefix string, s check.Settings, err error) string {
	var ce *krbclient.ConfigError
	switch {
	case errors.As(err, &ce) && s.Krb5Conf != "":
		return prefix + ".krb5_conf"
	case s.Keytab != "":
		return prefix + ".keytab"
	case s.PasswordFile != "":
		return prefix + ".password_file"
	case s.CCache != "":
		return prefix + ".ccache"
	}
	return prefix
}

// String names the file, for logs.
func (c *Config) String() string { return fmt.Sprintf("%s (%d modules)", c.source, len(c.Modules)) }
