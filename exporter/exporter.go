// Package exporter is exauth as a Prometheus exporter, in the style of
// blackbox_exporter: GET /probe?target=HOST[:PORT]|URL&module=NAME runs one
// probe and answers with its metrics (verdict, severity, warnings, clock
// offsets, phase durations, ticket and certificate expiry, key versions);
// GET /metrics has the exporter's own. Prometheus does the scheduling,
// storage, federation between sites and alerting; the exporter only
// probes, when asked, with what a module says.
//
// Modules are data: the probe settings of a plan file (check.Settings),
// validated at start-up and reloadable. Kerberos credentials are shared
// between scrapes: one Kerberos side per set of credential settings, so a
// principal logs in once and asks for each SPN once until its ticket is
// due for renewal, whatever the number of targets and scrapes.
package exporter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/exauth/exauth/check"
	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/smtpprobe"
	"github.com/exauth/exauth/verdict"
)

// Options configure an Exporter.
type Options struct {
	// ConfigFile is the modules file (docs/exporter.md); Reload reads it
	// again.
	ConfigFile string
	// MaxConcurrent bounds the probes running at once (default 16): a
	// Prometheus with many targets must not open hundreds of SMTP sessions
	// and KDC exchanges in the same second. A scrape waits for a slot
	// within its own deadline, then fails with 503.
	MaxConcurrent int
	// DefaultTimeout bounds a probe when neither the scrape
	// (X-Prometheus-Scrape-Timeout-Seconds) nor the module says otherwise
	// (default 10s, Prometheus' default scrape timeout).
	DefaultTimeout time.Duration
	// TimeoutOffset is taken off the scrape's timeout, so that the answer
	// reaches Prometheus before it gives up (default 500ms, as
	// blackbox_exporter's).
	TimeoutOffset time.Duration
	// Clock is this host's clock (nil: the system clock).
	Clock clock.Clock
	// Getenv reads $KRB5_CONFIG and $KRB5CCNAME (nil: os.Getenv).
	Getenv func(string) string
	// Logger receives one line per probe at debug level and reloads at
	// info (nil: discard).
	Logger *slog.Logger
	// Version is shown in exauth_exporter_build_info.
	Version string
}

// Exporter answers /probe and /metrics. It is safe for concurrent use.
type Exporter struct {
	opts    Options
	slots   chan struct{}
	current atomic.Pointer[loaded]
	reload  sync.Mutex // one reload at a time; probes never wait for it

	descs    probeDescs
	registry *prometheus.Registry
	probes   *prometheus.CounterVec
	inFlight prometheus.Gauge
	rejected prometheus.Counter
	reloadOK prometheus.Gauge
	reloadAt prometheus.Gauge
}

// loaded is one configuration in use: probes read it without a lock and
// keep the one they started with across a reload.
type loaded struct {
	config  *Config
	modules map[string]*module
}

// New reads the configuration and its credentials and returns an Exporter
// ready to serve. A configuration error is returned, with its line.
func New(opts Options) (*Exporter, error) {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = 16
	}
	if opts.DefaultTimeout <= 0 {
		opts.DefaultTimeout = 10 * time.Second
	}
	if opts.TimeoutOffset <= 0 {
		opts.TimeoutOffset = 500 * time.Millisecond
	}
	opts.Clock = clock.Or(opts.Clock)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Exporter{opts: opts, slots: make(chan struct{}, opts.MaxConcurrent), descs: newProbeDescs()}
	e.registry = prometheus.NewRegistry()
	e.probes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "exauth_exporter_probes_total", Help: "Probes run, by module and verdict.",
	}, []string{"module", "verdict"})
	e.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "exauth_exporter_probes_in_flight", Help: "Probes running now."})
	e.rejected = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "exauth_exporter_probes_rejected_total", Help: "Scrapes refused (503) because no probe slot came free before their deadline.",
	})
	e.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Name: "exauth_exporter_config_last_reload_successful", Help: "1 when the last configuration load succeeded."})
	e.reloadAt = prometheus.NewGauge(prometheus.GaugeOpts{Name: "exauth_exporter_config_last_reload_success_timestamp_seconds", Help: "When the configuration was last loaded successfully (Unix time)."})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "exauth_exporter_build_info", Help: "Always 1: the exporter's version and Go version."}, []string{"version", "goversion"})
	build.WithLabelValues(orDash(opts.Version), runtime.Version()).Set(1)
	e.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		e.probes, e.inFlight, e.rejected, e.reloadOK, e.reloadAt, build,
		kerberosCollector{e: e, desc: prometheus.NewDesc("exauth_exporter_kerberos_exchanges_total",
			"Exchanges with the KDC since the configuration was loaded, by client principal and exchange (as: logins, tgs: service tickets); tickets are shared between scrapes until due for renewal.",
			[]string{"principal", "exchange"}, nil)},
	)
	if err := e.Reload(); err != nil {
		return nil, err
	}
	return e, nil
}

