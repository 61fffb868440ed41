// Command exauth-bench is exauth's benchmark script: it measures each
// performance figure of exauth against its baseline in the same run and
// prints one table (figure | ours | baseline | ratio | target | pass).
//
//	go run ./cmd/exauth-bench                 # every figure, ~2 minutes
//	go run ./cmd/exauth-bench -only 1,4 -duration 10s
//	go run ./cmd/exauth-bench -cpuprofile /tmp/prof   # a pprof file per side and figure
//	./bench/run                                # the same, after checking the Debian tools
//
// Figures (see BENCHMARKS.md for what each measures and why):
//
//  1. fake connector full healthy sessions/s vs bare TLS handshakes/s
//     (1e: the same on the default path, X-EXPS EXCHANGEAUTH; 1t: 1e's
//     sessions without their authentication, the floor the SMTP round
//     trips alone leave)
//  2. fake connector plain EHLO/QUIT sessions/s vs Postfix smtp-sink
//  3. fake KDC AS+TGS exchanges/s vs MIT krb5kdc
//  4. probe time to verdict (healthy) vs the sum of its unavoidable parts
//     (4g: the same on the X-EXPS GSSAPI path)
//  5. probe round trips on the wire vs the protocol minimum
//  6. fake connector resident memory per idle connection
//  7. scenario start-up vs httptest.NewTLSServer start-up
//  8. `exauth serve` (protocol log on) plain sessions/s under Postfix
//     smtp-source vs Postfix smtp-sink
//
// Servers under load (the fake connector, the fake KDC, and their
// baselines) run in child processes — exauth-bench re-executes itself with
// -child — so that the load generator's CPU and memory never count as the
// server's, and Postfix and MIT run the same way. A figure whose baseline
// tool is missing is skipped with a message saying what to install.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// options are the command-line settings shared by the figures.
type options struct {
	duration   time.Duration // measured time per side of a throughput figure
	warmup     time.Duration // unmeasured time before it
	clients    int           // concurrent load-generator clients
	conns      int           // idle connections for figure 6
	probes     time.Duration // time spent on sequential probes (figure 4)
	mitWorkers int           // krb5kdc -w
	profileDir string        // -cpuprofile: one file per side and figure
	markdown   bool
	verbose    bool
	authLog    bool   // children print why an authentication failed
	serverEnv  string // extra environment of the Go server children (experiments)
}

var opts options

// row is one line of the table.
type row struct {
	id, figure      string
	ours, baseline  string
	ratio           float64
	hasRatio        bool
	target          string
	passed          bool
	info            bool   // no target of its own: it decomposes another figure
	skipped, failed string // reason, when the figure did not run
	notes           []string
}

func main() {
	child := flag.String("child", "", "internal: run a server for the parent (hub, kdc)")
	childDir := flag.String("dir", "", "internal: the child's state directory")
	childProfile := flag.String("child-cpuprofile", "", "internal: the child's CPU profile file")
	childMaxConns := flag.Int("maxconns", 0, "internal: the child connector's MaxConnections")
	flag.BoolVar(&opts.authLog, "authlog", false, "print why the fake connector refused an authentication (its event 1035 text)")
	flag.StringVar(&opts.serverEnv, "server-env", "", "experiments: extra environment for the Go server children, e.g. GOGC=400,GODEBUG=adaptivestackstart=1")
	only := flag.String("only", "", "comma-separated figure numbers to run (default all)")
	flag.DurationVar(&opts.duration, "duration", 5*time.Second, "measured time per side of each throughput figure")
	flag.DurationVar(&opts.warmup, "warmup", time.Second, "unmeasured warm-up before each measurement")
	flag.IntVar(&opts.clients, "clients", 32, "concurrent load-generator clients (figures 1-3)")
	flag.IntVar(&opts.conns, "conns", 10000, "idle connections for figure 6")
	flag.DurationVar(&opts.probes, "probe-time", 3*time.Second, "time spent on sequential probes and on each bare part (figure 4)")
	flag.IntVar(&opts.mitWorkers, "mit-workers", runtime.NumCPU(), "krb5kdc -w worker processes (the fake KDC uses every CPU too); 0 = MIT's default single process")
	flag.StringVar(&opts.profileDir, "cpuprofile", "", "directory for CPU profiles: <fig>-<side>-{client,server}.pprof")
	flag.BoolVar(&opts.markdown, "markdown", false, "print the table as Markdown")
	flag.BoolVar(&opts.verbose, "v", false, "print progress and details")
	flag.Parse()

	if *child != "" {
		if err := runChild(*child, *childDir, *childProfile, *childMaxConns, opts.authLog); err != nil {
			fmt.Fprintln(os.Stderr, "exauth-bench child:", err)
			os.Exit(1)
		}
		return
	}
	if platformErr != nil {
		fatal(platformErr)
	}
	handleSignals()
	raiseNoFile(opts.conns*2 + 1024)
	if opts.profileDir != "" {
		if err := os.MkdirAll(opts.profileDir, 0o755); err != nil {
			fatal(err)
		}
	}

	figures := []struct {
		id  string
		run func() row
	}{
		{"1", figHealthySessions},
		{"1e", figExchangeAuthSessions},
		{"1t", figUnauthenticatedSessions},
		{"2", figPlainSessions},
		{"3", figKDC},
		{"4", figProbeLatency},
		{"4g", figProbeLatencyGSSAPI},
		{"5", figRoundTrips},
		{"6", figIdleMemory},
		{"7", figStartup},
		{"8", figSMTPSource},
	}
	want := map[string]bool{}
	for _, f := range strings.Split(*only, ",") {
		if f = strings.TrimSpace(f); f != "" {
			want[f] = true
		}
	}
	printMachine()
	began := time.Now()
	var rows []row
	for _, f := range figures {
		if len(want) > 0 && !want[f.id] {
			continue
		}
		logf("figure %s ...", f.id)
		t0 := time.Now()
		r := f.run()
		r.id = f.id
		logf("figure %s done in %s", f.id, time.Since(t0).Round(100*time.Millisecond))
		rows = append(rows, r)
		// Each figure's leftovers (TIME_WAIT sockets, the previous
		// child's exit) must not weigh on the next one.
		time.Sleep(200 * time.Millisecond)
	}
	fmt.Println()
	printTable(rows)
	fmt.Printf("\ntotal run time %s\n", time.Since(began).Round(time.Second))
	for _, r := range rows {
		if r.failed != "" {
			os.Exit(1)
		}
	}
}

