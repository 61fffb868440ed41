package scenarios

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exauth/exauth/verdict"
)

// TestLoad_InvalidFiles: each file in testdata/invalid has one mistake; the
// error must name the file, the line and the field (or the YAML problem).
func TestLoad_InvalidFiles(t *testing.T) {
	tests := map[string]struct {
		line  int
		field string
		msg   string
	}{
		"unknown-field.yaml":                    {5, "", `unknown field "colour"`},
		"bad-duration.yaml":                     {6, "", "bad duration"},
		"unknown-verdict.yaml":                  {3, "expect", `unknown verdict "kerberos-broken"`},
		"client-not-an-account.yaml":            {8, "kdc.client", "not in kdc.accounts"},
		"bad-host.yaml":                         {5, "hub.host", "FQDN"},
		"tls-fault-without-tls.yaml":            {8, "hub.tls.fail_handshake", "offers no TLS"},
		"unknown-etype.yaml":                    {11, "kdc.accounts.0.etypes.0", `unknown encryption type "des-cbc-crc"`},
		"duplicate-mode-without-duplicate.yaml": {8, "kdc.duplicate_spn", "no SPN is listed on two accounts"},
		"kvno-behind-too-far.yaml":              {7, "hub.keytab.kvno_behind", "leaves no key version"},
		"missing-description.yaml":              {2, "description", "required"},
		"duplicate-account.yaml":                {11, "kdc.accounts.1.name", "listed twice"},
		"ok-without-kdc.yaml":                   {3, "expect", "impossible"},
		"yaml-syntax.yaml":                      {1, "", "did not find expected"},
		"not-a-mapping.yaml":                    {1, "", "a scenario is a mapping"},
		"bad-spn.yaml":                          {13, "kdc.accounts.1.spns.0", "not a service principal name"},
		"two-documents.yaml":                    {0, "", "more than one YAML document"},
		"bad-mech.yaml":                         {5, "probe.mech", `unknown value "ntlm"`},
		"hub-and-cas.yaml":                      {4, "hub", "not both"},
		"cas-bad-provider.yaml":                 {6, "cas.providers.1", `unknown Windows Authentication provider "Kerberos"`},
		"cas-smtp-probe-setting.yaml":           {7, "probe.mech", "an SMTP setting"},
	}
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d files in testdata/invalid, %d expectations", len(files), len(tests))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			want, ok := tests[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			_, err := LoadFile(f)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v, want a *LoadError", err)
			}
			if le.Source != f || (want.line != 0 && le.Line != want.line) || le.Field != want.field || !strings.Contains(le.Msg, want.msg) {
				t.Fatalf("got %q (line %d, field %q)\nwant line %d, field %q, message containing %q", err, le.Line, le.Field, want.line, want.field, want.msg)
			}
			if !strings.HasPrefix(err.Error(), f) {
				t.Errorf("error does not start with the file name: %q", err)
			}
		})
	}
}

func TestLoad_Catalogue(t *testing.T) {
	names := Names()
	if len(names) < 15 {
		t.Fatalf("%d bundled scenarios, want at least the 15 of docs/scenarios.md", len(names))
	}
	for _, n := range names {
		sc, err := Bundled(n)
		if err != nil {
			t.Errorf("%s: %v", n, err)
			continue
		}
		if err := sc.Validate(); err != nil {
			t.Errorf("%s: Validate on a loaded scenario: %v", n, err)
		}
	}
	// A path works where a name does.
	sc, err := Lookup("catalogue/clock-skew.yaml")
	if err != nil || sc.Name != "clock-skew" {
		t.Fatalf("Lookup by path: %v %v", sc, err)
	}
	if _, err := Lookup("no-such-scenario"); err == nil {
		t.Fatal("Lookup of an unknown name succeeded")
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range Names() {
		b, _ := catalogue.ReadFile("catalogue/" + n + ".yaml")
		f.Add(b)
	}
	files, _ := filepath.Glob("testdata/invalid/*.yaml")
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := Parse("fuzz.yaml", data)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("error is not a *LoadError: %v", err)
			}
			return
		}
		if sc.Name == "" || sc.serviceHost() == "" || sc.KDC.Realm == "" {
			t.Fatalf("accepted a scenario without name, host or realm: %+v", sc)
		}
	})
}

// The state directory holds a keytab: a link planted where a file will go
// is replaced, never followed, and a directory others can write is refused.
func TestRun_StateDirIsSafe(t *testing.T) {
	sc, err := Bundled("healthy")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("untouched"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(dir, "client.keytab")); err != nil {
		t.Fatal(err)
	}
	lab, err := Run(sc, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	files, err := lab.Files()
	lab.Close()
	if err != nil || files.ClientKeytab != filepath.Join(dir, "client.keytab") {
		t.Fatalf("Files: %+v, %v", files, err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "untouched" {
		t.Errorf("the planted link was followed: the victim now holds %d bytes", len(b))
	}
	if st, err := os.Lstat(filepath.Join(dir, "client.keytab")); err != nil || st.Mode()&os.ModeSymlink != 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("client.keytab: %v, %v; want a regular file of mode 0600", st.Mode(), err)
	}
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(sc, Options{StateDir: open}); err == nil || !strings.Contains(err.Error(), "other users") {
		t.Errorf("world-writable state dir: %v", err)
	}
}

// A lab that is only probed in-process writes no state files; Files
// writes them at the first call into a temporary directory, which Close
// removes.
func TestRun_FilesOnlyWhenAsked(t *testing.T) {
	sc, err := Bundled("healthy")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lab, err := Run(sc, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if r := lab.RunProbe(context.Background()); r.Verdict != verdict.VerdictOK {
		t.Errorf("in-memory probe: %s %s", r.Verdict, r.Summary)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("state files written without being asked for: %v", entries)
	}
	lab.Close()

	lab, err = Run(sc, Options{})
	if err != nil {
		t.Fatal(err)
	}
	files, err := lab.Files()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{files.Krb5Conf, files.ClientKeytab, files.CAFile} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("state file: %v", err)
		}
	}
	again, _ := lab.Files()
	if again != files {
		t.Errorf("a second Files call wrote elsewhere: %+v, then %+v", files, again)
	}
	lab.Close()
	if _, err := os.Stat(files.Dir); !os.IsNotExist(err) {
		t.Errorf("temporary state directory %s left behind: %v", files.Dir, err)
	}
}
