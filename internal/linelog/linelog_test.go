package linelog

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// manualTimer is a flush timer the test fires itself.
type manualTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

func (t *manualTimer) Stop() bool { t.stopped = true; return true }

func newManual(l *Writer) *[]*manualTimer {
	var timers []*manualTimer
	l.afterFunc = func(d time.Duration, f func()) stopper {
		t := &manualTimer{d: d, f: f}
		timers = append(timers, t)
		return t
	}
	return &timers
}

func TestWriter_TimerFlushesWaitingLines(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, nil)
	timers := newManual(l)
	l.Printf("a %d", 1)
	l.Printf("b %s", "two")
	if out.Len() != 0 {
		t.Fatalf("written before the timer: %q", out.String())
	}
	if len(*timers) != 1 || (*timers)[0].d != FlushEvery {
		t.Fatalf("%d timers armed, want one of %v", len(*timers), FlushEvery)
	}
	(*timers)[0].f()
	if got := out.String(); got != "a 1\nb two\n" {
		t.Fatalf("after the timer: %q", got)
	}
	// The next line arms a new timer.
	l.Printf("c")
	if len(*timers) != 2 {
		t.Fatalf("%d timers, want 2", len(*timers))
	}
}

func TestWriter_CloseFlushesAndDropsLaterLines(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, nil)
	timers := newManual(l)
	l.Printf("last line")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "last line\n" {
		t.Fatalf("after Close: %q", out.String())
	}
	if !(*timers)[0].stopped {
		t.Error("Close left the timer armed")
	}
	l.Printf("after close")
	if out.String() != "last line\n" {
		t.Fatalf("a line after Close was written: %q", out.String())
	}
}

func TestWriter_FullBufferIsWrittenAtOnce(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, nil)
	newManual(l)
	line := strings.Repeat("x", 1023)
	for range bufferSize/1024 + 1 {
		l.Printf("%s", line)
	}
	if out.Len() == 0 {
		t.Fatal("a full buffer waited for the timer")
	}
	l.Flush()
	if out.Len() != (bufferSize/1024+1)*1024 {
		t.Fatalf("%d bytes written", out.Len())
	}
}

type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriter_WriteErrorReportedOnce(t *testing.T) {
	var calls int
	l := New(brokenPipe{}, func(error) { calls++ })
	newManual(l)
	l.Printf("one")
	if err := l.Flush(); err == nil {
		t.Fatal("Flush: no error")
	}
	l.Printf("two")
	l.Flush()
	l.Close()
	if calls != 1 {
		t.Fatalf("onError called %d times, want 1", calls)
	}
}

// TestWriter_ConcurrentLinesStayWhole: lines logged from many goroutines
// come out whole, each once (run with -race).
func TestWriter_ConcurrentLinesStayWhole(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				l.Printf("goroutine %d line %d", g, i)
			}
		}()
	}
	wg.Wait()
	l.Close()
	seen := map[string]bool{}
	for _, s := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if seen[s] {
			t.Fatalf("line %q twice", s)
		}
		seen[s] = true
	}
	for g := range 8 {
		for i := range 500 {
			if !seen[fmt.Sprintf("goroutine %d line %d", g, i)] {
				t.Fatalf("line %d of goroutine %d lost", i, g)
			}
		}
	}
}
