package smtpprobe_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// $KRB5_CONFIG is a list, as MIT reads it: the first file is the one used.
func TestKerberos_KRB5ConfigList(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "a.conf")
	if err := os.WriteFile(conf, []byte("[libdefaults]\n default_realm = LAB.TEST\n[realms]\n LAB.TEST = {\n  kdc = 127.0.0.1:1\n }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"KRB5_CONFIG": conf + ":" + filepath.Join(dir, "b.conf")}
	k := kerberos.New(kerberos.Settings{
		Keytab: filepath.Join(dir, "missing.keytab"), Principal: "HUB02$@LAB.TEST",
		Getenv: func(name string) string { return env[name] },
	})
	var obs verdict.KerberosObservation
	if _, err := k.GSSAPIClient(context.Background(), "SMTPSVC/hub01.lab.test", kerberos.UseExchangeAuth, &obs); err == nil {
		t.Fatal("no error with a missing keytab")
	}
	if strings.Contains(obs.CredentialsProblem, "krb5.conf") || !strings.Contains(obs.CredentialsProblem, "missing.keytab") {
		t.Fatalf("credentials problem %q: want the keytab's, not the krb5.conf list's", obs.CredentialsProblem)
	}
}

func TestCredentialSettings_Refusals(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		cs    kerberos.Credentials
		field string
		want  string
	}{
		// An empty password file must not fall back to the user's ccache.
		{"empty password file", kerberos.Credentials{PasswordFile: empty, Principal: "HUB02$"}, "PasswordFile", "is empty"},
		{"missing password file", kerberos.Credentials{PasswordFile: filepath.Join(dir, "none"), Principal: "HUB02$"}, "PasswordFile", "no such file"},
		{"password without principal", kerberos.Credentials{Password: "secret"}, "Principal", "a password needs a principal"},
		{"keytab without principal", kerberos.Credentials{Keytab: "k.keytab"}, "Principal", "a keytab needs a principal"},
		{"keytab and password file", kerberos.Credentials{Keytab: "k.keytab", PasswordFile: empty, Principal: "HUB02$"}, "PasswordFile", "not both"},
		// Found before any network traffic.
		{"mistyped keytab path", kerberos.Credentials{Keytab: filepath.Join(dir, "hub02.keytba"), Principal: "HUB02$"}, "Keytab", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.cs.Settings(nil, nil)
			var fe *smtpprobe.FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want a FieldError on %s containing %q", err, tc.field, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the password leaked into the error: %v", err)
			}
		})
	}
}

func TestSettings_ConfigNamesFields(t *testing.T) {
	_, err := smtpprobe.Settings{Host: "hub01.lab.test", Mech: "ntlm"}.Config(nil, nil)
	var fe *smtpprobe.FieldError
	if !errors.As(err, &fe) || fe.Field != "Mech" || strings.Contains(err.Error(), "--") {
		t.Fatalf("err = %v; want a FieldError on Mech that names no flag", err)
	}
}

// A krb5.conf the probe cannot use is the probe's configuration problem,
// named with its file and line — never "open 88/TCP and 88/UDP".
func TestProbe_BrokenKrb5ConfIsAConfigurationVerdict(t *testing.T) {
	env := scenariotest.Start(t, "healthy")
	dir := t.TempDir()
	for name, body := range map[string]string{
		"garbage":      "\x00\x01\x02 not a krb5.conf",
		"no-bracket":   "[libdefaults\n default_realm = LAB.TEST\n",
		"realm-no-kdc": "[libdefaults]\n default_realm = LAB.TEST\n dns_lookup_kdc = false\n",
	} {
		t.Run(name, func(t *testing.T) {
			conf := filepath.Join(dir, name+".conf")
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := env.Probe
			cfg.Kerberos = kerberos.New(kerberos.Settings{Krb5Conf: conf, Keytab: env.ClientKeytab, Principal: env.Principal})
			r := smtpprobe.Probe(context.Background(), cfg)
			if r.Verdict != verdict.VerdictNoCredentials || !strings.Contains(r.Summary, "Kerberos configuration") || strings.Contains(strings.Join(r.Remediation, " "), "88/TCP") {
				t.Fatalf("verdict %s: %s %q; want no-credentials for the configuration", r.Verdict, r.Summary, r.Remediation)
			}
			if name != "realm-no-kdc" && !strings.Contains(r.Summary, conf) {
				t.Errorf("summary %q does not name %s", r.Summary, conf)
			}
		})
	}
}
