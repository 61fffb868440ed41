package main

import (
	"strings"
	"testing"
)

func TestCredentialSource_Precedence(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags credentialFlags
		pwEnv string
		goos  string
		want  string // a source, or "error: <part of the message>"
	}{
		{"windows default is the logon session", credentialFlags{}, "", "windows", credSSPI},
		{"unix default is the ccache", credentialFlags{}, "", "linux", credCCache},
		{"a keytab beats the logon session", credentialFlags{keytab: "k", princ: "p"}, "", "windows", credKeytab},
		{"a password file beats the logon session", credentialFlags{passwordFile: "f", princ: "p"}, "", "windows", credPassword},
		{"EXAUTH_PASSWORD beats the logon session", credentialFlags{princ: "p"}, "pw", "windows", credPassword},
		{"--ccache beats EXAUTH_PASSWORD", credentialFlags{ccache: "c"}, "pw", "linux", credCCache},
		{"--ccache on windows", credentialFlags{ccache: "c"}, "", "windows", credCCache},
		{"explicit sspi", credentialFlags{cred: credSSPI}, "pw", "windows", credSSPI},
		{"sspi off windows", credentialFlags{cred: credSSPI}, "", "linux", "error: only on Windows"},
		{"sspi with a keytab", credentialFlags{cred: credSSPI, keytab: "k"}, "", "windows", "error: --keytab does not apply"},
		{"keytab without a file", credentialFlags{cred: credKeytab}, "", "windows", "error: needs --keytab"},
		{"password without one", credentialFlags{cred: credPassword, princ: "p"}, "", "windows", "error: needs --password-file"},
		{"explicit ccache on windows", credentialFlags{cred: credCCache}, "pw", "windows", credCCache},
		{"unknown source", credentialFlags{cred: "kerberos"}, "", "linux", "error: want sspi, keytab, ccache or password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := env{goos: tc.goos, getenv: func(k string) string {
				if k == "EXAUTH_PASSWORD" {
					return tc.pwEnv
				}
				return ""
			}}
			got, err := tc.flags.source(e)
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("source %q, err %v; want an error with %q", got, err, want)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("source %q, err %v; want %s", got, err, tc.want)
			}
		})
	}
}

// --cred ccache and --cred sspi keep a password in the environment out.
func TestCredentialSettings_ExplicitSourceIgnoresEnvironmentPassword(t *testing.T) {
	e := env{getenv: func(k string) string { return map[string]string{"EXAUTH_PASSWORD": "pw"}[k] }}
	if cs := (credentialFlags{cred: credCCache, princ: "p"}).settings(e); cs.Password != "" {
		t.Errorf("--cred ccache took EXAUTH_PASSWORD")
	}
	if cs := (credentialFlags{princ: "p"}).settings(e); cs.Password != "pw" {
		t.Errorf("the default did not take EXAUTH_PASSWORD")
	}
}
