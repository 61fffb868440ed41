package scenarios_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/exauth/exauth/explain"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCatalogue probes every bundled scenario — a new file in
// scenarios/catalogue is picked up without code changes — and checks the
// expected verdict, its exit code and the scenario's evidence fragment.
func TestCatalogue(t *testing.T) {
	for _, name := range scenarios.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := scenariotest.Start(t, name)
			r := env.RunProbe(context.Background())
			want := verdict.Verdict(env.Scenario.Expect)
			if r.Verdict != want {
				t.Fatalf("verdict %s, want %s\nsummary: %s\nevidence:\n  %s", r.Verdict, want, r.Summary, strings.Join(r.Evidence, "\n  "))
			}
			if r.ExitCode() != want.Severity().ExitCode() {
				t.Errorf("exit code %d, want %d (severity %s)", r.ExitCode(), want.Severity().ExitCode(), r.Severity)
			}
			all := r.Summary + "\n" + strings.Join(r.Evidence, "\n") + "\n" + strings.Join(r.Remediation, "\n")
			if !strings.Contains(all, env.Scenario.Evidence) {
				t.Errorf("report lacks %q:\n%s", env.Scenario.Evidence, all)
			}
		})
	}
}

// BenchmarkStart measures how long a test waits for a scenario to be up
// (and torn down); BenchmarkHTTPTestTLSServer is its baseline (BENCHMARKS.md, figure 7).
func BenchmarkStart(b *testing.B) {
	sc, err := scenarios.Bundled("healthy")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	for b.Loop() {
		lab, err := scenarios.Run(sc, scenarios.Options{StateDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		lab.Close()
	}
}

func BenchmarkHTTPTestTLSServer(b *testing.B) {
	for b.Loop() {
		s := httptest.NewTLSServer(http.NotFoundHandler())
		s.Close()
	}
}

// TestClockOffsetsMeasured: the offsets the report gives are the ones the
// scenario injected, within the one-second resolution of banner dates and
// ticket times.
func TestClockOffsetsMeasured(t *testing.T) {
	near := func(got *float64, want float64) bool { return got != nil && *got > want-2 && *got < want+2 }
	for _, tt := range []struct {
		scenario                               string
		serverVsKDC, serverVsLocal, localVsKDC float64
	}{
		{"clock-skew", 420, 420, 0},
		{"client-clock-skew", -600, 0, -600},
		{"clock-skew-split", 240, 480, -240},
		{"healthy", 0, 0, 0},
	} {
		env := scenariotest.Start(t, tt.scenario)
		r := smtpprobe.Probe(context.Background(), env.Probe)
		c := r.Clocks
		if !near(c.ServerVsKDC, tt.serverVsKDC) || !near(c.ServerVsLocal, tt.serverVsLocal) || !near(c.LocalVsKDC, tt.localVsKDC) {
			t.Errorf("%s: server-KDC %v, server-local %v, local-KDC %v; want %v, %v, %v", tt.scenario,
				deref(c.ServerVsKDC), deref(c.ServerVsLocal), deref(c.LocalVsKDC), tt.serverVsKDC, tt.serverVsLocal, tt.localVsKDC)
		}
	}
}

func deref(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

// TestCatalogue_CASEventsExplained: the event a proxying Client Access
// server logs in each CAS scenario is one `exauth explain` recognises.
// Where the text alone proves the cause (an address in the internalURL,
// event 43) it reaches the scenario's verdict; elsewhere event 71 leaves
// its two causes ranked (auth-temporary-failure), never unknown.
func TestCatalogue_CASEventsExplained(t *testing.T) {
	for _, name := range scenarios.Names() {
		sc, err := scenarios.Bundled(name)
		if err != nil {
			t.Fatal(err)
		}
		if !sc.IsCAS() || len(sc.Logs.Sender) == 0 {
			continue
		}
		want := verdict.VerdictAuthTemporaryFailure
		if sc.Expect == string(verdict.VerdictSPNUnknown) && sc.Probe.Host != "" || sc.Expect == string(verdict.VerdictCertUntrusted) {
			want = verdict.Verdict(sc.Expect)
		}
		for _, line := range sc.Logs.Sender {
			if got := explain.Explain(line).Verdict; got != want {
				t.Errorf("%s: explain %q = %s, want %s", name, line[:min(len(line), 80)], got, want)
			}
		}
	}
}
