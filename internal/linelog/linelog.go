// Package linelog buffers a busy log of lines, as `exauth serve`'s protocol
// log is: one write system call per line would cost a fake receive
// connector more than the SMTP session it logs (about fourteen lines per
// session). Lines are written in batches, at most FlushEvery after they
// were logged, and every line still buffered is written by Flush and Close:
// a clean shutdown loses none.
package linelog

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"
)

// FlushEvery is how long a line may wait in the buffer: short enough that
// someone watching the log sees a session as it happens.
const FlushEvery = 100 * time.Millisecond

// bufferSize holds a few hundred protocol-log lines: a full buffer is
// written at once, whatever the timer says.
const bufferSize = 64 << 10

// Writer is a buffered log of lines. Its methods may be called from any
// goroutine.
type Writer struct {
	onError func(error)
	every   time.Duration
	// afterFunc arms the flush timer; tests replace it to fire the timer
	// themselves.
	afterFunc func(time.Duration, func()) stopper

	mu     sync.Mutex
	w      *bufio.Writer
	timer  stopper // armed while lines wait in the buffer
	err    error   // the first write error; the log is then dead
	closed bool
}

type stopper interface{ Stop() bool }

// New returns a Writer that writes lines to w. onError, if not nil, is
// called once, with the first error writing to w (a closed pipe: whoever
// read the log went away); later lines are dropped.
func New(w io.Writer, onError func(error)) *Writer {
	return &Writer{
		onError:   onError,
		every:     FlushEvery,
		afterFunc: func(d time.Duration, f func()) stopper { return time.AfterFunc(d, f) },
		w:         bufio.NewWriterSize(w, bufferSize),
	}
}

// Printf logs one line: format and args as fmt.Printf has them, and a
// newline. Its signature is the Logf of fakeserver, fakekdc and scenarios.
func (l *Writer) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil || l.closed {
		return
	}
	if line, ok := preformatted(format, args); ok {
		l.w.WriteString(line)
	} else {
		fmt.Fprintf(l.w, format, args...)
	}
	l.w.WriteByte('\n')
	if l.timer == nil {
		l.timer = l.afterFunc(l.every, l.flushOnTimer)
	}
}

// preformatted recognises Printf("%s", line), how the fake connector
// passes its protocol-log lines, which fmt would only copy.
func preformatted(format string, args []any) (string, bool) {
	if format != "%s" || len(args) != 1 {
		return "", false
	}
	line, ok := args[0].(string)
	return line, ok
}

func (l *Writer) flushOnTimer() {
	l.mu.Lock()
	l.timer = nil
	failed := l.flushLocked()
	err := l.err
	l.mu.Unlock()
	l.report(failed, err)
}

// Flush writes every buffered line now.
func (l *Writer) Flush() error {
	l.mu.Lock()
	failed := l.flushLocked()
	err := l.err
	l.mu.Unlock()
	l.report(failed, err)
	return err
}

// Close writes every buffered line and stops the timer; later lines are
// dropped. It does not close the underlying writer.
func (l *Writer) Close() error {
	l.mu.Lock()
	l.closed = true
	failed := l.flushLocked()
	err := l.err
	l.mu.Unlock()
	l.report(failed, err)
	return err
}

// flushLocked writes the buffer and reports whether this write is the one
// that failed first.
func (l *Writer) flushLocked() (failed bool) {
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if l.err != nil {
		return false
	}
	// bufio.Writer also writes by itself when its buffer fills; a write
	// error there sticks and surfaces here.
	if err := l.w.Flush(); err != nil {
		l.err = err
		return true
	}
	return false
}

// report calls onError, outside the lock: it may log or shut down.
func (l *Writer) report(failed bool, err error) {
	if failed && l.onError != nil {
		l.onError(err)
	}
}