// Reload reads the configuration file and its credentials again. On an
// error the running configuration stays in use. Probes running keep the
// configuration they started with; new Kerberos sides log in afresh (a
// keytab replaced on disk is read again).
func (e *Exporter) Reload() error {
	e.reload.Lock()
	defer e.reload.Unlock()
	l, err := e.load()
	if err != nil {
		e.reloadOK.Set(0)
		e.opts.Logger.Error("configuration not loaded", "file", e.opts.ConfigFile, "err", err)
		return err
	}
	e.current.Store(l)
	e.reloadOK.Set(1)
	e.reloadAt.Set(unix(e.opts.Clock.Now()))
	e.opts.Logger.Info("configuration loaded", "config", l.config.String())
	return nil
}

func (e *Exporter) load() (*loaded, error) {
	c, err := LoadConfig(e.opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	mods, err := c.modules(e.opts.Getenv, e.opts.Clock)
	if err != nil {
		return nil, err
	}
	return &loaded{config: c, modules: mods}, nil
}

// Registry is the exporter's own metrics (GET /metrics): Go and process
// metrics, probe counts, the ticket cache.
func (e *Exporter) Registry() *prometheus.Registry { return e.registry }

// Handler serves /probe, /metrics and /-/reload (POST); mount it on the
// exporter's listener, behind the web configuration's TLS and basic
// authentication.
func (e *Exporter) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/probe", e.serveProbe)
	mux.Handle("/metrics", promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "reload with POST", http.StatusMethodNotAllowed)
			return
		}
		if err := e.Reload(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	return mux
}

// ProbeRequest is one probe: the query of a /probe scrape.
type ProbeRequest struct {
	Module string // module name; "" is "default"
	// Target is HOST[:PORT] of a receive connector, or an https:// URL of a
	// Client Access server.
	Target string
	// Connect, when set, is dialled instead of the target's host, which
	// still names the SPN and the TLS server (probe's --connect).
	Connect string
	// Timeout bounds the probe, the wait for a slot included (the scrape's
	// timeout); a shorter module timeout wins. 0 is the module's timeout,
	// else Options.DefaultTimeout.
	Timeout time.Duration
}

// RequestError is a probe that could not be started: an unknown module,
// a malformed target. /probe answers it with 400.
type RequestError struct{ Err error }

func (e *RequestError) Error() string { return e.Err.Error() }
func (e *RequestError) Unwrap() error { return e.Err }

// ErrBusy says no probe slot came free before the request's deadline.
var ErrBusy = errors.New("exporter: every probe slot is busy (max concurrent probes reached)")

// Probe runs one probe with a module's settings and shared credentials.
// ctx bounds the wait for a probe slot as well as the probe.
func (e *Exporter) Probe(ctx context.Context, req ProbeRequest) (*verdict.Report, error) {
	l := e.current.Load()
	name := req.Module
	if name == "" {
		name = "default"
	}
	m, ok := l.modules[name]
	if !ok {
		return nil, &RequestError{fmt.Errorf("unknown module %q (configured: %s)", name, strings.Join(l.config.ModuleNames(), ", "))}
	}
	if req.Target == "" {
		return nil, &RequestError{errors.New("target is required: HOST[:PORT] or an https:// URL")}
	}
	timeout, mt := req.Timeout, time.Duration(m.settings.Timeout)
	switch {
	case timeout <= 0 && mt > 0:
		timeout = mt
	case timeout <= 0:
		timeout = e.opts.DefaultTimeout
	case mt > 0 && mt < timeout:
		timeout = mt
	}
	probe, err := e.prepare(m, req, timeout)
	if err != nil {
		return nil, &RequestError{err}
	}
	// The budget covers the wait for a slot too: Prometheus wants an
	// answer within its scrape timeout, however busy the exporter is.
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case e.slots <- struct{}{}:
	case <-ctx.Done():
		e.rejected.Inc()
		return nil, ErrBusy
	}
	defer func() { <-e.slots }()
	e.inFlight.Inc()
	defer e.inFlight.Dec()
	r := probe(ctx)
	e.probes.WithLabelValues(name, string(r.Verdict)).Inc()
	return r, nil
}

