package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exauth/exauth/directory"
)

// Every mistake on the spn command line is refused before any network
// traffic, with exit 3, the command's name and, with --json, one JSON
// object; no password ever appears.
func TestSPN_UsageErrors(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-bind-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no SPN", []string{"spn"}, "want one SPN"},
		{"two SPNs", []string{"spn", "SMTPSVC/a", "SMTPSVC/b"}, `unexpected argument "SMTPSVC/b"`},
		{"SPN and duplicates", []string{"spn", "--duplicates", "SMTPSVC/a"}, "not both"},
		{"empty classes", []string{"spn", "--duplicates", "--class", " , "}, "--class"},
		{"bad bind", []string{"spn", "--bind", "ntlm", "--ldap", "ldaps://dc1", "SMTPSVC/a"}, `--bind "ntlm"`},
		{"simple over ldap", []string{"spn", "--bind", "simple", "--bind-dn", "CN=r", "--bind-password-file", pwFile, "--ldap", "ldap://dc1", "SMTPSVC/a"}, "refused over ldap://dc1:389, use ldaps://"},
		{"simple without DN", []string{"spn", "--bind", "simple", "--bind-password-file", pwFile, "--ldap", "ldaps://dc1", "SMTPSVC/a"}, "--bind-dn"},
		{"simple and insecure", []string{"spn", "--bind", "simple", "--bind-dn", "CN=r", "--bind-password-file", pwFile, "--insecure-skip-verify", "--ldap", "ldaps://dc1", "SMTPSVC/a"}, "--ca-file"},
		{"missing password file", []string{"spn", "--bind", "simple", "--bind-dn", "CN=r", "--bind-password-file", filepath.Join(dir, "none"), "--ldap", "ldaps://dc1", "SMTPSVC/a"}, "--bind-password-file"},
		{"bind-dn with kerberos", []string{"spn", "--bind-dn", "CN=r", "--ldap", "ldaps://dc1", "SMTPSVC/a"}, "--bind simple"},
		{"bad URL", []string{"spn", "--ldap", "http://dc1", "--keytab", pwFile, "--principal", "HUB02$@LAB.TEST", "SMTPSVC/a"}, "ldap:// or ldaps://"},
		{"keytab without principal", []string{"spn", "--ldap", "ldaps://dc1", "--keytab", pwFile, "SMTPSVC/a"}, "--principal"},
		{"sspi off Windows", []string{"spn", "--cred", "sspi", "--ldap", "ldaps://dc1", "SMTPSVC/a"}, "--cred sspi: the Windows logon session's credentials (SSPI) exist only on Windows"},
		{"bad timeout", []string{"spn", "--timeout", "0s", "SMTPSVC/a"}, "want more than zero"},
		{"bad CA file", []string{"spn", "--ca-file", filepath.Join(dir, "none"), "--ldap", "ldaps://dc1", "SMTPSVC/a"}, "--ca-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, code := runCmd(t, "", tt.args...)
			if code != 3 || !strings.Contains(stderr, "exauth spn") || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want 3 and %q", code, stderr, tt.want)
			}
			stdout, stderr2, code := runCmd(t, "", append(tt.args, "--json")...)
			var obj struct {
				Command  string `json:"command"`
				Error    string `json:"error"`
				ExitCode int    `json:"exit_code"`
			}
			if err := json.Unmarshal([]byte(stdout), &obj); err != nil || obj.Command != "spn" || obj.ExitCode != 3 || code != 3 {
				t.Errorf("--json: exit %d, stdout %q (%v)", code, stdout, err)
			}
			if strings.Contains(stderr+stdout+stderr2, "s3cret-bind-pw") {
				t.Error("the bind password appears in the output")
			}
		})
	}
}

func TestSPN_Help(t *testing.T) {
	stdout, stderr, code := runCmd(t, "", "spn", "-h")
	if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage: exauth spn") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	for _, flag := range []string{"-ldap", "-base", "-bind", "-bind-dn", "-bind-password-file", "-ca-file", "-timeout", "-json", "-duplicates", "-class", "-keytab", "-principal"} {
		if !strings.Contains(stdout, flag) {
			t.Errorf("help does not list %s", flag)
		}
	}
	if stdout, _, _ := runCmd(t, "", "help"); !strings.Contains(stdout, "exauth spn") {
		t.Error("the command list does not name spn")
	}
}

func TestSPN_HolderStatus(t *testing.T) {
	for _, tt := range []struct {
		n      int
		status string
		code   int
	}{{0, "missing", 2}, {1, "ok", 0}, {2, "duplicated", 2}, {5, "duplicated", 2}} {
		if s, c := spnHolderStatus(tt.n); s != tt.status || c != tt.code {
			t.Errorf("%d holders: %s/%d, want %s/%d", tt.n, s, c, tt.status, tt.code)
		}
	}
}

func TestSPN_WriteAccount(t *testing.T) {
	kvno, enc := 3, uint32(24)
	tests := []struct {
		a    directory.Account
		want []string
	}{
		{directory.Account{DN: "CN=HUB01,CN=Computers,DC=lab,DC=test", SAMAccountName: "HUB01$", KeyVersion: &kvno},
			[]string{"CN=HUB01,CN=Computers,DC=lab,DC=test (HUB01$)", "kvno 3", "unset (RC4 service tickets)"}},
		{directory.Account{DN: "CN=x", SAMAccountName: "x", SupportedEncryptionTypes: &enc, Disabled: true},
			[]string{"msDS-SupportedEncryptionTypes 24 (aes128-cts-hmac-sha1-96, aes256-cts-hmac-sha1-96)", "DISABLED"}},
		{directory.Account{DN: "CN=evil\x1b[2J", SAMAccountName: "e"}, []string{`CN=evil\x1b[2J`}},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		writeAccount(&b, tt.a)
		for _, w := range tt.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%q does not contain %q", b.String(), w)
			}
		}
		if strings.Contains(b.String(), "\x1b") {
			t.Errorf("%q prints a control character", b.String())
		}
	}
}

func TestSPN_DiscoverFallsBackToKDC(t *testing.T) {
	f := spnFlags{credentialFlags: credentialFlags{kdc: "tcp/dc1.lab.test:88", krb5Conf: filepath.Join(t.TempDir(), "none")}}
	urls, err := f.discover(t.Context(), env{getenv: func(string) string { return "" }})
	if err != nil || len(urls) != 1 || urls[0] != "ldaps://dc1.lab.test" {
		t.Errorf("discover = %v, %v; want ldaps://dc1.lab.test", urls, err)
	}
	f = spnFlags{credentialFlags: credentialFlags{krb5Conf: filepath.Join(t.TempDir(), "none")}}
	if _, err := f.discover(t.Context(), env{getenv: func(string) string { return "" }}); err == nil || !strings.Contains(err.Error(), "--ldap") {
		t.Errorf("no realm, no KDC: %v, want a hint to give --ldap", err)
	}
}
