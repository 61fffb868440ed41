package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// probeFlags are `exauth probe`'s flags (README.md, docs/).
type probeFlags struct {
	credentialFlags
	connect, mech, spn, tlsMode, ehlo         string
	caFile, scenario, ldap, format            string
	requireTrusted, jsonOut, verbose, secrets bool
	ldapInsecure                              bool
	timeout                                   time.Duration
}

func (p *probeFlags) register(fs *command) {
	fs.StringVar(&p.connect, "connect", "", "dial `ADDR` instead of resolving HOST; HOST still names the SPN and TLS server name")
	fs.StringVar(&p.mech, "mech", "auto", "auto|exchangeauth|gssapi|auth: auto chooses as an Exchange 2007+ sender does (X-EXPS EXCHANGEAUTH inside X-ANONYMOUSTLS, else X-EXPS GSSAPI, else AUTH GSSAPI); xexps = gssapi")
	fs.StringVar(&p.spn, "spn", "", "service principal (default SMTPSVC/<the name the server advertises in EHLO> for X-EXPS, SMTP/HOST for AUTH)")
	fs.StringVar(&p.tlsMode, "tls", "auto", "auto|anonymous|starttls|none")
	fs.StringVar(&p.ehlo, "ehlo", "", "`NAME` sent in EHLO (default this host's FQDN); ExchangeAuth's reverse ticket is for SMTPSVC/NAME")
	p.credentialFlags.register(fs)
	fs.StringVar(&p.caFile, "ca-file", "", "trust anchors for the server certificate (PEM `FILE`)")
	fs.BoolVar(&p.requireTrusted, "require-trusted-cert", false, "make an untrusted certificate a failure")
	fs.StringVar(&p.ldap, "ldap", "auto", "auto|off|`URL[,URL...]`: read Active Directory (with the probe's Kerberos credentials) when the verdict needs it — who holds the SPN, key versions on each DC; auto finds the realm's DCs in DNS, else the KDC's host, over ldaps://")
	fs.BoolVar(&p.ldapInsecure, "ldap-insecure-skip-verify", false, "accept any ldaps:// certificate (a lab DC's self-signed one); the Kerberos bind still authenticates the DC")
	p.timeout = 30 * time.Second
	fs.Var(durationFlag{&p.timeout}, "timeout", "bound for the whole probe, a `DURATION` such as 30s")
	fs.BoolVar(&p.jsonOut, "json", false, "print the report as one JSON object (= --format json)")
	fs.StringVar(&p.format, "format", "text", "text|json|nagios: nagios prints a monitoring-plugin status line with performance data (Nagios, Icinga; exit codes as always)")
	fs.BoolVar(&p.verbose, "verbose", false, "print the transcript")
	fs.BoolVar(&p.secrets, "show-secrets", false, "include authentication tokens in the transcript")
	fs.StringVar(&p.scenario, "scenario", "", "probe the fake hub (or Client Access server) replaying scenario `NAME|FILE`")
}

func cmdProbe(ctx context.Context, args []string, e env) int {
	fs := newCommand(e, "probe", "[flags] HOST[:PORT] | https://HOST/PATH | --scenario NAME|FILE", `
Probe a receive connector as a sending Exchange server does: EHLO,
X-ANONYMOUSTLS, EHLO, then X-EXPS EXCHANGEAUTH (or X-EXPS GSSAPI, AUTH
GSSAPI) with real Kerberos, and end in one verdict with evidence and what
to do. HOST names the server (port 25 unless given); --connect dials
another address. An https:// URL (a Client Access server's internalURL:
/owa, /EWS/Exchange.asmx, ...) probes the HTTP path between Client Access
servers instead: HTTPS with the certificate checked, IIS's providers,
then Negotiate with Kerberos for HTTP/HOST. Exit codes: 0 ok, 1
warning, 2 critical, 3 unknown.`, args)
	var p probeFlags
	p.register(fs)
	pos, code, done := fs.parse(args, 1)
	if done {
		return code
	}
	if err := p.checkFormat(); err != nil {
		return usageError(e, "probe", err)
	}
	if p.scenario != "" {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		return probeScenario(ctx, p, set, pos, e)
	}
	if len(pos) != 1 {
		return usageError(e, "probe", errors.New("want exactly one HOST[:PORT] or https:// URL (or --scenario NAME)"))
	}
	if strings.Contains(pos[0], "://") {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		return probeHTTP(ctx, p, set, pos[0], e)
	}
	cfg, err := p.config(pos[0], e)
	if err != nil {
		return usageError(e, "probe", err)
	}
	return printReport(e, smtpprobe.Probe(ctx, cfg), p)
}

