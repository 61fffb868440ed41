package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
