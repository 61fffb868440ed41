package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exauth/exauth/scenarios"
)

const scenarioPlan = "targets:\n  - scenario: healthy\n  - scenario: clock-skew\n    expect: ok\n"

// Output paths are checked before any probe runs: a run is never lost to
// a path that cannot be written.
func TestCheck_OutputPathsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(scenarioPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--save", filepath.Join(dir, "missing", "x.json")},
		{"--junit", dir},
	} {
		_, stderr, code := runCmd(t, "", append([]string{"check", "--plan", plan}, args...)...)
		if code != 3 || !strings.Contains(stderr, args[0]) || strings.Contains(stderr, "[1/2]") {
			t.Errorf("%v: exit %d, stderr %q; want a usage error before probing", args, code, stderr)
		}
	}
}

// An interrupted run prints what it has, exits 3 and writes no JUnit
// failures for targets that never ran.
func TestCheck_InterruptedWritesNoJUnit(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(plan, []byte(scenarioPlan), 0o600); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "results.xml")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"check", "--plan", plan, "--junit", junit}, env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	if code != 3 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr %q; want 3 and interrupted", code, stderr.String())
	}
	if _, err := os.Stat(junit); !os.IsNotExist(err) {
		t.Errorf("JUnit file written after an interruption: %v", err)
	}
}

// A password left in EXAUTH_PASSWORD does not override an explicit
// --ccache, and the report names the credentials it used.
func TestProbe_ExplicitCredentialsBeatTheEnvironment(t *testing.T) {
	sc, err := scenarios.Bundled("healthy")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := scenarios.Run(sc, scenarios.Options{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	files, err := lab.Files()
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-ccache")
	var stdout, stderr bytes.Buffer
	envs := map[string]string{"EXAUTH_PASSWORD": "left-over-secret"}
	code := run(context.Background(), []string{"probe", lab.Host, "--connect", lab.Hub.Addr(), "--krb5-conf", files.Krb5Conf,
		"--ca-file", files.CAFile, "--ccache", missing, "--principal", lab.Principal, "--json"},
		env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return envs[k] }})
	out := stdout.String()
	if code != 3 || !strings.Contains(out, `"no-credentials"`) || !strings.Contains(out, missing) {
		t.Fatalf("exit %d: %s %s; want no-credentials naming the ccache", code, out, stderr.String())
	}
	// With only the environment, the password is used, and said to be.
	stdout.Reset()
	code = run(context.Background(), []string{"probe", lab.Host, "--connect", lab.Hub.Addr(), "--krb5-conf", files.Krb5Conf,
		"--ca-file", files.CAFile, "--principal", lab.Principal, "--json"},
		env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string { return envs[k] }})
	if out := stdout.String(); !strings.Contains(out, "EXAUTH_PASSWORD") || strings.Contains(out, "left-over-secret") {
		t.Fatalf("exit %d: %s; want the credentials named as the environment's password, and never the password", code, out)
	}
}
