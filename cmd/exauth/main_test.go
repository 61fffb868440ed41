package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/verdict"
)

func runCmd(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		getenv: func(k string) string { return map[string]string{"EXAUTH_PASSWORD": ""}[k] }})
	return out.String(), errb.String(), code
}

// buildBinary builds exauth once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "exauth")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

func TestProbeScenario_JSONReport(t *testing.T) {
	out, stderr, code := runCmd(t, "", "probe", "--scenario", "healthy", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s\n%s", code, stderr, out)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"target", "address", "verdict", "severity", "summary", "evidence", "remediation", "capabilities", "tls", "kerberos", "clocks", "transcript", "timings"} {
		if _, ok := r[k]; !ok {
			t.Errorf("report lacks %q", k)
		}
	}
	if r["verdict"] != "ok" || r["severity"] != "ok" {
		t.Errorf("verdict %v severity %v", r["verdict"], r["severity"])
	}
	if tls := r["tls"].(map[string]any); tls["mode"] != "anonymous" {
		t.Errorf("tls.mode = %v", tls["mode"])
	}
	krb := r["kerberos"].(map[string]any)
	if krb["spn"] != "SMTPSVC/hub01.lab.test" || krb["etype"] != "aes256-cts-hmac-sha1-96" || krb["ticket_kvno"] != 3.0 || krb["error_code"] != nil {
		t.Errorf("kerberos = %v", krb)
	}
	caps, _ := json.Marshal(r["capabilities"])
	if !strings.Contains(string(caps), `"X-EXPS EXCHANGEAUTH GSSAPI NTLM"`) || !strings.Contains(string(caps), `"X-EXCHANGEAUTH SHA256"`) {
		t.Errorf("capabilities %s", caps)
	}
	var ehlos int
	for _, l := range r["transcript"].([]any) {
		if strings.HasPrefix(l.(map[string]any)["line"].(string), "EHLO ") {
			ehlos++
		}
	}
	if ehlos != 2 {
		t.Errorf("%d EHLOs in the transcript, want 2", ehlos)
	}
}

// TestNoSecretsInDefaultOutput: tokens stay out of every default output;
// --show-secrets puts them in the transcript.
func TestNoSecretsInDefaultOutput(t *testing.T) {
	long := regexp.MustCompile(`[A-Za-z0-9+/]{60,}={0,2}`)
	for _, args := range [][]string{
		{"probe", "--scenario", "healthy", "--json"},
		{"probe", "--scenario", "healthy", "--verbose"},
		{"probe", "--scenario", "clock-skew", "--verbose", "--json"},
	} {
		out, _, _ := runCmd(t, "", args...)
		if m := long.FindString(out); m != "" {
			t.Errorf("%v: output holds a token-like string %.40q...", args, m)
		}
		if !strings.Contains(out, "redacted") {
			t.Errorf("%v: no redaction marker in transcript", args)
		}
	}
	out, _, _ := runCmd(t, "", "probe", "--scenario", "healthy", "--json", "--show-secrets")
	if !long.MatchString(out) {
		t.Error("--show-secrets shows no token")
	}
}

func TestExitCodesAndUsage(t *testing.T) {
	tests := []struct {
		args []string
		code int
		text string
	}{
		{[]string{}, 3, "Usage:"},
		{[]string{"frobnicate"}, 3, "unknown command"},
		{[]string{"probe"}, 3, "HOST"},
		{[]string{"probe", "h", "--mech", "ntlm"}, 3, "unknown --mech"},
		{[]string{"probe", "h", "--ehlo", "hub02 lab"}, 3, "--ehlo"},
		{[]string{"probe", "h", "--password-file", "/nonexistent"}, 3, "--password-file"},
		{[]string{"probe", "--scenario", "no-such"}, 3, "no bundled scenario"},
		{[]string{"version"}, 0, "exauth "},
		{[]string{"probe", "--scenario", "ntlm-only"}, 2, "NTLM-ONLY"},
		{[]string{"explain", "454 4.7.0 Temporary authentication failure"}, 2, "AUTH-TEMPORARY-FAILURE"},
		{[]string{"explain", "lorem ipsum"}, 3, "UNKNOWN"},
	}
	for _, tt := range tests {
		out, errs, code := runCmd(t, "", tt.args...)
		if code != tt.code || !strings.Contains(out+errs, tt.text) {
			t.Errorf("%v: exit %d (want %d), output lacks %q?\n%s%s", tt.args, code, tt.code, tt.text, out, errs)
		}
	}
}

