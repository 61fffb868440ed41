// Package scenariotest starts scenarios for Go tests, as net/http/httptest
// starts servers: a bundled or written scenario on loopback, stopped by
// t.Cleanup, with a probe configuration ready to use. It is the only part
// of the scenarios that needs the testing package, so that the exauth
// binary does not link it.
package scenariotest

import (
	"context"
	"testing"
	"time"

	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
)

// Env is a scenario started for one Go test: everything a test needs to
// point its own code, or the probe, at the fake hub and KDC.
type Env struct {
	*scenarios.Lab
	// SMTPAddr is the hub's address (a hub scenario), HTTPSAddr the Client
	// Access server's (a CAS scenario); KDCAddr the KDC's (TCP).
	SMTPAddr, HTTPSAddr, KDCAddr string
	// Probe is a ready SMTP probe configuration for a hub scenario;
	// HTTPProbe a ready HTTP probe configuration for a CAS scenario.
	// Lab.RunProbe runs whichever the scenario is meant for.
	Probe     smtpprobe.Config
	HTTPProbe httpprobe.Config
}

// Start starts the bundled scenario name on loopback for the test and stops
// it with t.Cleanup. Logs go to t.Log.
func Start(t testing.TB, name string) *Env {
	t.Helper()
	sc, err := scenarios.Bundled(name)
	if err != nil {
		t.Fatalf("scenariotest.Start: %v", err)
	}
	return StartScenario(t, sc)
}

// StartFile starts a scenario written in a file.
func StartFile(t testing.TB, path string) *Env {
	t.Helper()
	sc, err := scenarios.LoadFile(path)
	if err != nil {
		t.Fatalf("scenariotest.StartFile: %v", err)
	}
	return StartScenario(t, sc)
}

// StartScenario starts a scenario value, e.g. one built in Go or a bundled
// one modified by the test. It is validated like a file.
func StartScenario(t testing.TB, sc *scenarios.Scenario) *Env {
	t.Helper()
	if err := sc.Validate(); err != nil {
		t.Fatalf("scenariotest.StartScenario: %v", err)
	}
	lab, err := scenarios.Run(sc, scenarios.Options{Logf: func(f string, a ...any) { t.Logf(f, a...) }})
	if err != nil {
		t.Fatalf("scenariotest.StartScenario: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		lab.Shutdown(ctx)
	})
	env := &Env{Lab: lab, KDCAddr: lab.KDC.TCPAddr()}
	if sc.IsCAS() {
		env.HTTPSAddr, env.HTTPProbe = lab.CAS.Addr(), lab.HTTPProbeConfig()
	} else {
		env.SMTPAddr, env.Probe = lab.Hub.Addr(), lab.ProbeConfig()
	}
	return env
}

// StateFiles writes the lab's state files (krb5.conf, the client keytab,
// the CA) into the test's temporary directory at the first call and
// returns their paths, for code of yours that reads files; a test that
// only probes with Probe or HTTPProbe writes none.
func (e *Env) StateFiles(t testing.TB) scenarios.Files {
	t.Helper()
	f, err := e.Files()
	if err != nil {
		t.Fatalf("scenariotest: state files: %v", err)
	}
	return f
}
