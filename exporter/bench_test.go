package exporter_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/exauth/exauth/exporter"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// BenchmarkScrapes measures the exporter under concurrent scrapes of a
// healthy pair against its baseline in the same run: the same probe,
// called in Go with a Kerberos side shared the same way, no HTTP and no
// metrics. The difference is what the exporter costs on top of probing.
// Each side reports probes/s; the exporter side also reports the live
// heap and the goroutines after its scrapes, against before them, so that
// a run of 10,000 scrapes shows any growth:
//
//	go test ./exporter -run '^$' -bench Scrapes -benchtime 10000x
func BenchmarkScrapes(b *testing.B) {
	// scenarios.Run rather than scenariotest.Start: the hub's protocol log
	// would go to b.Log and count in the heap.
	sc, err := scenarios.Bundled("healthy")
	if err != nil {
		b.Fatal(err)
	}
	lab, err := scenarios.Run(sc, scenarios.Options{StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { lab.Close() })
	s := lab.ProbeSettings()
	cfg := "modules:\n  healthy:\n" + moduleYAML(&scenariotest.Env{Lab: lab})

	b.Run("baseline=direct-probe", func(b *testing.B) {
		ks, err := s.Credentials.KerberosSettings(nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		pc, err := s.Config(smtpprobe.NewKerberos(ks), nil)
		if err != nil {
			b.Fatal(err)
		}
		if r := smtpprobe.Probe(context.Background(), pc); r.Verdict != verdict.VerdictOK {
			b.Fatalf("warm-up: %s: %s", r.Verdict, r.Summary)
		}
		goroutinesBefore, heapBefore := settle()
		b.SetParallelism(4) // 2 cores × 4: probes wait on the network
		b.ResetTimer()
		began := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if r := smtpprobe.Probe(context.Background(), pc); r.Verdict != verdict.VerdictOK {
					b.Errorf("%s: %s", r.Verdict, r.Summary)
				}
			}
		})
		elapsed := time.Since(began)
		b.StopTimer()
		goroutinesAfter, heapAfter := settle()
		report(b, elapsed, goroutinesBefore, goroutinesAfter, heapBefore, heapAfter)
	})

	b.Run("exporter", func(b *testing.B) {
		path := writeConfig(b, cfg)
		x, err := exporter.New(exporter.Options{ConfigFile: path, MaxConcurrent: 16})
		if err != nil {
			b.Fatal(err)
		}
		srv := &http.Server{Handler: x.Handler(), ReadHeaderTimeout: 10 * time.Second}
		ln := listen(b)
		go srv.Serve(ln)
		defer srv.Close()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		defer client.CloseIdleConnections()
		u := "http://" + ln.Addr().String() + "/probe?" + url.Values{"module": {"healthy"}, "target": {s.Host}, "connect": {s.Connect}}.Encode()
		scrape := func() {
			resp, err := client.Get(u)
			if err != nil {
				b.Error(err)
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if samples(string(body))["exauth_probe_success"] != 1 {
				b.Errorf("scrape: %s", body)
			}
		}
		scrape()
		goroutinesBefore, heapBefore := settle()
		b.SetParallelism(4)
		b.ResetTimer()
		began := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				scrape()
			}
		})
		elapsed := time.Since(began)
		b.StopTimer()
		client.CloseIdleConnections()
		goroutinesAfter, heapAfter := settle()
		// Idle keep-alive connections are closed above; what is left of
		// the scrapes must be gone within settle's wait.
		report(b, elapsed, goroutinesBefore, goroutinesAfter, heapBefore, heapAfter)
	})
}

// report records a side's figures. Both sides share the process with the
// lab (the fake hub's replay cache holds each authenticator for the
// 5-minute skew window), so the heap is compared between the sides, not
// read alone.
func report(b *testing.B, elapsed time.Duration, gBefore, gAfter int, hBefore, hAfter uint64) {
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "probes/s")
	b.ReportMetric(float64(hBefore)/1024, "heap-before-KiB")
	b.ReportMetric(float64(hAfter)/1024, "heap-after-KiB")
	b.ReportMetric(float64(gBefore), "goroutines-before")
	b.ReportMetric(float64(gAfter), "goroutines-after")
	if gAfter > gBefore+2 {
		b.Errorf("goroutines grew from %d to %d over %d probes", gBefore, gAfter, b.N)
	}
}

// settle waits until the goroutine count stops falling (server goroutines
// of closed connections end asynchronously), then collects garbage, and
// returns the goroutines and the live heap.
func settle() (goroutines int, heap uint64) {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			break
		}
		n = m
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapInuse
}
