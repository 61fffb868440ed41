package exporter_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exauth/exauth/exporter"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// BenchmarkScrapes measures the exporter under concurrent scrapes of a
// healthy pair against its baseline in the same run: the same probe called
// in Go, with a Kerberos side shared the same way, without HTTP and
// metrics. The two alternate in rounds of 500 probes (8 at a time on this
// 2-core machine: probes mostly wait on the network), so that both see the
// same background load on a shared machine. b.N is the number of scrapes
// (and of direct probes). It reports probes/s for each side and their
// ratio, the live heap and the goroutines before and after: run 10,000
// scrapes with
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
	s, err := lab.ProbeSettings()
	if err != nil {
		b.Fatal(err)
	}

	ks, err := s.Credentials.Settings(nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	pc, err := s.Config(kerberos.New(ks), nil)
	if err != nil {
		b.Fatal(err)
	}
	direct := func() {
		if r := smtpprobe.Probe(context.Background(), pc); r.Verdict != verdict.VerdictOK {
			b.Errorf("%s: %s", r.Verdict, r.Summary)
		}
	}

	x, err := exporter.New(exporter.Options{ConfigFile: writeConfig(b, "modules:\n  healthy:\n"+moduleYAML(b, &scenariotest.Env{Lab: lab})), MaxConcurrent: 16})
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: x.Handler(), ReadHeaderTimeout: 10 * time.Second}
	ln := listen(b)
	go srv.Serve(ln)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
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
	direct()
	client.CloseIdleConnections()
	gBefore, hBefore := settle()

	b.ResetTimer()
	var tExporter, tDirect time.Duration
	for done := 0; done < b.N; {
		n := min(500, b.N-done)
		tExporter += concurrently(n, 8, scrape)
		tDirect += concurrently(n, 8, direct)
		done += n
	}
	b.StopTimer()
	client.CloseIdleConnections()
	gAfter, hAfter := settle()
	exporterRate, directRate := float64(b.N)/tExporter.Seconds(), float64(b.N)/tDirect.Seconds()
	b.ReportMetric(exporterRate, "scrapes/s")
	b.ReportMetric(directRate, "baseline-probes/s")
	b.ReportMetric(exporterRate/directRate, "ratio")
	b.ReportMetric(float64(hBefore)/1024, "heap-before-KiB")
	b.ReportMetric(float64(hAfter)/1024, "heap-after-KiB")
	b.ReportMetric(float64(gBefore), "goroutines-before")
	b.ReportMetric(float64(gAfter), "goroutines-after")
	if gAfter > gBefore+2 {
		b.Errorf("goroutines grew from %d to %d over %d scrapes", gBefore, gAfter, b.N)
	}
	as, tgs := x.KerberosStats()
	b.ReportMetric(float64(as+tgs), "kdc-exchanges")
}

// concurrently runs fn n times on workers goroutines and returns how long
// that took.
func concurrently(n, workers int, fn func()) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				fn()
			}
		}()
	}
	wg.Wait()
	return time.Since(began)
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