func TestScenariosList(t *testing.T) {
	out, _, code := runCmd(t, "", "scenarios")
	if code != 0 || len(strings.Split(strings.TrimSpace(out), "\n")) < 16 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, _, _ = runCmd(t, "", "scenarios", "--json")
	var all []map[string]any
	if err := json.Unmarshal([]byte(out), &all); err != nil || len(all) < 15 {
		t.Fatalf("scenarios --json: %v (%d)", err, len(all))
	}
	for _, sc := range all {
		if sc["name"] == "clock-skew" {
			logs, _ := json.Marshal(sc["logs"])
			for _, want := range []string{"IllegalMessage", "ExchangeAuth", "451 4.4.0 Primary target IP address responded with"} {
				if !strings.Contains(string(logs), want) {
					t.Errorf("clock-skew logs lack %q", want)
				}
			}
		}
	}
}

// TestServeThenProbe_SameVerdicts runs `exauth serve` and `exauth probe
// <probe_args>` as separate processes of the built binary and compares with
// the in-process verdict.
func TestServeThenProbe_SameVerdicts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	for _, name := range []string{"healthy", "clock-skew", "duplicate-spn", "verbs-stripped", "cas-healthy", "cas-clock-skew"} {
		t.Run(name, func(t *testing.T) {
			serve := exec.Command(bin, "serve", "--scenario", name, "--state-dir", t.TempDir())
			stdout, err := serve.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var serveLog bytes.Buffer
			serve.Stderr = &serveLog
			if err := serve.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				serve.Process.Signal(syscall.SIGTERM)
				if err := serve.Wait(); err != nil {
					t.Errorf("serve did not stop cleanly: %v\n%s", err, serveLog.String())
				}
			}()
			// The ready line is the ready signal.
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("no ready line: %v\n%s", err, serveLog.String())
			}
			var ready readyLine
			if err := json.Unmarshal([]byte(line), &ready); err != nil {
				t.Fatalf("ready line %q: %v", line, err)
			}
			probe := exec.Command(bin, append(ready.ProbeArgs, "--json")...)
			out, _ := probe.Output()
			var r verdict.Report
			if err := json.Unmarshal(out, &r); err != nil {
				t.Fatalf("probe output: %v\n%s", err, out)
			}
			want := verdict.Verdict(ready.Expect[0])
			if r.Verdict != want || probe.ProcessState.ExitCode() != want.Severity().ExitCode() {
				t.Errorf("probe %v: verdict %s exit %d, want %s (%s)", ready.ProbeArgs, r.Verdict, probe.ProcessState.ExitCode(), want, r.Summary)
			}
			in, _, _ := runCmd(t, "", "probe", "--scenario", name, "--json")
			var inr verdict.Report
			json.Unmarshal([]byte(in), &inr)
			if inr.Verdict != r.Verdict {
				t.Errorf("in-process %s, across processes %s", inr.Verdict, r.Verdict)
			}
		})
	}
}

