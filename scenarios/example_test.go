package scenarios_test

import (
	"context"
	"fmt"
	"net/smtp"

	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
)

// Outside tests (a lab script, another harness), Run starts a scenario and
// Close stops it.
func ExampleRun() {
	sc, err := scenarios.Bundled("clock-skew")
	if err != nil {
		fmt.Println(err)
		return
	}
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lab.Close()

	report := smtpprobe.Probe(context.Background(), lab.ProbeConfig())
	fmt.Println(report.Verdict, report.ExitCode())
	// Output: clock-skew 2
}

// A scenario built in Go: a bundled one with one thing changed. A hub three
// minutes fast still authenticates, with a warning.
func ExampleRun_builtInGo() {
	sc, _ := scenarios.Bundled("healthy")
	sc.Name = "three-minutes-fast"
	sc.Hub.ClockOffset = scenarios.Duration(3 * 60e9)
	if err := sc.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lab.Close()

	report := smtpprobe.Probe(context.Background(), lab.ProbeConfig())
	fmt.Println(report.Verdict, report.Severity)
	// Output: ok warning
}

// The fake hub is an SMTP server like any other: your own mail code can talk
// to it.
func ExampleLab_smtp() {
	sc, _ := scenarios.Bundled("healthy")
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lab.Close()

	c, err := smtp.Dial(lab.Hub.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	c.Hello("hub02.lab.test")
	ok, params := c.Extension("X-EXPS")
	fmt.Println(ok, params)
	// Output: true GSSAPI NTLM
}
