package krbclient

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/clock"
)

// tick is a remembered ticket: due for renewal at renew, expired at end.
type tick struct {
	name       string
	renew, end time.Time
}

// TestShare_RenewalDoesNotBlock: while one caller renews a ticket that is
// due but not expired, the others take the old one at once; after a failed
// renewal the old ticket serves until it expires, and the failure is asked
// again after the retry interval.
func TestShare_RenewalDoesNotBlock(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	const retry = time.Minute
	state := func(v *tick, err error, done time.Time) (bool, bool) {
		now := clk.Now()
		if err != nil {
			return now.Sub(done) < retry, false
		}
		return v.renew.After(now), v.end.After(now)
	}
	var mu sync.Mutex
	m := map[string]*flight[*tick]{}
	ctx := context.Background()
	ask := func(fn func(context.Context) (*tick, error)) (*tick, error) {
		return share(ctx, clk, &mu, m, "SMTPSVC/hub01", state, fn)
	}
	never := func(context.Context) (*tick, error) {
		t.Error("asked the KDC although a usable ticket was remembered")
		return nil, errors.New("unexpected")
	}
	first := &tick{"first", t0.Add(9 * time.Hour), t0.Add(10 * time.Hour)}
	if got, _ := ask(func(context.Context) (*tick, error) { return first, nil }); got != first {
		t.Fatal("first ticket not returned")
	}
	if got, _ := ask(never); got != first {
		t.Fatal("fresh ticket not shared")
	}

	// Due for renewal: one caller renews, blocked on the KDC; another gets
	// the first ticket without waiting.
	clk.Set(t0.Add(9*time.Hour + time.Minute))
	started, release := make(chan struct{}), make(chan struct{})
	second := &tick{"second", t0.Add(18 * time.Hour), t0.Add(19 * time.Hour)}
	renewed := make(chan *tick)
	go func() {
		got, _ := ask(func(context.Context) (*tick, error) {
			close(started)
			<-release
			return second, nil
		})
		renewed <- got
	}()
	<-started
	if got, err := ask(never); got != first || err != nil {
		t.Errorf("during the renewal: %v, %v; want the first ticket", got, err)
	}
	close(release)
	if got := <-renewed; got != second {
		t.Errorf("the renewing caller got %v", got)
	}
	if got, _ := ask(never); got != second {
		t.Errorf("after the renewal: %v", got)
	}

	// A renewal that fails: the second ticket serves until it expires; the
	// failure is remembered for the retry interval, then asked again.
	clk.Set(t0.Add(18*time.Hour + time.Minute))
	kdcDown := errors.New("KDC unreachable")
	calls := 0
	down := func(context.Context) (*tick, error) { calls++; return nil, kdcDown }
	for range 3 {
		if got, err := ask(down); got != second || err != nil {
			t.Fatalf("with the KDC down: %v, %v; want the second ticket", got, err)
		}
	}
	if calls != 1 {
		t.Errorf("the KDC was asked %d times within the retry interval, want 1", calls)
	}
	clk.Advance(retry)
	ask(down)
	if calls != 2 {
		t.Errorf("the KDC was asked %d times after the retry interval, want 2", calls)
	}
	clk.Set(second.end)
	clk.Advance(retry)
	if _, err := ask(down); !errors.Is(err, kdcDown) {
		t.Errorf("after the ticket expired: %v, want the KDC's failure", err)
	}
}
