//go:build unix

package main

import (
	"os/exec"
	"syscall"
	"time"
)

// The Unix system calls exauth-bench measures with: process groups (each
// server runs as the leader of one of its own, so that groupCPU accounts
// for it and its workers alone, and so that stopping it stops them too),
// this process's CPU time, and its file limit. proc_other.go stands in for
// them where they do not exist.

// platformErr is nil: exauth-bench runs here.
var platformErr error

// startInOwnProcessGroup starts cmd as the leader of a new process group,
// whose ID is its PID.
func startInOwnProcessGroup(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.Start()
}

// terminateProcessGroup sends SIGTERM to every process in the group pgid.
func terminateProcessGroup(pgid int) error { return syscall.Kill(-pgid, syscall.SIGTERM) }

// selfCPU is this process's CPU time (user+system).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseNoFile lifts RLIMIT_NOFILE for the 10,000 idle connections of
// figure 6 (children inherit it).
func raiseNoFile(n int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur >= uint64(n) {
		return
	}
	want := lim
	want.Cur = uint64(n)
	if want.Max < want.Cur {
		want.Max = want.Cur // works as root (CAP_SYS_RESOURCE)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		lim.Cur = lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

func noFileLimit() uint64 {
	var lim syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return lim.Cur
}
