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
			cfg.Kerberos = kerberos.New(kerberos.Settings{Krb5Conf: conf, Keytab: env.StateFiles(t).ClientKeytab, Principal: env.Principal})
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
