package verdict

import (
	"fmt"
	"time"
)

// clocks are the three clocks of an Exchange server authentication: this
// host stamps the authenticator, the KDC stamps the ticket, and the
// receiving server checks both against its own clock. Each offset is
// "first minus second", so serverVsKDC > 0 means the receiving server is
// ahead of the KDC. A nil offset was not observed.
type clocks struct {
	serverVsLocal *time.Duration // banner date vs this host (1 s resolution)
	localVsKDC    *time.Duration // this host vs the KDC (ticket time or KRB-ERROR stime)
	serverVsKDC   *time.Duration // derived from the two above
	kdcSource     string         // what the KDC reading was
	serverSource  string         // what the server reading was
}

// resolution is how far apart two clocks may seem while agreeing: banner
// dates and ticket times have one-second resolution.
const resolution = 2 * time.Second

func observeClocks(o *Observation) clocks {
	var c clocks
	if off, ok := o.Banner.ServerOffset(); ok {
		c.serverVsLocal, c.serverSource = &off, "banner date"
	} else if off, ok := o.HTTP.serverOffset(); ok {
		c.serverVsLocal, c.serverSource = &off, "Date header"
	}
	if k := o.Kerberos; k != nil && k.ClockSample != nil {
		off := -k.ClockSample.Offset()
		c.localVsKDC = &off
		c.kdcSource = k.ClockSample.Source
		if c.serverVsLocal != nil {
			s := *c.serverVsLocal + off
			c.serverVsKDC = &s
		}
	}
	return c
}

// pair is one measured offset between two named clocks.
type pair struct {
	a, b string
	off  time.Duration
}

func (c clocks) pairs() []pair {
	var ps []pair
	if c.serverVsKDC != nil {
		ps = append(ps, pair{"the receiving server", "the KDC", *c.serverVsKDC})
	}
	if c.serverVsLocal != nil {
		ps = append(ps, pair{"the receiving server", "this host", *c.serverVsLocal})
	}
	if c.localVsKDC != nil {
		ps = append(ps, pair{"this host", "the KDC", *c.localVsKDC})
	}
	return ps
}

// agree reports whether every observed pair is within limit and the pair
// that decides a ticket's fate at the receiver (server vs KDC) is observed.
func (c clocks) agree(limit time.Duration) bool {
	if c.serverVsKDC == nil {
		return false
	}
	for _, p := range c.pairs() {
		if abs(p.off) > limit {
			return false
		}
	}
	return true
}

// Which clock is the odd one out, when two of the three agree.
const (
	outlierNone   = ""
	outlierServer = "server"
	outlierKDC    = "kdc"
	outlierLocal  = "local"
)

// skew describes a clock beyond MaxSkew, naming the odd one out when the
// other two agree: the fix goes to that machine.
func (c clocks) skew() (summary, outlier string, ok bool) {
	off := func(d *time.Duration) bool { return d != nil && abs(*d) > MaxSkew+resolution/2 }
	in := func(d *time.Duration) bool { return d != nil && abs(*d) <= MaxSkew }
	switch {
	case off(c.serverVsKDC) && off(c.serverVsLocal) && in(c.localVsKDC):
		return fmt.Sprintf("the receiving server's clock is %s the KDC's and this host's, which agree: more than the 5 minutes Kerberos allows — fix the receiving server's time", aheadBehind(*c.serverVsKDC)), outlierServer, true
	case off(c.localVsKDC) && off(c.serverVsKDC) && in(c.serverVsLocal):
		return fmt.Sprintf("the KDC's clock is %s this host's and the receiving server's, which agree: more than the 5 minutes Kerberos allows — fix the domain controller's time", aheadBehind(-*c.localVsKDC)), outlierKDC, true
	case off(c.localVsKDC) && off(c.serverVsLocal) && in(c.serverVsKDC):
		return fmt.Sprintf("this host's clock is %s the KDC's and the receiving server's, which agree: fix this machine's time and probe again (the Exchange servers may be fine)", aheadBehind(*c.localVsKDC)), outlierLocal, true
	}
	for _, p := range c.pairs() {
		if abs(p.off) > MaxSkew+resolution/2 {
			return fmt.Sprintf("%s's clock is %s %s's: more than the 5 minutes Kerberos allows", p.a, aheadBehind(p.off), p.b), outlierNone, true
		}
	}
	return "", outlierNone, false
}

// outlierRemediation is what to do when one named clock is off; nil leaves
// the verdict table's general advice.
func outlierRemediation(outlier string) []string {
	switch outlier {
	case outlierLocal:
		return []string{
			"Only the machine running exauth is off: fix its time (Windows: `w32tm /resync`; Linux: `chronyc makestep` or `timedatectl`), then probe again. Exchange's own clocks agree with the KDC.",
		}
	case outlierServer:
		return []string{
			"On the receiving server: `w32tm /resync /rediscover`, and check it takes time from the domain hierarchy (`w32tm /query /source` should name a DC, not the local CMOS clock).",
			"If it is a virtual machine, turn off the hypervisor's time synchronisation for it (Hyper-V \"Time synchronization\" integration service, VMware Tools periodic sync), which fights the domain hierarchy.",
		}
	case outlierKDC:
		return []string{
			"On the domain controller: `w32tm /resync /rediscover`; the PDC emulator of the forest root must sync from a reliable source (`w32tm /config /manualpeerlist:<ntp> /syncfromflags:manual /reliable:yes /update`), the other DCs from the hierarchy (`w32tm /monitor`).",
		}
	}
	return nil
}

// evidence lines for every observed pair.
func (c clocks) evidence(add func(string, ...any)) {
	if c.serverVsLocal != nil {
		add("receiving server clock (%s) is %s this host", c.serverSource, aheadBehind(*c.serverVsLocal))
	}
	if c.localVsKDC != nil {
		add("this host's clock is %s the KDC (%s)", aheadBehind(*c.localVsKDC), c.kdcSource)
	}
	if c.serverVsKDC != nil {
		add("receiving server clock is %s the KDC (%s vs %s)", aheadBehind(*c.serverVsKDC), c.serverSource, c.kdcSource)
	}
}

// warnings for pairs that work but are close to the limit.
func (c clocks) warnings(warn func(id Warning, short, long string)) {
	for _, p := range c.pairs() {
		if abs(p.off) > WarnSkew {
			warn(WarningClockDrift, fmt.Sprintf("%s is %s %s", p.a, signed(p.off), p.b),
				fmt.Sprintf("%s's clock is %s %s's (Kerberos allows 5m)", p.a, aheadBehind(p.off), p.b))
		}
	}
}

// aheadBehind renders an offset as "7m00.0s ahead of" / "within 0.4s of".
func aheadBehind(d time.Duration) string {
	switch {
	case abs(d) < resolution/2:
		return "within " + signed(abs(d))[1:] + " of"
	case d > 0:
		return signed(d)[1:] + " ahead of"
	default:
		return signed(d)[1:] + " behind"
	}
}