// probeHTTP probes a Client Access server's URL: the HTTP path between
// CAS servers (httpprobe), with the same credentials, trust anchors and
// budget as an SMTP probe.
func probeHTTP(ctx context.Context, p probeFlags, set map[string]bool, raw string, e env) int {
	for _, f := range []string{"mech", "tls", "ehlo", "spn", "ldap", "ldap-insecure-skip-verify", "require-trusted-cert"} {
		if set[f] {
			return usageError(e, "probe", fmt.Errorf("--%s is for SMTP probes, not a URL (HTTPS is checked strictly, as a proxying Client Access server with AllowInternalUntrustedCerts=0 does)", f))
		}
	}
	s := httpprobe.Settings{URL: raw, Connect: p.connect, CAFile: p.caFile, Timeout: p.timeout}
	cfg, err := s.Config(nil, nil)
	if err != nil {
		return usageError(e, "probe", smtpprobe.SpellFields(err, flagOf))
	}
	k, err := p.credentialFlags.kerberos(e)
	if err != nil {
		return usageError(e, "probe", err)
	}
	cfg.Kerberos = k
	return printReport(e, httpprobe.Probe(ctx, cfg), p)
}

// checkFormat reconciles --json with --format.
func (p *probeFlags) checkFormat() error {
	switch p.format {
	case "text", "json", "nagios":
	default:
		return fmt.Errorf("unknown --format %q (want text, json or nagios)", p.format)
	}
	if p.jsonOut && p.format != "text" && p.format != "json" {
		return fmt.Errorf("--json and --format %s: choose one", p.format)
	}
	if p.format == "json" {
		p.jsonOut = true
	}
	return nil
}

func printReport(e env, r *verdict.Report, p probeFlags) int {
	if p.format == "nagios" {
		writeNagios(e.stdout, r)
		return r.ExitCode()
	}
	if p.jsonOut {
		if err := writeJSON(e.stdout, r); err != nil {
			return usageError(e, "probe", err)
		}
	} else {
		writeReport(e.stdout, r, p.verbose)
	}
	return r.ExitCode()
}

// config turns flags into a probe configuration through the one path every
// front end uses (smtpprobe.Settings). Secrets come from files or the
// environment, never from argv.
func (p probeFlags) config(host string, e env) (smtpprobe.Config, error) {
	mech, tlsMode := verdict.Mech(p.mech), verdict.TLSMode(p.tlsMode)
	if !mech.Valid() {
		return smtpprobe.Config{}, fmt.Errorf("unknown --mech %q (want "+verdict.MechChoices+")", p.mech)
	}
	if !tlsMode.Valid() {
		return smtpprobe.Config{}, fmt.Errorf("unknown --tls %q (want auto, anonymous, starttls or none)", p.tlsMode)
	}
	s := smtpprobe.Settings{
		Host: host, Connect: p.connect, SPN: p.spn, EHLO: p.ehlo, Mech: mech, TLS: tlsMode,
		CAFile: p.caFile, RequireTrustedCert: p.requireTrusted, Timeout: p.timeout, ShowSecrets: p.secrets,
		LDAP: p.ldap, LDAPInsecureSkipVerify: p.ldapInsecure,
		Credentials: p.credentialFlags.settings(e),
	}
	k, err := p.credentialFlags.kerberos(e)
	if err != nil {
		return smtpprobe.Config{}, err
	}
	cfg, err := s.Config(k, nil)
	return cfg, smtpprobe.SpellFields(err, flagOf)
}

// flagOf names the command-line spelling of each smtpprobe.Settings field.
var flagOf = map[string]string{
	"Host": "HOST", "URL": "URL", "Connect": "--connect", "SPN": "--spn", "EHLO": "--ehlo", "Mech": "--mech", "TLS": "--tls",
	"CAFile": "--ca-file", "Timeout": "--timeout", "StepTimeout": "--timeout",
	"Krb5Conf": "--krb5-conf", "Realm": "--realm", "KDC": "--kdc", "CCache": "--ccache",
	"Keytab": "--keytab", "Principal": "--principal", "PasswordFile": "--password-file",
	"Password": "EXAUTH_PASSWORD", "LDAP": "--ldap",
}
