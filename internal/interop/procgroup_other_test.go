//go:build interop && !unix

package interop

import (
	"errors"
	"os/exec"
)

// The peers are Unix daemons, run and stopped by their process groups (see
// procgroup_unix_test.go): the suite compiles everywhere, and startProc
// fails here.

var errNoProcessGroups = errors.New("the interop peers run in Unix process groups; run this suite on Linux")

func startInOwnProcessGroup(*exec.Cmd) error { return errNoProcessGroups }

func terminateProcess(int) error { return errNoProcessGroups }

func killProcessGroup(int) error { return errNoProcessGroups }
