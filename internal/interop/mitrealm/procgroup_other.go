//go:build !unix

package mitrealm

import (
	"errors"
	"os/exec"
)

// Without Unix process groups Stop could not reach krb5kdc's workers (see
// procgroup_unix.go), and MIT's KDC is a Unix program anyway: this package
// builds everywhere so that its importers do, but Start fails here.

var errNoProcessGroups = errors.New("krb5kdc runs in its own Unix process group, so that stopping it stops its workers; run the MIT realm on Linux")

func startInOwnProcessGroup(*exec.Cmd) error { return errNoProcessGroups }

func terminateProcessGroup(int) error { return errNoProcessGroups }

func killProcessGroup(int) error { return errNoProcessGroups }
