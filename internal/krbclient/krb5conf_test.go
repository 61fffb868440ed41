package krbclient

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"
)

func writeConf(t *testing.T, dir, name string, body []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, body, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// What gokrb5's parser skips silently is a configuration error naming the
// file and the line, never a configuration without KDCs that would later
// look like a firewall.
func TestLoadKrb5Conf_Refusals(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body, want string
	}{
		{"binary", "\x7fELF\x02\x01\x01\x00\x00\x00", "is not a text file"},
		{"header without bracket", "[libdefaults\n default_realm = LAB.TEST\n", "bracket.conf:1: section header \"[libdefaults\" has no closing ]"},
		{"text before a section", "default_realm = LAB.TEST\n[libdefaults]\n", "before.conf:1:"},
		{"relative include", "include other.conf\n[libdefaults]\n", "include needs an absolute path"},
		{"missing include", "include /nonexistent/krb5.conf\n[libdefaults]\n", "/nonexistent/krb5.conf does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := map[string]string{"header without bracket": "bracket.conf", "text before a section": "before.conf"}[tc.name]
			if file == "" {
				file = strings.ReplaceAll(tc.name, " ", "-") + ".conf"
			}
			_, err := LoadKrb5Conf(writeConf(t, dir, file, []byte(tc.body)))
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want a ConfigError containing %q", err, tc.want)
			}
		})
	}
}

// include and includedir work as MIT's: the realm's KDC can live in an
// included file; includedir takes plain names and *.conf, not backups.
func TestLoadKrb5Conf_Includes(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "krb5.conf.d")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	writeConf(t, sub, "realms.conf", []byte("[realms]\n LAB.TEST = {\n  kdc = dc1.lab.test\n }\n"))
	writeConf(t, sub, "backup.conf~", []byte("garbage before any section\n"))
	writeConf(t, sub, ".hidden", []byte("garbage before any section\n"))
	extra := writeConf(t, dir, "extra.conf", []byte("[domain_realm]\n .lab.test = LAB.TEST\n"))
	main := writeConf(t, dir, "krb5.conf", []byte("includedir "+sub+"\ninclude "+extra+"\n[libdefaults]\n default_realm = LAB.TEST\n"))
	c, err := LoadKrb5Conf(main)
	if err != nil {
		t.Fatal(err)
	}
	if got := realmKDCs(c, "LAB.TEST"); len(got) != 1 || got[0] != "dc1.lab.test:88" {
		t.Errorf("kdcs %v, want [dc1.lab.test] from the included directory", got)
	}
	if c.LibDefaults.DefaultRealm != "LAB.TEST" || !c.LibDefaults.DNSLookupKDC {
		t.Errorf("default_realm %q, dns_lookup_kdc %v; want LAB.TEST and MIT's default true", c.LibDefaults.DefaultRealm, c.LibDefaults.DNSLookupKDC)
	}
	loop := filepath.Join(dir, "loop.conf")
	writeConf(t, dir, "loop.conf", []byte("include "+loop+"\n[libdefaults]\n"))
	if _, err := LoadKrb5Conf(loop); err == nil || !strings.Contains(err.Error(), "included twice") {
		t.Errorf("include loop: %v", err)
	}
}

func TestLoadKrb5Conf_DNSLookupAndEncodings(t *testing.T) {
	dir := t.TempDir()
	off := writeConf(t, dir, "off.conf", []byte("[libdefaults]\n default_realm = LAB.TEST\n dns_lookup_kdc = false\n"))
	if c, err := LoadKrb5Conf(off); err != nil || c.LibDefaults.DNSLookupKDC {
		t.Errorf("explicit dns_lookup_kdc = false: %v, %v", c.LibDefaults.DNSLookupKDC, err)
	}
	// krb5.ini saved by Notepad (UTF-8 BOM) or PowerShell (UTF-16LE).
	text := "[libdefaults]\r\n default_realm = LAB.TEST\r\n"
	var le []byte
	le = append(le, 0xFF, 0xFE)
	for _, u := range utf16.Encode([]rune(text)) {
		le = append(le, byte(u), byte(u>>8))
	}
	for name, body := range map[string][]byte{"bom.conf": append([]byte{0xEF, 0xBB, 0xBF}, text...), "utf16.conf": le} {
		c, err := LoadKrb5Conf(writeConf(t, dir, name, body))
		if err != nil || c.LibDefaults.DefaultRealm != "LAB.TEST" {
			t.Errorf("%s: %v", name, err)
		}
	}
}
