//go:build !unix

package main

import (
	"errors"
	"os/exec"
	"time"
)

// Without Unix process groups exauth-bench could neither tell a server's
// CPU time from its load generator's nor stop a server with its workers
// (see proc_unix.go). It builds here so that the module does, but main
// exits with platformErr before any figure, and the stand-ins below fail
// with it or report nothing rather than panic.

// platformErr is why exauth-bench does not run here.
var platformErr = errors.New("the benchmark runs its servers as child processes and measures them with Unix process groups; run it on Linux")

func startInOwnProcessGroup(*exec.Cmd) error { return platformErr }

func terminateProcessGroup(int) error { return platformErr }

// selfCPU is 0: not known.
func selfCPU() time.Duration { return 0 }

func raiseNoFile(int) {}

func noFileLimit() uint64 { return 0 }
