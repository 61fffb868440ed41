// Command exauth finds out why one Exchange server cannot authenticate to
// another (ExchangeAuth / Kerberos), and replays such failures in a lab.
//
// Usage is in usage below and in README.md; the contract is docs/.

// ExchangeAuth binds its hash to the TLS session's EAP key, which Exchange
// (Schannel) computes on TLS 1.0-1.2 whether or not the peer negotiated the
// Extended Master Secret extension; Go's exporter refuses that without
// this setting (docs/exchangeauth.md).
//
//go:debug tlsunsafeekm=1

// Samba AD DCs generate their LDAPS certificate with a random serial number
// that is negative about half the time; Go refuses to parse such a
// certificate at all (even before --ldap-insecure-skip-verify could accept
// it) unless this is set. It relaxes parsing only, not verification.
//
//go:debug x509negativeserial=1
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

const usage = `exauth — why can't this Exchange server authenticate to that one?

Usage:
  exauth probe [flags] HOST[:PORT]     probe a receive connector (port 25 by default)
  exauth probe [flags] https://HOST/PATH  probe a Client Access server's internalURL (OWA, EWS, ...)
  exauth probe --scenario NAME|FILE    probe the fake hub or Client Access server replaying a scenario
  exauth serve --scenario NAME|FILE    run the fake hub (or CAS) + fake KDC for a lab or a script
  exauth scenarios [--json]            list the bundled scenarios
  exauth explain [TEXT|-] [--json]     classify a pasted queue error, NDR, event text or reply
  exauth check --plan FILE             run a lab validation plan
  exauth exporter --config FILE        serve probes to Prometheus (/probe, /metrics)
  exauth spn [flags] SPN               who holds an SPN in Active Directory (like setspn -Q)
  exauth spn --duplicates              SPNs held by more than one account (like setspn -X)
  exauth version

Run 'exauth COMMAND -h' for a command's flags.
Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown or usage error.
`

// version and commit are set at build time with -ldflags "-X
// main.version=... -X main.commit=..." (scripts/release); without them the
// commit comes from the Go toolchain's VCS stamp, when there is one.
var (
	version = "dev"
	commit  = ""
)

// env is what a command may touch: its streams and environment, so tests
// run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// ready, when set, is closed by serve once it has printed its ready
	// line (tests use it instead of sleeping).
	ready chan<- struct{}
	// json is set when the command line asks for --json: errors then
	// come as a JSON object on stdout too.
	json bool
	// goos is the system the credential defaults are for; "" is
	// runtime.GOOS (tests set "windows").
	goos string
	// gomaxprocs sets how many processors the process runs Go code on
	// and returns the previous number, as runtime.GOMAXPROCS does; nil
	// leaves them alone (in-process tests share the test binary's).
	gomaxprocs func(int) int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A closed pipe on stdout or stderr (exauth serve | head) is an error
	// on the write, which a command handles, not a signal that kills the
	// process before it cleans up (serve's keytab, a check's results).
	signal.Ignore(syscall.SIGPIPE)
	os.Exit(run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, gomaxprocs: runtime.GOMAXPROCS}))
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 3
	}
	cmd, rest := args[0], args[1:]
	e.json = jsonAsked(rest)
	switch cmd {
	case "probe":
		return cmdProbe(ctx, rest, e)
	case "serve":
		return cmdServe(ctx, rest, e)
	case "scenarios":
		return cmdScenarios(ctx, rest, e)
	case "explain":
		return cmdExplain(ctx, rest, e)
	case "check":
		return cmdCheck(ctx, rest, e)
	case "exporter":
		return cmdExporter(ctx, rest, e)
	case "spn":
		return cmdSPN(ctx, rest, e)
	case "version", "--version":
		return cmdVersion(rest, e)
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return 0
	default:
		fmt.Fprintf(e.stderr, "exauth: unknown command %q\n\n%s", cmd, usage)
		return 3
	}
}

// usageError prints a usage or setup problem and returns the unknown exit
// code; with --json it is also one JSON object on stdout.
func usageError(e env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "exauth %s: %v\n", cmd, err)
	if e.json {
		writeJSON(e.stdout, struct {
			Command  string `json:"command"`
			Error    string `json:"error"`
			ExitCode int    `json:"exit_code"`
		}{cmd, err.Error(), 3})
	}
	return 3
}

func jsonAsked(args []string) bool {
	for i, a := range args {
		switch a {
		case "--json", "-json", "--json=true", "-json=true", "--format=json", "-format=json":
			return true
		case "--format", "-format":
			if i+1 < len(args) && args[i+1] == "json" {
				return true
			}
		case "--":
			return false
		}
	}
	return false
}

// cmdVersion prints the version and the commit it was built from.
func cmdVersion(args []string, e env) int {
	c := newCommand(e, "version", "[--json]", "Print exauth's version and the commit it was built from.", args)
	jsonOut := c.Bool("json", false, "print the version as one JSON object")
	if _, code, done := c.parse(args, 0); done {
		return code
	}
	v := struct {
		Version string `json:"version"`
		Commit  string `json:"commit,omitempty"`
		Go      string `json:"go"`
	}{Version: version, Commit: commit, Go: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok && v.Commit == "" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	if *jsonOut {
		writeJSON(e.stdout, v)
		return 0
	}
	fmt.Fprintf(e.stdout, "exauth %s", v.Version)
	if v.Commit != "" {
		fmt.Fprintf(e.stdout, " (commit %s)", v.Commit)
	}
	fmt.Fprintf(e.stdout, " %s\n", v.Go)
	return 0
}