// TestPasswordNeverPrinted: a password given through EXAUTH_PASSWORD or
// --password-file appears in no output, right or wrong.
func TestPasswordNeverPrinted(t *testing.T) {
	const secret = "Corr3ct-Horse-Battery-Staple"
	kdc, err := fakekdc.Start(fakekdc.Config{Realm: "LAB.TEST", Accounts: []fakekdc.Account{
		{Name: "HUB02$", Password: secret, KVNO: 2},
		{Name: "HUB01$", KVNO: 3, SPNs: []string{"SMTPSVC/hub01.lab.test"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer kdc.Close()
	skt, _ := kdc.Keytab("HUB01$", 0)
	hub, err := fakeserver.Start(fakeserver.Config{Host: "hub01.lab.test", Capabilities: []string{"X-EXPS GSSAPI NTLM"},
		Authenticator: &fakeserver.KerberosAcceptor{Keytab: skt}})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "krb5.conf")
	os.WriteFile(conf, kdc.Krb5Conf(), 0o644)
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("wrong-"+secret+"\n"), 0o600)
	base := []string{"probe", "hub01.lab.test", "--connect", hub.Addr(), "--krb5-conf", conf, "--principal", "HUB02$@LAB.TEST", "--tls", "none"}
	for _, tt := range []struct {
		name    string
		args    []string
		env     string
		verdict string
	}{
		{"right password from the environment", []string{"--json", "--verbose"}, secret, "ok"},
		{"wrong password from a file", []string{"--password-file", pwFile, "--json"}, "", "auth-rejected"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append(base, tt.args...), env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
			getenv: func(k string) string {
				if k == "EXAUTH_PASSWORD" {
					return tt.env
				}
				return ""
			}})
		all := out.String() + errb.String()
		if strings.Contains(all, secret) {
			t.Errorf("%s: the password is in the output", tt.name)
		}
		if !strings.Contains(out.String(), `"verdict":"`+tt.verdict+`"`) {
			t.Errorf("%s: exit %d, want verdict %s:\n%s", tt.name, code, tt.verdict, all)
		}
	}
}

// serve whose reader goes away (exauth serve | head -1) stops cleanly and
// removes its temporary state directory, keytab included; it is not killed
// by SIGPIPE.
func TestServe_ClosedPipeStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	serve := exec.Command(bin, "serve", "--scenario", "healthy")
	stdout, err := serve.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := serve.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v", err)
	}
	var ready readyLine
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatal(err)
	}
	// The reader of both streams goes away; the next log line (a session)
	// hits the closed pipe.
	stdout.Close()
	stderr.Close()
	if c, err := net.Dial("tcp", ready.SMTP); err == nil {
		bufio.NewReader(c).ReadString('\n')
		c.Close()
	}
	err = serve.Wait()
	if ws, ok := serve.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("serve was killed by %v", ws.Signal())
	}
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(ready.Keytab)); !os.IsNotExist(err) {
		t.Errorf("state directory %s left behind: %v", filepath.Dir(ready.Keytab), err)
	}
}

// serve runs the fake servers on one processor unless told otherwise:
// --procs wins, then GOMAXPROCS from the environment, which serve leaves
// alone; the previous number is restored when serve returns.
func TestServe_Procs(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
		want []int // the numbers serve set, in order
	}{
		{"default one", nil, nil, []int{1, 8}},
		{"--procs", []string{"--procs", "3"}, nil, []int{3, 8}},
		{"GOMAXPROCS is left alone", nil, map[string]string{"GOMAXPROCS": "2"}, nil},
		{"--procs over GOMAXPROCS", []string{"--procs", "2"}, map[string]string{"GOMAXPROCS": "4"}, []int{2, 8}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var set []int
			ready := make(chan struct{})
			var stdout, stderr bytes.Buffer
			e := env{stdout: &stdout, stderr: &stderr, ready: ready,
				getenv:     func(k string) string { return tt.env[k] },
				gomaxprocs: func(n int) int { set = append(set, n); return 8 }}
			done := make(chan int)
			go func() { done <- run(ctx, append([]string{"serve"}, tt.args...), e) }()
			select {
			case <-ready:
			case code := <-done:
				t.Fatalf("serve ended with %d before its ready line: %s", code, stderr.String())
			}
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			if !slices.Equal(set, tt.want) {
				t.Errorf("GOMAXPROCS set to %v, want %v", set, tt.want)
			}
		})
	}
	_, stderr, code := runCmd(t, "", "serve", "--procs", "0")
	if code != 3 || !strings.Contains(stderr, "--procs 0: must be at least 1") {
		t.Errorf("--procs 0: exit %d, %q", code, stderr)
	}
}
