//go:build unix

package mitrealm

import (
	"os/exec"
	"syscall"
)

// krb5kdc -w forks worker processes, which a signal to krb5kdc alone would
// leave running. Start therefore makes krb5kdc the leader of a process
// group of its own, and Stop signals that whole group.

// startInOwnProcessGroup starts cmd as the leader of a new process group,
// whose ID is its PID.
func startInOwnProcessGroup(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}

// terminateProcessGroup sends SIGTERM to every process in the group pgid.
func terminateProcessGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGTERM) }

// killProcessGroup sends SIGKILL to every process in the group pgid.
func killProcessGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGKILL) }
