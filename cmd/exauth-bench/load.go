package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadResult is one side of a closed-loop measurement.
type loadResult struct {
	ops, errs int64
	elapsed   time.Duration // measured time, summed over the side's rounds
	cpu       time.Duration // server CPU time (user+system) in those rounds
	clientCPU time.Duration // this process's (the load generator's) CPU time
	firstErr  error
}

func (r loadResult) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// cpuPerOp is the server's CPU time per operation.
func (r loadResult) cpuPerOp() time.Duration {
	if r.ops == 0 || r.cpu <= 0 {
		return 0
	}
	return r.cpu / time.Duration(r.ops)
}

func (r loadResult) String() string {
	s := fmt.Sprintf("%.0f/s (%d in %s)", r.rate(), r.ops, r.elapsed.Round(time.Millisecond))
	if c := r.cpuPerOp(); c > 0 {
		s += fmt.Sprintf(", server CPU %s/op (%.0f%% of one core)", us(c), 100*r.cpu.Seconds()/r.elapsed.Seconds())
	}
	if r.ops > 0 && r.clientCPU > 0 {
		s += fmt.Sprintf(", load generator CPU %s/op", us(r.clientCPU/time.Duration(r.ops)))
	}
	if r.errs > 0 {
		s += fmt.Sprintf(", %d errors, first: %v", r.errs, r.firstErr)
	}
	return s
}

// side is one thing measured by runPaired: the operation and how to read
// its server's CPU time.
type side struct {
	name string
	op   func(worker int) error
	cpu  func() time.Duration // nil: not known
}

// runPaired measures two sides — ours and its baseline — in alternating
// rounds (A B A B ...), opts.duration per side in total, on one pool of
// clients goroutines in a closed loop. Alternating short rounds exposes
// both sides to the same background load, so their ratio survives a busy
// machine. Each round begins with an unmeasured settle time in which the
// previous side's operations in flight finish; only operations that start
// and end inside a measured round count. The client-side CPU profile (with
// -cpuprofile) carries the label side=<name>: pprof -tagfocus separates
// them.
func runPaired(clients int, profile string, sides ...side) []loadResult {
	const settle = 250 * time.Millisecond
	rounds := max(1, int(opts.duration/time.Second))
	roundTime := opts.duration / time.Duration(rounds)
	// state packs (round, side, measuring): an operation counts when the
	// state did not change while it ran and was a measuring state.
	var state atomic.Int64
	const stopped = -1
	pack := func(round, s int, measuring bool) int64 {
		v := int64(round)<<16 | int64(s)<<1
		if measuring {
			v |= 1
		}
		return v
	}
	res := make([]loadResult, len(sides))
	var mu sync.Mutex
	var ops, errs [8]atomic.Int64
	var wg sync.WaitGroup
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				st := state.Load()
				if st == stopped {
					return
				}
				i := int(st>>1) & 0x7fff
				var err error
				pprof.Do(context.Background(), pprof.Labels("side", sides[i].name), func(context.Context) {
					err = sides[i].op(w)
				})
				if st&1 == 0 || state.Load() != st {
					if err != nil && st&1 == 0 {
						// A failure while settling still says something.
						mu.Lock()
						if res[i].firstErr == nil {
							res[i].firstErr = fmt.Errorf("while settling: %w", err)
						}
						mu.Unlock()
					}
					continue
				}
				if err != nil {
					errs[i].Add(1)
					mu.Lock()
					if res[i].firstErr == nil {
						res[i].firstErr = err
					}
					mu.Unlock()
					continue
				}
				ops[i].Add(1)
			}
		}()
	}
	// Warm-up: every side once.
	for i := range sides {
		state.Store(pack(0, i, false))
		time.Sleep(opts.warmup / time.Duration(len(sides)))
	}
	stop := startProfile(profile)
	for r := 1; r <= rounds; r++ {
		for i, sd := range sides {
			state.Store(pack(r, i, false))
			time.Sleep(settle)
			var cpu0 time.Duration
			if sd.cpu != nil {
				cpu0 = sd.cpu()
			}
			self0 := selfCPU()
			start := time.Now()
			state.Store(pack(r, i, true))
			time.Sleep(roundTime)
			state.Store(pack(r, i, false))
			res[i].elapsed += time.Since(start)
			res[i].clientCPU += selfCPU() - self0
			if sd.cpu != nil {
				res[i].cpu += sd.cpu() - cpu0
			}
		}
	}
	state.Store(stopped)
	stop()
	wg.Wait()
	for i := range res {
		res[i].ops, res[i].errs = ops[i].Load(), errs[i].Load()
	}
	return res
}

