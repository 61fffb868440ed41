package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"unicode/utf16"
)

// Every command line a user can get wrong gets a clear message with the
// command's name, exit 3, and with --json one JSON object on stdout.
func TestUsage_ClearErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"serve", "clock-skew"}, `exauth serve: unexpected argument "clock-skew"`},
		{[]string{"scenarios", "extra"}, `exauth scenarios: unexpected argument "extra"`},
		{[]string{"check", "--plan", "p.yaml", "stray"}, `exauth check: unexpected argument "stray"`},
		{[]string{"probe", "h1", "h2"}, `exauth probe: unexpected argument "h2"`},
		{[]string{"probe", "h", "--timeout", "5"}, "want a duration like 5s or 2m"},
		{[]string{"probe", "h", "--timeout", "0s"}, "want more than zero"},
		{[]string{"probe", "h", "--connect", "127.0.0.1:abc"}, `exauth probe: --connect: invalid port "abc"`},
		{[]string{"version", "extra"}, `exauth version: unexpected argument "extra"`},
	} {
		_, stderr, code := runCmd(t, "", tc.args...)
		if code != 3 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 3 and %q", tc.args, code, stderr, tc.want)
		}
		stdout, _, code := runCmd(t, "", append(tc.args, "--json")...)
		var obj struct {
			Command  string `json:"command"`
			Error    string `json:"error"`
			ExitCode int    `json:"exit_code"`
		}
		if err := json.Unmarshal([]byte(stdout), &obj); err != nil || obj.ExitCode != 3 || obj.Error == "" || code != 3 {
			t.Errorf("%v --json: exit %d, stdout %q (%v); want one JSON error object", tc.args, code, stdout, err)
		}
	}
}

// Help asked for goes to stdout (exauth probe -h | less) and exits 0.
func TestUsage_HelpOnStdout(t *testing.T) {
	for _, cmd := range []string{"probe", "serve", "scenarios", "explain", "check", "exporter", "version"} {
		stdout, stderr, code := runCmd(t, "", cmd, "-h")
		if code != 0 || !strings.Contains(stdout, "Usage: exauth "+cmd) || stderr != "" {
			t.Errorf("%s -h: exit %d, stdout %q, stderr %q", cmd, code, stdout, stderr)
		}
	}
	if stdout, _, _ := runCmd(t, "", "explain", "-h"); !strings.Contains(stdout, "standard input") {
		t.Errorf("explain -h does not say how TEXT, - and stdin work: %q", stdout)
	}
	stdout, _, code := runCmd(t, "", "version", "--json")
	var v struct{ Version, Go string }
	if err := json.Unmarshal([]byte(stdout), &v); err != nil || code != 0 || v.Version == "" || v.Go == "" {
		t.Errorf("version --json: exit %d, %q, %v", code, stdout, err)
	}
}

// explain reading standard input stops on Ctrl-C (the context) even while
// a read blocks, and reads UTF-16 as PowerShell 5.1 writes it.
func TestExplain_StdinStopsAndDecodes(t *testing.T) {
	r, w := io.Pipe()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	var stderr bytes.Buffer
	go func() {
		done <- run(ctx, []string{"explain", "-"}, env{stdin: r, stdout: io.Discard, stderr: &stderr, getenv: func(string) string { return "" }})
	}()
	cancel()
	if code := <-done; code != 3 || !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("exit %d, stderr %q; want 3 and interrupted", code, stderr.String())
	}
	text := "451 4.4.0 Primary target IP address responded with: \"454 4.7.0 Temporary authentication failure.\""
	b := []byte{0xFF, 0xFE}
	for _, u := range utf16.Encode([]rune(text)) {
		b = append(b, byte(u), byte(u>>8))
	}
	stdout, _, code := runCmd(t, string(b), "explain", "--json", "-")
	if code != 2 || !strings.Contains(stdout, `"auth-temporary-failure"`) {
		t.Errorf("UTF-16 input: exit %d, %s", code, stdout)
	}
}
