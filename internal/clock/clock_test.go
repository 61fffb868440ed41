package clock

import (
	"testing"
	"time"
)

func TestOffsetAndFake(t *testing.T) {
	base := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	f := NewFake(base)
	hub := Offset{Base: f, By: 7 * time.Minute}
	if got := hub.Now(); !got.Equal(base.Add(7 * time.Minute)) {
		t.Fatalf("offset clock %v", got)
	}
	f.Advance(time.Second)
	if got := hub.Now(); !got.Equal(base.Add(7*time.Minute + time.Second)) {
		t.Fatalf("offset clock does not follow its base: %v", got)
	}
	f.Set(base)
	if !f.Now().Equal(base) {
		t.Fatal("Set")
	}
	if _, ok := Or(nil).(System); !ok || Or(f) != Clock(f) {
		t.Fatal("Or")
	}
	if d := (Offset{By: time.Hour}).Now().Sub(time.Now()); d < 59*time.Minute || d > 61*time.Minute {
		t.Fatalf("Offset with nil base: %v", d)
	}
}