// groupCPU returns the CPU time (user+system) of every process in the
// process group pgid: a Go child, or krb5kdc and its -w workers.
func groupCPU(pgid int) func() time.Duration {
	return func() time.Duration {
		var total time.Duration
		ents, _ := os.ReadDir("/proc")
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// Fields after the command name, which is in parentheses.
			i := strings.LastIndexByte(string(b), ')')
			if i < 0 {
				continue
			}
			f := strings.Fields(string(b[i+1:]))
			// f[0] state, f[2] pgrp, f[11] utime, f[12] stime (clock ticks)
			if len(f) < 13 {
				continue
			}
			if pg, _ := strconv.Atoi(f[2]); pg != pgid {
				continue
			}
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			stt, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(ut+stt) * time.Second / clockTicks
		}
		return total
	}
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// startProfile starts a CPU profile of this process into -cpuprofile/name
// and returns the function that stops it.
func startProfile(name string) func() {
	if opts.profileDir == "" || name == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(opts.profileDir, name+"-client.pprof"))
	if err != nil {
		logf("cpuprofile: %v", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		logf("cpuprofile: %v", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// childProfile is the file a server child writes its profile to, or "".
func childProfile(name string) string {
	if opts.profileDir == "" {
		return ""
	}
	return filepath.Join(opts.profileDir, name+"-server.pprof")
}

// timeLoop calls op sequentially for d and returns every duration.
func timeLoop(d time.Duration, op func() (time.Duration, error)) ([]time.Duration, error) {
	var out []time.Duration
	end := time.Now().Add(d)
	for time.Now().Before(end) || len(out) < 5 {
		t, err := op()
		if err != nil {
			return out, err
		}
		out = append(out, t)
	}
	return out, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func us(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

// --- SMTP client lines -----------------------------------------------------

// smtpConn is the lean load generator's SMTP side: a command line out, the
// reply's code back; nothing is parsed beyond what the session needs.
type smtpConn struct {
	c  net.Conn
	br *bufio.Reader
}

// readReply reads one (possibly multi-line) reply and returns its code and
// last line.
func (s *smtpConn) readReply() (int, string, error) {
	for {
		line, err := s.br.ReadSlice('\n')
		if err != nil {
			return 0, "", err
		}
		if len(line) < 4 {
			return 0, "", fmt.Errorf("short reply line %q", line)
		}
		if line[3] == ' ' || line[3] == '\r' {
			code, err := strconv.Atoi(string(line[:3]))
			if err != nil {
				return 0, "", fmt.Errorf("bad reply %q", line)
			}
			return code, strings.TrimRight(string(line[4:]), "\r\n"), nil
		}
	}
}

// expect reads a reply and checks its code.
func (s *smtpConn) expect(code int) (string, error) {
	got, text, err := s.readReply()
	if err != nil {
		return "", err
	}
	if got != code {
		return text, fmt.Errorf("reply %d %s, want %d", got, text, code)
	}
	return text, nil
}

// cmd sends one command line and checks the reply's code.
func (s *smtpConn) cmd(line string, code int) (string, error) {
	if _, err := s.c.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	return s.expect(code)
}

// --- machine -----------------------------------------------------------------

func printMachine() {
	fmt.Println("machine:")
	fmt.Printf("  nproc %d, GOMAXPROCS %d\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, v, _ := strings.Cut(l, ":")
				fmt.Printf("  CPU %s\n", strings.TrimSpace(v))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		fmt.Printf("  %s\n", strings.Join(strings.Fields(l), " "))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		fmt.Printf("  kernel %s\n", strings.TrimSpace(string(b)))
	}
	fmt.Printf("  %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, p := range []string{"postfix", "krb5-kdc", "krb5-admin-server", "krb5-user"} {
		out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", p).Output()
		v := strings.TrimSpace(string(out))
		if err != nil || v == "" {
			v = "not installed"
		}
		fmt.Printf("  %s %s\n", p, v)
	}
	fmt.Printf("  RLIMIT_NOFILE %d\n", noFileLimit())
}

// haveTool reports whether an external program exists, with the reason
// to print when it does not.
func haveTool(path, pkg string) (bool, string) {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, fmt.Sprintf("%s not found: install the Debian package %s (as root: .ci/install-peers)", path, pkg)
		}
		return false, err.Error()
	}
	return true, ""
}

// freePort returns a loopback port that was free a moment ago, for
// servers that cannot be told to pick one (krb5kdc, smtp-sink).
func freePort() (int, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		// krb5kdc also binds UDP on the port.
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		pc.Close()
		return port, nil
	}
	return 0, errors.New("no free port")
}

// waitListening waits until addr accepts TCP connections.
func waitListening(addr string, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s not listening after %s: %w", addr, d, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