// prepare builds the probe's configuration through the one path from
// settings to a probe (check.Settings → smtpprobe/httpprobe.Settings →
// Config), with the module's shared Kerberos side.
func (e *Exporter) prepare(m *module, req ProbeRequest, timeout time.Duration) (func(context.Context) *verdict.Report, error) {
	s := m.settings
	s.Timeout = check.Duration(timeout)
	if strings.Contains(req.Target, "://") {
		cfg, err := s.HTTP(req.Target, req.Connect).Config(m.kerberos, e.opts.Clock)
		if err != nil {
			return nil, smtpprobe.SpellFields(err, targetKeys)
		}
		return func(ctx context.Context) *verdict.Report { return httpprobe.Probe(ctx, cfg) }, nil
	}
	cfg, err := s.SMTP(req.Target, req.Connect, "").Config(m.kerberos, e.opts.Clock)
	if err != nil {
		return nil, smtpprobe.SpellFields(err, targetKeys)
	}
	return func(ctx context.Context) *verdict.Report { return smtpprobe.Probe(ctx, cfg) }, nil
}

// targetKeys names the settings a scrape gives (the query parameters) and
// the module's keys.
var targetKeys = func() map[string]string {
	m := map[string]string{}
	for k, v := range check.KeyOf {
		m[k] = "module " + v
	}
	m["Host"], m["URL"], m["Connect"] = "target", "target", "connect"
	return m
}()

// serveProbe is GET /probe?module=NAME&target=HOST[:PORT]|URL[&connect=ADDR]
// [&debug=true]: the probe's metrics, or with debug its JSON report.
func (e *Exporter) serveProbe(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := ProbeRequest{Module: q.Get("module"), Target: q.Get("target"), Connect: q.Get("connect")}
	ctx := r.Context()
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil || secs <= 0 || secs > 3600 {
			http.Error(w, fmt.Sprintf("bad X-Prometheus-Scrape-Timeout-Seconds %q", v), http.StatusBadRequest)
			return
		}
		d := time.Duration(secs * float64(time.Second))
		if d > 2*e.opts.TimeoutOffset {
			d -= e.opts.TimeoutOffset
		}
		req.Timeout = d
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	rep, err := e.Probe(ctx, req)
	var re *RequestError
	switch {
	case errors.As(err, &re):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case errors.Is(err, ErrBusy):
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	e.opts.Logger.Debug("probe", "module", req.Module, "target", req.Target, "verdict", rep.Verdict, "severity", rep.Severity, "summary", rep.Summary)
	if debug, _ := strconv.ParseBool(q.Get("debug")); debug {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(rep)
		return
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(reportCollector{d: &e.descs, r: rep})
	// A probe's few kilobytes cross a site's LAN: gzip would cost more CPU
	// per scrape (half the exposition's cost, measured) than it saves.
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{DisableCompression: true}).ServeHTTP(w, r)
}

// KerberosStats counts the AS and TGS exchanges the current
// configuration's shared Kerberos sides have made: what the ticket cache
// costs the domain controllers.
func (e *Exporter) KerberosStats() (as, tgs int) {
	for _, n := range e.kerberosUse() {
		as, tgs = as+n[0], tgs+n[1]
	}
	return as, tgs
}

// kerberosUse is the AS and TGS exchange counts by client principal.
func (e *Exporter) kerberosUse() map[string][2]int {
	l := e.current.Load()
	byPrincipal := map[string][2]int{}
	if l == nil {
		return byPrincipal
	}
	seen := map[*kerberos.Client]bool{}
	for _, name := range l.config.ModuleNames() {
		// The Windows logon session's exchanges are Windows' to count
		// (klist); only exauth's own ticket caches are counted here.
		k, ok := l.modules[name].kerberos.(*kerberos.Client)
		if !ok || seen[k] {
			continue
		}
		seen[k] = true
		as, tgs := k.Stats()
		p := k.Principal()
		if p == "" {
			p = "(ccache)"
		}
		n := byPrincipal[p]
		byPrincipal[p] = [2]int{n[0] + as, n[1] + tgs}
	}
	return byPrincipal
}

// kerberosCollector publishes the shared Kerberos sides' exchange counts:
// the cost of the ticket cache to the domain controllers.
type kerberosCollector struct {
	e    *Exporter
	desc *prometheus.Desc
}

func (c kerberosCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c kerberosCollector) Collect(ch chan<- prometheus.Metric) {
	for p, n := range c.e.kerberosUse() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n[0]), p, "as")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n[1]), p, "tgs")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
