// Package clock is exauth's one abstraction of time.
//
// Kerberos and Exchange failures are often about clocks that disagree: a
// receiving hub seven minutes ahead, a KDC ten minutes behind. Every part of
// exauth that reads the time (the fake connector's banner, the fake KDC, the
// GSSAPI acceptor, the probe's own measurements) takes a Clock so that tests
// and scenarios can set each clock independently and deterministically.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// System is the host's real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Offset is a clock that runs a fixed duration ahead of (positive) or behind
// (negative) another clock. A scenario's "clock seven minutes ahead" is
// Offset{Base: System{}, By: 7 * time.Minute}.
type Offset struct {
	Base Clock
	By   time.Duration
}

// Now returns Base.Now() shifted by By. A nil Base means the system clock.
func (o Offset) Now() time.Time {
	base := o.Base
	if base == nil {
		base = System{}
	}
	return base.Now().Add(o.By)
}

// Fake is a manually driven clock for tests. The zero value is not useful;
// use NewFake. It is safe for concurrent use.
type Fake struct {
	mu  sync.Mutex
	now time.Time
}

// NewFake returns a Fake set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

// Set moves the fake time to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = t
}

// Or returns c, or the system clock when c is nil, so that every
// configuration struct can leave its clock unset.
func Or(c Clock) Clock {
	if c == nil {
		return System{}
	}
	return c
}
