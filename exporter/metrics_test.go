package exporter

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/exauth/exauth/verdict"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func f64(v float64) *float64 { return &v }
func str(s string) *string   { return &s }
func intp(i int) *int        { return &i }

// report builds what a probe of hub01 reports: a verdict, the clocks and
// timings it observed, its ticket and certificate.
func report(v verdict.Verdict, sev verdict.Severity, warnings ...verdict.Warning) *verdict.Report {
	end := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	notAfter := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	if warnings == nil {
		warnings = []verdict.Warning{}
	}
	return &verdict.Report{
		Target: "hub01.lab.test", Address: str("10.0.0.11:25"), Verdict: v, Severity: sev, Warnings: warnings,
		Clocks:  verdict.ReportClocks{LocalVsKDC: f64(0.25), ServerVsKDC: f64(150), ServerVsLocal: f64(149.75)},
		Timings: verdict.ReportTimings{Connect: f64(0.3), TLS: f64(2.1), KDC: f64(1.4), Auth: f64(0.9), Total: 6.2},
		Observation: &verdict.Observation{
			Kerberos: &verdict.KerberosObservation{SPN: "SMTPSVC/hub01.lab.test", KDC: "10.0.0.5:88", EType: 18, KVNO: intp(3), TicketObtained: true, TicketEnd: end,
				ClockSample: &verdict.ClockSample{Local: end.Add(-10 * time.Hour), KDC: end.Add(-10*time.Hour + 250*time.Millisecond)}},
			TLS: &verdict.TLSObservation{Version: "TLS 1.2", PeerCert: &verdict.CertObservation{NotAfter: notAfter}},
			Directory: &verdict.DirectoryObservation{SPN: "SMTPSVC/hub01.lab.test", KeyVersions: []verdict.DCKeyVersion{
				{DC: "ldaps://dc1.lab.test", KeyVersion: intp(3)}, {DC: "ldaps://dc2.lab.test", KeyVersion: intp(2)},
			}},
		},
	}
}

// TestReportCollector_Golden: the metrics of a report, name by name, as
// docs/exporter.md promises them (go test -run Golden -update rewrites).
func TestReportCollector_Golden(t *testing.T) {
	d := newProbeDescs()
	for _, tc := range []struct {
		name string
		r    *verdict.Report
	}{
		{"ok-warning", report(verdict.VerdictOK, verdict.SeverityWarning, verdict.WarningClockDrift, verdict.WarningKeyVersionDiffers)},
		{"clock-skew", report(verdict.VerdictClockSkew, verdict.SeverityCritical)},
		{"connect-failed", &verdict.Report{Target: "hub09.lab.test", Address: str("10.0.0.19:25"), Verdict: verdict.VerdictConnectFailed, Severity: verdict.SeverityCritical,
			Warnings: []verdict.Warning{}, Timings: verdict.ReportTimings{Connect: f64(1000), Total: 1000}, Observation: &verdict.Observation{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := reportCollector{d: &d, r: tc.r}
			got := exposition(t, c)
			path := filepath.Join("testdata", "metrics-"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run Golden -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("metrics differ from %s:\n--- got\n%s--- want\n%s", path, got, want)
			}
			if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
				t.Errorf("promlint: %v %+v", err, problems)
			}
		})
	}
}

// exposition is what /probe would answer for c, in the text format, after
// the pedantic registry's consistency checks.
func exposition(t *testing.T, c prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// TestMetricsDocumented keeps docs/exporter.md, the contract of metric
// names, in step with the code: every probe and exporter metric has a row.
func TestMetricsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "exporter.md"))
	if err != nil {
		t.Fatal(err)
	}
	d := newProbeDescs()
	ch := make(chan *prometheus.Desc, 64)
	reportCollector{d: &d}.Describe(ch)
	x, err := New(Options{ConfigFile: writeHealthyishConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := x.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	close(ch)
	var names []string
	for desc := range ch {
		s := desc.String()
		i := strings.Index(s, `fqName: "`) + len(`fqName: "`)
		names = append(names, s[i:i+strings.IndexByte(s[i:], '"')])
	}
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "exauth_") {
			names = append(names, mf.GetName())
		}
	}
	if len(names) < 15 {
		t.Fatalf("only %d metrics found: %v", len(names), names)
	}
	for _, n := range names {
		if !strings.Contains(string(doc), "| `"+n+"` |") {
			t.Errorf("docs/exporter.md has no table row for %s", n)
		}
	}
}

// writeHealthyishConfig is a module whose credentials can be read without
// a KDC: a password file.
func writeHealthyishConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range map[string]string{
		"krb5.conf":     "[libdefaults]\n default_realm = LAB.TEST\n[realms]\n LAB.TEST = {\n  kdc = 127.0.0.1:1\n }\n",
		"pw":            "secret\n",
		"exporter.yaml": "modules:\n  default:\n    krb5_conf: krb5.conf\n    password_file: pw\n    principal: HUB02$@LAB.TEST\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "exporter.yaml")
}
