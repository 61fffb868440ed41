package scenariotest_test

import (
	"context"
	"testing"

	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// In a test of your own: start a scenario (stopped by t.Cleanup) and probe
// it, or point your own code at env.SMTPAddr and the files of
// env.StateFiles(t) (Krb5Conf, ClientKeytab, CAFile) with env.Principal.
func ExampleStart() {
	testClockSkew := func(t *testing.T) {
		env := scenariotest.Start(t, "clock-skew")
		report := smtpprobe.Probe(context.Background(), env.Probe)
		if report.Verdict != verdict.VerdictClockSkew {
			t.Fatalf("got %s: %s", report.Verdict, report.Summary)
		}
	}
	_ = testClockSkew
}
