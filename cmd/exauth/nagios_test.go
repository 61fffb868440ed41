package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/verdict"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata/")

func fp(v float64) *float64 { return &v }

// TestWriteNagios_Golden: the plugin line, its performance data and the
// long output, for the states a monitoring system tells apart (go test
// -run Nagios -update rewrites testdata/nagios-*.golden).
func TestWriteNagios_Golden(t *testing.T) {
	banner := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	obs := &verdict.Observation{
		Banner: &verdict.BannerObservation{ReceivedAt: banner},
		TLS:    &verdict.TLSObservation{PeerCert: &verdict.CertObservation{NotAfter: banner.Add(10*24*time.Hour + 6*time.Hour)}},
	}
	addr := "10.0.0.11:25"
	for _, tc := range []struct {
		name string
		r    *verdict.Report
	}{
		{"ok", &verdict.Report{Target: "hub01", Address: &addr, Verdict: verdict.VerdictOK, Severity: verdict.SeverityOK,
			Summary:  "hub01 accepted X-EXPS EXCHANGEAUTH from HUB02$@LAB.TEST",
			Evidence: []string{"TLS: anonymous via X-ANONYMOUSTLS, TLS 1.2"},
			Clocks:   verdict.ReportClocks{LocalVsKDC: fp(0.4), ServerVsKDC: fp(12), ServerVsLocal: fp(11.6)},
			Timings:  verdict.ReportTimings{Connect: fp(0.3), TLS: fp(2.1), KDC: fp(1.4), Auth: fp(0.9), Total: 41}}},
		{"warning", &verdict.Report{Target: "hub01", Address: &addr, Verdict: verdict.VerdictOK, Severity: verdict.SeverityWarning,
			Summary:  "hub01 accepted X-EXPS EXCHANGEAUTH from HUB02$@LAB.TEST; but the receiving server is +2m30.0s the KDC",
			Evidence: []string{"the receiving server's clock is 2m30.0s ahead of the KDC's (Kerberos allows 5m)"},
			Clocks:   verdict.ReportClocks{LocalVsKDC: fp(0), ServerVsKDC: fp(150), ServerVsLocal: fp(150)},
			Timings:  verdict.ReportTimings{Connect: fp(0.3), TLS: fp(2.1), KDC: fp(1.4), Auth: fp(0.9), Total: 41}, Observation: obs}},
		{"critical", &verdict.Report{Target: "hub01", Address: &addr, Verdict: verdict.VerdictSPNUnknown, Severity: verdict.SeverityCritical,
			Summary:  "the KDC does not know SMTPSVC/hub01 | a pipe in a peer's text",
			Evidence: []string{"KDC answered KDC_ERR_S_PRINCIPAL_UNKNOWN\r\n250 injected"},
			Timings:  verdict.ReportTimings{Connect: fp(0.3), Total: 3}}},
		{"unknown", &verdict.Report{Target: "hub01", Verdict: verdict.VerdictNoCredentials, Severity: verdict.SeverityUnknown,
			Summary: "no usable Kerberos credentials", Timings: verdict.ReportTimings{Total: 0.2}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			writeNagios(&b, tc.r)
			got := b.String()
			if first := strings.SplitN(got, "\n", 2)[0]; strings.Count(first, "|") != 1 {
				t.Errorf("the status line must hold exactly one |: %q", first)
			}
			path := filepath.Join("testdata", "nagios-"+tc.name+".golden")
			if *updateGolden {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run Nagios -update)", err)
			}
			if got != string(want) {
				t.Errorf("differs from %s:\n--- got\n%s--- want\n%s", path, got, want)
			}
		})
	}
}

// TestProbe_FormatNagios: the command line's --format nagios keeps the
// exit codes of the monitoring-plugin convention.
func TestProbe_FormatNagios(t *testing.T) {
	for _, tc := range []struct {
		scenario, prefix string
		code             int
	}{
		{"healthy", "OK - ", 0},
		{"clock-skew", "CRITICAL - ", 2},
	} {
		stdout, stderr, code := runCmd(t, "", "probe", "--scenario", tc.scenario, "--format", "nagios")
		if code != tc.code || !strings.HasPrefix(stdout, tc.prefix) || !strings.Contains(stdout, " | clock_local_vs_kdc=") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", tc.scenario, code, stdout, stderr)
		}
	}
	if _, stderr, code := runCmd(t, "", "probe", "--scenario", "healthy", "--format", "nagios", "--json"); code != 3 || !strings.Contains(stderr, "choose one") {
		t.Errorf("--json with --format nagios: exit %d, %q", code, stderr)
	}
	if _, stderr, code := runCmd(t, "", "probe", "h", "--format", "xml"); code != 3 || !strings.Contains(stderr, `unknown --format "xml"`) {
		t.Errorf("--format xml: exit %d, %q", code, stderr)
	}
}

// TestCheck_FormatNagios: a plan as one plugin line, CRITICAL naming the
// target that was not as expected, with the exit code of check.
func TestCheck_FormatNagios(t *testing.T) {
	plan := filepath.Join(t.TempDir(), "plan.yaml")
	if err := os.WriteFile(plan, []byte("targets:\n  - scenario: healthy\n  - scenario: clock-skew\n    expect: ok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := runCmd(t, "", "check", "--plan", plan, "--format", "nagios")
	first, rest, _ := strings.Cut(stdout, "\n")
	if code != 2 || !strings.HasPrefix(first, "CRITICAL - 1 of 2 targets not as expected: clock-skew clock-skew (expected ok) | targets=2 met=1 failed=1;;0 duration=") ||
		!strings.Contains(rest, "healthy: ok, as expected: ") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	good := filepath.Join(t.TempDir(), "good.yaml")
	if err := os.WriteFile(good, []byte("targets:\n  - scenario: healthy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if stdout, _, code := runCmd(t, "", "check", "--plan", good, "--format", "nagios"); code != 0 || !strings.HasPrefix(stdout, "OK - 1 target as expected | targets=1 met=1 failed=0;;0 ") {
		t.Errorf("exit %d, %q", code, stdout)
	}
}
