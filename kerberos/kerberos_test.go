package kerberos_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exauth/exauth/internal/fielderr"
	"github.com/exauth/exauth/kerberos"
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

func TestCredentials_Refusals(t *testing.T) {
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
			var fe *fielderr.Error
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want a FieldError on %s containing %q", err, tc.field, tc.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("the password leaked into the error: %v", err)
			}
		})
	}
}
