package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/exauth/exauth/scenarios"
)

// figStartup is the time a test waits for a scenario to be up and torn
// down (scenarios.Run + Close, the work behind scenarios.Start), against
// httptest.NewTLSServer + Close, alternating one of each.
func figStartup() row {
	r := row{figure: "scenario start-up: scenarios.Run + Close (healthy)", target: "≤ 2.00×"}
	sc, err := scenarios.Bundled("healthy")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	runLab := func() (time.Duration, error) {
		t0 := time.Now()
		lab, err := scenarios.Run(sc, scenarios.Options{})
		if err != nil {
			return 0, err
		}
		lab.Close()
		return time.Since(t0), nil
	}
	runHTTP := func() time.Duration {
		t0 := time.Now()
		s := httptest.NewTLSServer(http.NotFoundHandler())
		s.Close()
		return time.Since(t0)
	}
	for range 5 {
		if _, err := runLab(); err != nil {
			r.failed = err.Error()
			return r
		}
		runHTTP()
	}
	var labs, https []time.Duration
	stop := startProfile("fig7")
	end := time.Now().Add(opts.probes)
	for time.Now().Before(end) || len(labs) < 20 {
		d, err := runLab()
		if err != nil {
			stop()
			r.failed = err.Error()
			return r
		}
		labs = append(labs, d)
		https = append(https, runHTTP())
	}
	stop()
	ml, mh := median(labs), median(https)
	r.ours = fmt.Sprintf("%s (median of %d)", us(ml), len(labs))
	r.baseline = fmt.Sprintf("%s (httptest.NewTLSServer)", us(mh))
	r.ratio, r.hasRatio = float64(ml)/float64(mh), true
	r.passed = r.ratio <= 2
	r.notes = append(r.notes, fmt.Sprintf("scenarios.Run with Options{}: in memory, no state files (Lab.Files writes them when asked); p90 %s vs %s",
		us(percentile(labs, 0.9)), us(percentile(https, 0.9))))
	return r
}
