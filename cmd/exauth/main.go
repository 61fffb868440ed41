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
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `exauth — why can't this Exchange server authenticate to that one?

Usage:
  exauth probe [flags] HOST[:PORT]     probe a receive connector (port 25 by default)
  exauth probe --scenario NAME|FILE    probe the bundled fake hub replaying a scenario
  exauth serve --scenario NAME|FILE    run the fake hub + fake KDC for a lab or a script
  exauth scenarios [--json]            list the bundled scenarios
  exauth explain [TEXT|-] [--json]     classify a pasted queue error, NDR, event text or reply
  exauth check --plan FILE             run a lab validation plan
  exauth version

Run 'exauth COMMAND -h' for a command's flags.
Exit codes: 0 ok, 1 warning, 2 critical, 3 unknown or usage error.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// env is what a command may touch: its streams and environment, so tests
// run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// ready, when set, is closed by serve once it has printed its ready
	// line (tests use it instead of sleeping).
	ready chan<- struct{}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}))
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, e env) int {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usage)
		return 3
	}
	cmd, rest := args[0], args[1:]
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
	case "version", "--version":
		fmt.Fprintf(e.stdout, "exauth %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, usage)
		return 0
	default:
		fmt.Fprintf(e.stderr, "exauth: unknown command %q\n\n%s", cmd, usage)
		return 3
	}
}

// usageError prints a usage problem and returns the unknown exit code.
func usageError(e env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "exauth %s: %v\n", cmd, err)
	return 3
}
