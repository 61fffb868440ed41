package smtpprobe_test

import (
	"context"
	"fmt"
	"time"

	"github.com/exauth/exauth/internal/smtpreply"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// Probe a receive connector. Here it is the bundled fake hub replaying a
// receiving server whose clock is 7 minutes fast; against a real server
// the Config names the host and the Kerberos credentials.
func ExampleProbe() {
	sc, _ := scenarios.Bundled("clock-skew")
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lab.Close()

	report := smtpprobe.Probe(context.Background(), lab.ProbeConfig())
	fmt.Println(report.Verdict, report.Severity, report.ExitCode())
	// Output: clock-skew critical 2
}

// A real server: credentials from a keytab, as `kinit -k -t` would use.
func ExampleConfig() {
	cfg := smtpprobe.Config{
		Host:    "hub01.contoso.com",
		Connect: "10.0.0.11:25", // optional: dial this, name the SPN after Host
		Kerberos: kerberos.New(kerberos.Settings{
			Krb5Conf:  "/etc/krb5.conf",
			Keytab:    "/etc/exauth/hub02.keytab",
			Principal: "HUB02$@CONTOSO.COM",
		}),
		Timeout: 30 * time.Second,
	}
	fmt.Println(cfg.Validate())
	// Output: <nil>
}

// Diagnose judges an observation without any network: here, what a probe
// would record from a connector that does not offer X-EXPS.
func ExampleDiagnose() {
	ehlo := smtpreply.Reply{Code: 250, Lines: []string{"hub01 Hello", "SIZE 37748736", "STARTTLS", "AUTH NTLM"}}
	obs := &verdict.Observation{
		Target: "hub01.contoso.com",
		EHLO:   &verdict.EHLOObservation{Reply: ehlo, Capabilities: smtpreply.ParseEHLO(ehlo)},
	}
	d := verdict.Diagnose(obs)
	fmt.Println(d.Verdict)
	fmt.Println(d.Summary)
	// Output:
	// exchange-auth-disabled
	// hub01.contoso.com does not offer X-EXPS: Exchange Server authentication is off on the receive connector (or a firewall strips it)
}
