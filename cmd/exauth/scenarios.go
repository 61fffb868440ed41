package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"text/tabwriter"
	"time"

	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/internal/linelog"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

func cmdScenarios(_ context.Context, args []string, e env) int {
	fs := newCommand(e, "scenarios", "[--json]", "List the bundled scenarios and the verdict each should reach.", args)
	jsonOut := fs.Bool("json", false, "print every scenario with its logs and queue text as JSON")
	if _, code, done := fs.parse(args, 0); done {
		return code
	}
	all, err := scenarios.All()
	if err != nil {
		return usageError(e, "scenarios", err)
	}
	if *jsonOut {
		if err := writeJSON(e.stdout, all); err != nil {
			return usageError(e, "scenarios", err)
		}
		return 0
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEXPECTED VERDICT\tWHAT IT REPLAYS")
	for _, sc := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", sc.Name, sc.Expect, sc.Description)
	}
	tw.Flush()
	return 0
}

// probeScenario starts a scenario in-process and probes it: the one-command
// demonstration.
func probeScenario(ctx context.Context, p probeFlags, set map[string]bool, pos []string, e env) int {
	if len(pos) != 0 {
		return usageError(e, "probe", errors.New("--scenario takes no HOST: the scenario names its own hub"))
	}
	// The scenario brings its hub, KDC and credentials; flags that would
	// point the probe elsewhere contradict it rather than change it.
	for _, f := range []string{"connect", "cred", "krb5-conf", "realm", "kdc", "ccache", "keytab", "principal", "password-file", "ca-file", "ldap", "ldap-insecure-skip-verify"} {
		if set[f] {
			return usageError(e, "probe", fmt.Errorf("--%s cannot be used with --scenario: the scenario brings its own (use exauth serve and probe its probe_args to vary them)", f))
		}
	}
	sc, err := scenarios.Lookup(p.scenario)
	if err != nil {
		return usageError(e, "probe", err)
	}
	if sc.IsCAS() {
		return probeCASScenario(ctx, sc, p, set, e)
	}
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		return usageError(e, "probe", err)
	}
	defer lab.Close()
	cfg := lab.ProbeConfig()
	cfg.ShowSecrets = p.secrets
	if set["timeout"] {
		cfg.Timeout = p.timeout
	}
	if set["mech"] {
		cfg.Mech = verdict.Mech(p.mech)
	}
	if set["tls"] {
		cfg.TLS = verdict.TLSMode(p.tlsMode)
	}
	if set["spn"] {
		cfg.SPN = p.spn
	}
	if set["ehlo"] {
		cfg.EHLOName = p.ehlo
	}
	if set["require-trusted-cert"] {
		cfg.RequireTrustedCert = p.requireTrusted
	}
	if err := cfg.Validate(); err != nil {
		return usageError(e, "probe", err)
	}
	r := smtpprobe.Probe(ctx, cfg)
	if !p.jsonOut && p.format != "nagios" {
		fmt.Fprintf(e.stdout, "scenario %s: %s\n(expected verdict: %s)\n\n", sc.Name, sc.Description, sc.Expect)
	}
	return printReport(e, r, p)
}

// probeCASScenario probes a Client Access server scenario with the HTTP
// probe, as `exauth probe https://...` would.
func probeCASScenario(ctx context.Context, sc *scenarios.Scenario, p probeFlags, set map[string]bool, e env) int {
	for _, f := range []string{"mech", "tls", "ehlo", "spn", "require-trusted-cert"} {
		if set[f] {
			return usageError(e, "probe", fmt.Errorf("--%s is for SMTP probes; scenario %s replays a Client Access server (HTTPS)", f, sc.Name))
		}
	}
	lab, err := scenarios.Run(sc, scenarios.Options{})
	if err != nil {
		return usageError(e, "probe", err)
	}
	defer lab.Close()
	cfg := lab.HTTPProbeConfig()
	if set["timeout"] {
		cfg.Timeout = p.timeout
	}
	r := httpprobe.Probe(ctx, cfg)
	if !p.jsonOut {
		fmt.Fprintf(e.stdout, "scenario %s: %s\n(expected verdict: %s)\n\n", sc.Name, sc.Description, sc.Expect)
	}
	return printReport(e, r, p)
}