func logf(format string, args ...any) {
	if opts.verbose {
		fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "exauth-bench:", err)
	os.Exit(1)
}

func printTable(rows []row) {
	head := []string{"figure", "ours", "baseline", "ratio", "target", "pass"}
	var cells [][]string
	for _, r := range rows {
		ratio, pass := "—", "—"
		switch {
		case r.skipped != "":
			pass = "SKIP"
		case r.failed != "":
			pass = "FAIL (error)"
		default:
			if r.hasRatio {
				ratio = fmt.Sprintf("%.2f×", r.ratio)
			}
			switch {
			case r.info:
				pass = "—"
			case r.passed:
				pass = "yes"
			default:
				pass = "no"
			}
		}
		cells = append(cells, []string{r.id + ". " + r.figure, r.ours, r.baseline, ratio, r.target, pass})
	}
	if opts.markdown {
		fmt.Println("| " + strings.Join(head, " | ") + " |")
		fmt.Println("|" + strings.Repeat(" --- |", len(head)))
		for _, c := range cells {
			fmt.Println("| " + strings.Join(c, " | ") + " |")
		}
	} else {
		width := make([]int, len(head))
		for i, h := range head {
			width[i] = runeLen(h)
		}
		for _, c := range cells {
			for i, s := range c {
				width[i] = max(width[i], runeLen(s))
			}
		}
		line := func(c []string) {
			var b strings.Builder
			for i, s := range c {
				if i > 0 {
					b.WriteString(" | ")
				}
				b.WriteString(s + strings.Repeat(" ", width[i]-runeLen(s)))
			}
			fmt.Println(strings.TrimRight(b.String(), " "))
		}
		line(head)
		sep := make([]string, len(head))
		for i := range sep {
			sep[i] = strings.Repeat("-", width[i])
		}
		line(sep)
		for _, c := range cells {
			line(c)
		}
	}
	fmt.Println()
	for _, r := range rows {
		switch {
		case r.skipped != "":
			fmt.Printf("%s. SKIPPED: %s\n", r.id, r.skipped)
		case r.failed != "":
			fmt.Printf("%s. FAILED: %s\n", r.id, r.failed)
		}
		for _, n := range r.notes {
			fmt.Printf("%s. %s\n", r.id, n)
		}
	}
}

func runeLen(s string) int { return len([]rune(s)) }

// Cleanups of external processes, run on SIGINT/SIGTERM too: the children
// sit in their own process groups and would not get the terminal's signal.
var (
	exitMu    sync.Mutex
	exitFuncs = map[int]func(){}
	exitSeq   int
)

// onExit registers f to run if exauth-bench is interrupted, and returns the
// function that unregisters it (call it when f has run normally).
func onExit(f func()) (unregister func()) {
	exitMu.Lock()
	defer exitMu.Unlock()
	exitSeq++
	id := exitSeq
	exitFuncs[id] = f
	return func() {
		exitMu.Lock()
		delete(exitFuncs, id)
		exitMu.Unlock()
	}
}

func handleSignals() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ch
		fmt.Fprintln(os.Stderr, "exauth-bench: interrupted, stopping servers")
		exitMu.Lock()
		fs := make([]func(), 0, len(exitFuncs))
		for _, f := range exitFuncs {
			fs = append(fs, f)
		}
		exitMu.Unlock()
		for _, f := range fs {
			f()
		}
		os.Exit(130)
	}()
}
