package main

import (
	"bufio"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// figIdleMemory opens opts.conns connections to a connector running in a
// child process, waits until each has received the banner, and reads the
// child's VmRSS: the client sockets live in this process and are not
// counted.
func figIdleMemory() row {
	n := opts.conns
	r := row{figure: fmt.Sprintf("fake connector: RSS per idle connection at %d", n), target: "≤ 24 KiB"}
	if lim := noFileLimit(); lim < uint64(n+256) {
		r.skipped = fmt.Sprintf("RLIMIT_NOFILE is %d, %d connections need more: run as root or raise the hard limit (ulimit -Hn)", lim, n)
		return r
	}
	// MaxConnections above n: Exchange's default (5000) would refuse half.
	ch, err := startChild("hub", "fig6", "-maxconns", fmt.Sprint(n+1000))
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer ch.stop()
	// Warm the accept path and the session code once.
	if err := plainSession(ch.ready.SMTP); err != nil {
		r.failed = err.Error()
		return r
	}
	time.Sleep(300 * time.Millisecond)
	pid := ch.pid()
	memBefore, err := ch.mem("gc")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	rssBefore := vmRSS(pid)

	conns := make([]net.Conn, n)
	var next atomic.Int64
	var failed atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	t0 := time.Now()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := net.DialTimeout("tcp", ch.ready.SMTP, 10*time.Second)
				if err == nil {
					c.SetReadDeadline(time.Now().Add(30 * time.Second))
					s := &smtpConn{c: c, br: bufio.NewReaderSize(c, 512)}
					_, err = s.expect(220)
					c.SetReadDeadline(time.Time{})
				}
				if err != nil {
					failed.Add(1)
					errOnce.Do(func() { firstErr = err })
					if c != nil {
						c.Close()
					}
					continue
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	opened := time.Since(t0)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if f := failed.Load(); f > 0 {
		r.failed = fmt.Sprintf("%d of %d connections failed, first: %v", f, n, firstErr)
		return r
	}
	// Let the sessions settle into their idle read.
	time.Sleep(time.Second)
	rssIdle := vmRSS(pid)
	memIdle, err := ch.mem("mem")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	memGC, err := ch.mem("gc")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	per := float64(rssIdle-rssBefore) / float64(n) // KiB
	r.ours = fmt.Sprintf("%.1f KiB/conn", per)
	r.baseline = "—"
	r.passed = per <= 24
	r.notes = append(r.notes,
		fmt.Sprintf("child VmRSS %d KiB before, %d KiB with %d idle sessions (%d goroutines), %d KiB after a forced GC; opened in %s",
			rssBefore, rssIdle, n, memIdle.Goroutines, memGC.RSSKiB, opened.Round(time.Millisecond)),
		fmt.Sprintf("per connection: goroutine stacks %.1f KiB, heap in use %.1f KiB (after GC %.1f KiB)",
			kib(memIdle.StackInuse-memBefore.StackInuse, n), kib(memIdle.HeapInuse-memBefore.HeapInuse, n), kib(memGC.HeapInuse-memBefore.HeapInuse, n)))
	return r
}

func kib(b uint64, n int) float64 {
	if int64(b) < 0 {
		return 0
	}
	return float64(b) / 1024 / float64(n)
}