func cmdServe(ctx context.Context, args []string, e env) int {
	fs := newCommand(e, "serve", "[--scenario NAME|FILE] [flags]", `
Run a scenario's fake hub (or fake Client Access server) and fake KDC on
loopback until Ctrl-C or SIGTERM. When ready, print one JSON line with
the addresses, the files and the probe arguments to use (docs/json.md).`, args)
	name := fs.String("scenario", "healthy", "scenario `NAME|FILE` to replay")
	stateDir := fs.String("state-dir", "", "where to write krb5.conf, the client keytab and the CA (default: a temporary directory)")
	readyFile := fs.String("ready-file", "", "also write the ready JSON line to `FILE`")
	smtpAddr := fs.String("smtp", "127.0.0.1:0", "SMTP listen `ADDR`")
	kdcAddr := fs.String("kdc", "127.0.0.1:0", "KDC listen `ADDR` (TCP and UDP)")
	httpsAddr := fs.String("https", "127.0.0.1:0", "HTTPS listen `ADDR` of a Client Access server scenario")
	procs := fs.Int("procs", fakeserver.Procs, "run the fake servers on `N` processors (Go's GOMAXPROCS; default 1 unless GOMAXPROCS is set)")
	if _, code, done := fs.parse(args, 0); done {
		return code
	}
	if *procs < 1 {
		return usageError(e, "serve", fmt.Errorf("--procs %d: must be at least 1", *procs))
	}
	sc, err := scenarios.Lookup(*name)
	if err != nil {
		return usageError(e, "serve", err)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(fakeserver.GCPercent))
	// An explicit GOMAXPROCS in the environment is the user's choice,
	// which the default does not override; --procs given is.
	procsSet := false
	fs.Visit(func(f *flag.Flag) { procsSet = procsSet || f.Name == "procs" })
	if e.gomaxprocs != nil && (procsSet || e.getenv("GOMAXPROCS") == "") {
		defer e.gomaxprocs(e.gomaxprocs(*procs))
	}
	// Whoever reads serve's output going away (a closed pipe) ends it as
	// Ctrl-C does: cleanly, state directory removed.
	ctx, gone := context.WithCancel(ctx)
	defer gone()
	// The protocol log is buffered: a write per line cost the connector
	// more than the sessions it logs. Lines wait at most
	// linelog.FlushEvery, and every one is written before serve returns.
	log := linelog.New(e.stderr, func(error) { gone() })
	defer log.Close()
	lab, err := scenarios.Run(sc, scenarios.Options{StateDir: *stateDir, Logf: log.Printf, SMTPAddr: *smtpAddr, KDCAddr: *kdcAddr, HTTPSAddr: *httpsAddr})
	if err != nil {
		return usageError(e, "serve", err)
	}
	rl, err := readyOf(lab)
	if err != nil {
		lab.Close()
		return usageError(e, "serve", err)
	}
	ready, err := json.Marshal(rl)
	if err != nil {
		lab.Close()
		return usageError(e, "serve", err)
	}
	if *readyFile != "" {
		if err := writeFileAtomic(*readyFile, append(ready, '\n')); err != nil {
			lab.Close()
			return usageError(e, "serve", err)
		}
	}
	if _, err := fmt.Fprintf(e.stdout, "%s\n", ready); err != nil {
		gone()
	}
	if f, ok := e.stdout.(interface{ Sync() error }); ok {
		f.Sync()
	}
	if e.ready != nil {
		close(e.ready)
	}
	<-ctx.Done()
	log.Printf("exauth serve: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := lab.Shutdown(sctx); err != nil {
		log.Printf("exauth serve: shutdown: %v", err)
	}
	return 0
}

// writeFileAtomic writes through a temporary file so that a script polling
// for the ready file never reads half a line.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".exauth-ready-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readyLine is the line `exauth serve` prints once the lab is up
// (docs/json.md).
type readyLine struct {
	Scenario  string   `json:"scenario"`
	Expect    []string `json:"expect"`
	SMTP      string   `json:"smtp,omitempty"`
	HTTPS     string   `json:"https,omitempty"`
	URL       string   `json:"url,omitempty"`
	KDC       string   `json:"kdc"`
	KDCUDP    string   `json:"kdc_udp"`
	Realm     string   `json:"realm"`
	Host      string   `json:"host"`
	SPN       string   `json:"spn"`
	Krb5Conf  string   `json:"krb5_conf"`
	Keytab    string   `json:"keytab"`
	Principal string   `json:"principal"`
	CAFile    string   `json:"ca_file"`
	ProbeArgs []string `json:"probe_args"`
}

// readyOf is the ready line of a lab, whose state files it writes.
func readyOf(l *scenarios.Lab) (readyLine, error) {
	f, err := l.Files()
	if err != nil {
		return readyLine{}, err
	}
	r := readyLine{
		Scenario: l.Scenario.Name, Expect: []string{l.Scenario.Expect},
		KDC: l.KDC.TCPAddr(), KDCUDP: l.KDC.UDPAddr(), Realm: l.Realm, Host: l.Host, SPN: l.SPN,
		Krb5Conf: f.Krb5Conf, Keytab: f.ClientKeytab, Principal: l.Principal, CAFile: f.CAFile,
	}
	if l.CAS != nil {
		r.HTTPS, r.URL = l.CAS.Addr(), l.URL()
		hs, err := l.HTTPProbeSettings()
		if err != nil {
			return readyLine{}, err
		}
		c, err := l.Credentials()
		if err != nil {
			return readyLine{}, err
		}
		// An HTTP probe takes the SMTP probe's arguments that apply to it.
		r.ProbeArgs = probeArgs(smtpprobe.Settings{Host: hs.URL, Connect: hs.Connect, CAFile: hs.CAFile, Timeout: hs.Timeout, Credentials: c})
	} else {
		s, err := l.ProbeSettings()
		if err != nil {
			return readyLine{}, err
		}
		r.SMTP = l.Hub.Addr()
		r.ProbeArgs = probeArgs(s)
	}
	return r, nil
}

// probeArgs are the `exauth probe` arguments for s: what another process
// passes to probe a lab. Host may be a URL (a Client Access server lab).
func probeArgs(s smtpprobe.Settings) []string {
	args := []string{"probe", s.Host}
	add := func(flag, value string) {
		if value != "" {
			args = append(args, flag, value)
		}
	}
	add("--connect", s.Connect)
	add("--krb5-conf", s.Credentials.Krb5Conf)
	add("--keytab", s.Credentials.Keytab)
	add("--principal", s.Credentials.Principal)
	add("--ca-file", s.CAFile)
	add("--ehlo", s.EHLO)
	if s.Mech != "" && s.Mech != verdict.MechAuto {
		add("--mech", string(s.Mech))
	}
	if s.TLS != "" && s.TLS != verdict.TLSAuto {
		add("--tls", string(s.TLS))
	}
	if s.RequireTrustedCert {
		args = append(args, "--require-trusted-cert")
	}
	if s.Timeout != 0 {
		add("--timeout", s.Timeout.String())
	}
	return args
}
