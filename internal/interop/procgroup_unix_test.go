//go:build interop && unix

package interop

import (
	"os/exec"
	"syscall"
)

// Postfix's master signals its own process group on shutdown, and a peer
// that ignores SIGTERM must not leave its children behind: startProc runs
// each peer as the leader of a process group of its own, which proc.stop
// kills as a whole.

// startInOwnProcessGroup starts cmd as the leader of a new process group,
// whose ID is its PID.
func startInOwnProcessGroup(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}

// terminateProcess sends SIGTERM to the process pid alone.
func terminateProcess(pid int) error { return syscall.Kill(pid, syscall.SIGTERM) }

// killProcessGroup sends SIGKILL to every process in the group pgid.
func killProcessGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGKILL) }
