package exporter_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exauth/exauth/exporter"
)

// TestParseConfig_Errors: a configuration an administrator got wrong is
// refused with the file, the line and the key.
func TestParseConfig_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty", "", "exporter.yaml: empty file"},
		{"not a mapping", "- a\n", "exporter.yaml:1: an exporter configuration is a mapping of fields"},
		{"no modules", "modules: {}\n", "exporter.yaml:1: modules: required: at least one module"},
		{"unknown top-level key", "modules:\n  a: {}\nscrape_interval: 30s\n", `exporter.yaml:3: unknown field "scrape_interval"`},
		{"unknown module key", "modules:\n  a:\n    keytab: k\n    principal: P@R\n    prober: smtp\n", `exporter.yaml:5: unknown field "prober"`},
		{"bad mech", "modules:\n  a:\n    mech: telepathy\n", `exporter.yaml:3: modules.a.mech: unknown value "telepathy"`},
		{"bad tls", "modules:\n  a:\n    tls: always\n", `exporter.yaml:3: modules.a.tls: unknown value "always"`},
		{"bad timeout", "modules:\n  a:\n    timeout: soon\n", `exporter.yaml:3: bad duration "soon"`},
		{"keytab without principal", "modules:\n  a:\n    keytab: k\n", "exporter.yaml:2: modules.a.principal: keytab and password_file need a principal"},
		{"bad ldap", "modules:\n  a:\n    ldap: dc1\n", `exporter.yaml:3: modules.a.ldap: "dc1": want auto, off`},
		{"bad module name", "modules:\n  \"a b\": {}\n", `exporter.yaml:2: modules.a b: module names are letters`},
		{"two documents", "modules:\n  a: {}\n---\nmodules:\n  b: {}\n", "exporter.yaml:3: more than one YAML document"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := exporter.ParseConfig("exporter.yaml", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// TestNew_CredentialErrors: credentials are read at start-up, and a module
// whose keytab cannot be read names its line.
func TestNew_CredentialErrors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = LAB.TEST\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, text, want string
	}{
		{"missing keytab", "modules:\n  ok:\n    krb5_conf: krb5.conf\n    password_file: pw\n    principal: A@LAB.TEST\n  bad:\n    krb5_conf: krb5.conf\n    keytab: missing.keytab\n    principal: HUB02$@LAB.TEST\n",
			"exporter.yaml:8: modules.bad.keytab: open " + filepath.Join(dir, "missing.keytab")},
		{"missing password file", "modules:\n  a:\n    krb5_conf: krb5.conf\n    password_file: nope\n    principal: A@LAB.TEST\n",
			"exporter.yaml:4: modules.a.password_file:"},
		{"missing krb5.conf", "modules:\n  a:\n    krb5_conf: nope.conf\n    password_file: pw\n    principal: A@LAB.TEST\n",
			"exporter.yaml:3: modules.a.krb5_conf: krb5.conf " + filepath.Join(dir, "nope.conf")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if tc.name == "missing password file" {
				os.Remove(filepath.Join(dir, "pw"))
			}
			path := filepath.Join(dir, "exporter.yaml")
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := exporter.New(exporter.Options{ConfigFile: path})
			if err == nil || !strings.Contains(err.Error(), strings.Replace(tc.want, "exporter.yaml", path, 1)) {
				t.Errorf("got %v\nwant %q", err, tc.want)
			}
		})
	}
}

// FuzzParseConfig: no input makes the parser panic, and what it accepts
// has at least one module with valid settings.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		"modules:\n  default:\n    keytab: /etc/exauth/hub02.keytab\n    principal: HUB02$@CONTOSO.COM\n    timeout: 20s\n    ldap: auto\n",
		"modules:\n  a: {mech: auth, tls: starttls}\n",
		"modules: {}\n", "", "- x", "modules:\n  a:\n    require_trusted_cert: yes\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := exporter.ParseConfig("fuzz.yaml", data)
		if err != nil {
			return
		}
		if len(c.Modules) == 0 {
			t.Fatalf("accepted a configuration without modules: %q", data)
		}
		for name, s := range c.Modules {
			if !s.Mech.Valid() || !s.TLS.Valid() {
				t.Fatalf("module %q accepted with mech %q, tls %q", name, s.Mech, s.TLS)
			}
		}
	})
}

// TestExampleConfig: the shipped example parses (its keytab paths are for
// a real site, so its credentials are not read here).
func TestExampleConfig(t *testing.T) {
	c, err := exporter.LoadConfig(filepath.Join("..", "examples", "exporter.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.ModuleNames(), ","); got != "cas,default,strict-tls" {
		t.Errorf("modules %s", got)
	}
}
