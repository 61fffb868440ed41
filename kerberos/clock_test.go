package kerberos

import (
	"context"
	"testing"

	"github.com/exauth/exauth/verdict"
)

func TestSamplePrincipal(t *testing.T) {
	for _, tc := range []struct{ client, want string }{
		{"HUB02$@LAB.TEST", "HUB02$@LAB.TEST"},
		{`LAB\HUB02$`, "HUB02$@LAB.TEST"},
		{"alice", "alice@LAB.TEST"},
		{"", "krbtgt@LAB.TEST"},
	} {
		if got := samplePrincipal(tc.client, "LAB.TEST"); got != tc.want {
			t.Errorf("samplePrincipal(%q) = %q, want %q", tc.client, got, tc.want)
		}
	}
}

// sampler counts the samples asked of it.
type sampler struct {
	Side
	asked int
}

func (s *sampler) SampleKDCClock(context.Context, *verdict.KerberosObservation) { s.asked++ }

// The clock is sampled once a ticket was refused and only when the side
// showed none; a side that cannot sample is left alone.
func TestSampleClockIfHidden(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		obs  *verdict.KerberosObservation
		want int
	}{
		{"ticket, no clock", &verdict.KerberosObservation{TicketObtained: true}, 1},
		{"clock already read", &verdict.KerberosObservation{TicketObtained: true, ClockSample: &verdict.ClockSample{}}, 0},
		{"no ticket", &verdict.KerberosObservation{}, 0},
		{"no Kerberos", nil, 0},
	} {
		s := &sampler{}
		SampleClockIfHidden(ctx, s, tc.obs)
		if s.asked != tc.want {
			t.Errorf("%s: asked %d times, want %d", tc.name, s.asked, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s := &sampler{}
	SampleClockIfHidden(cancelled, s, &verdict.KerberosObservation{TicketObtained: true})
	if s.asked != 0 {
		t.Error("sampled after the probe was stopped")
	}
	SampleClockIfHidden(ctx, &Client{}, &verdict.KerberosObservation{TicketObtained: true}) // no ClockSampler: nothing happens
}
