package exporter_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/exauth/exauth/exporter"
	"github.com/exauth/exauth/scenarios"
	"github.com/exauth/exauth/scenarios/scenariotest"
)

// moduleYAML is a module with the probe settings a scenario is meant for:
// its krb5.conf, keytab, principal, CA and probe options.
func moduleYAML(t testing.TB, env *scenariotest.Env) string {
	t.Helper()
	s, err := env.Lab.ProbeSettings()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    krb5_conf: %q\n    keytab: %q\n    principal: %q\n    ca_file: %q\n    ehlo: %q\n",
		s.Credentials.Krb5Conf, s.Credentials.Keytab, s.Credentials.Principal, s.CAFile, s.EHLO)
	if s.Mech != "" {
		fmt.Fprintf(&b, "    mech: %s\n", s.Mech)
	}
	if s.TLS != "" {
		fmt.Fprintf(&b, "    tls: %s\n", s.TLS)
	}
	if s.RequireTrustedCert {
		b.WriteString("    require_trusted_cert: true\n")
	}
	return b.String()
}

// lab is a scenario and the exporter module that probes it.
type lab struct {
	name    string
	env     *scenariotest.Env
	target  string // the hub's name: the SPN's and the TLS server's
	connect string // where it listens
}

func startLabs(t *testing.T, names ...string) ([]lab, string) {
	t.Helper()
	var labs []lab
	var cfg strings.Builder
	cfg.WriteString("modules:\n")
	for _, n := range names {
		env := scenariotest.Start(t, n)
		l := lab{name: n, env: env}
		if env.Scenario.IsCAS() {
			// A Client Access server lab is probed at its internalURL.
			l.target, l.connect = env.Lab.URL(), env.HTTPSAddr
		} else {
			l.target, l.connect = env.Probe.Host, env.SMTPAddr
		}
		labs = append(labs, l)
		fmt.Fprintf(&cfg, "  %s:\n%s", n, moduleYAML(t, env))
	}
	return labs, cfg.String()
}

func writeConfig(t testing.TB, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "exporter.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newExporter(t *testing.T, opts exporter.Options) (*exporter.Exporter, *httptest.Server) {
	t.Helper()
	x, err := exporter.New(opts)
	if err != nil {
		t.Fatalf("exporter.New: %v", err)
	}
	srv := httptest.NewServer(x.Handler())
	t.Cleanup(srv.Close)
	return x, srv
}

// scrape is one GET of /probe as Prometheus sends it; the answer's samples
// by series ("name{labels}") and its status.
func scrape(t *testing.T, base, module, target, connect string, timeout float64) (map[string]float64, int, string) {
	t.Helper()
	q := url.Values{"module": {module}, "target": {target}}
	if connect != "" {
		q.Set("connect", connect)
	}
	req, err := http.NewRequest(http.MethodGet, base+"/probe?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if timeout > 0 {
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(timeout, 'f', -1, 64))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return samples(string(body)), resp.StatusCode, string(body)
}

// samples reads the text exposition's sample lines.
func samples(text string) map[string]float64 {
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// TestExporter_ScenarioVerdicts: each scenario, scraped through /probe,
// shows its expected verdict as metrics.
func TestExporter_ScenarioVerdicts(t *testing.T) {
	// Cleanups run last-in first-out: this one after the labs and the
	// server have stopped.
	leaks := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		http.DefaultClient.CloseIdleConnections()
		goleak.VerifyNone(t, leaks)
	})
	labs, cfg := startLabs(t, "healthy", "clock-skew", "missing-spn", "exchange-auth-disabled")
	_, srv := newExporter(t, exporter.Options{ConfigFile: writeConfig(t, cfg)})
	for _, l := range labs {
		t.Run(l.name, func(t *testing.T) {
			got, status, body := scrape(t, srv.URL, l.name, l.target, l.connect, 5)
			want := l.env.Lab.Scenario.Expect
			if status != 200 || got[`exauth_probe_verdict{verdict="`+want+`"}`] != 1 {
				t.Fatalf("status %d, want verdict %s:\n%s", status, want, body)
			}
			success := 0.0
			if want == "ok" {
				success = 1
			}
			if got["exauth_probe_success"] != success {
				t.Errorf("exauth_probe_success = %v, want %v", got["exauth_probe_success"], success)
			}
			switch l.name {
			case "healthy":
				for _, s := range []string{`exauth_phase_duration_seconds{phase="connect"}`, `exauth_phase_duration_seconds{phase="tls"}`, `exauth_phase_duration_seconds{phase="auth"}`,
					`exauth_clock_offset_seconds{pair="server_vs_local"}`, "exauth_ticket_expiry_timestamp_seconds", "exauth_certificate_expiry_timestamp_seconds", `exauth_key_version{spn="SMTPSVC/hub01.lab.test"}`} {
					if _, ok := got[s]; !ok {
						t.Errorf("no %s in:\n%s", s, body)
					}
				}
				if exp := got["exauth_ticket_expiry_timestamp_seconds"]; exp < float64(time.Now().Unix()) {
					t.Errorf("ticket expiry %v is in the past", exp)
				}
			case "clock-skew":
				// The hub is 7 minutes ahead of the KDC and of this host.
				if v := got[`exauth_clock_offset_seconds{pair="server_vs_kdc"}`]; v < 410 || v > 430 {
					t.Errorf("server_vs_kdc = %v, want about 420", v)
				}
				if got["exauth_probe_severity"] != 2 {
					t.Errorf("severity %v, want 2", got["exauth_probe_severity"])
				}
			}
		})
	}
}

// TestExporter_SharesTickets: many concurrent scrapes of one pair cost the
// KDC one AS and one TGS exchange.
func TestExporter_SharesTickets(t *testing.T) {
	labs, cfg := startLabs(t, "healthy")
	l := labs[0]
	_, srv := newExporter(t, exporter.Options{ConfigFile: writeConfig(t, cfg), MaxConcurrent: 4})
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := url.Values{"module": {"healthy"}, "target": {l.target}, "connect": {l.connect}}
			resp, err := http.Get(srv.URL + "/probe?" + q.Encode())
			if err != nil {
				errs <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if samples(string(body))["exauth_probe_success"] != 1 {
				errs <- string(body)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("scrape failed: %s", e)
	}
	m := ownMetrics(t, srv.URL)
	if as, tgs := m[`exauth_exporter_kerberos_exchanges_total{exchange="as",principal="HUB02$@LAB.TEST"}`], m[`exauth_exporter_kerberos_exchanges_total{exchange="tgs",principal="HUB02$@LAB.TEST"}`]; as != 1 || tgs != 1 {
		t.Errorf("AS %v, TGS %v exchanges for 20 scrapes; want 1 and 1", as, tgs)
	}
	if n := m[`exauth_exporter_probes_total{module="healthy",verdict="ok"}`]; n != 20 {
		t.Errorf("probes_total = %v, want 20", n)
	}
}

func ownMetrics(t *testing.T, base string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return samples(string(body))
}

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// silentListener accepts connections and never says anything: a hub that
// hangs before its banner.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}

// TestExporter_ScrapeTimeout: the probe ends within the scrape's timeout
// (less the offset), however long the module allows; a scrape that finds
// every probe slot busy until its deadline gets 503.
func TestExporter_ScrapeTimeout(t *testing.T) {
	labs, cfg := startLabs(t, "healthy")
	cfg += "  short:\n" + moduleYAML(t, labs[0].env) + "    timeout: 300ms\n"
	silent := silentListener(t)
	_, srv := newExporter(t, exporter.Options{ConfigFile: writeConfig(t, cfg), MaxConcurrent: 1, TimeoutOffset: 100 * time.Millisecond})

	// Without the header, the module's own timeout is the budget.
	began0 := time.Now()
	if got, status, body := scrape(t, srv.URL, "short", "hub01.lab.test", silent, 0); status != 200 || got["exauth_probe_success"] != 0 {
		t.Fatalf("status %d:\n%s", status, body)
	}
	if took := time.Since(began0); took < 250*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("a module with timeout 300ms took %s", took)
	}

	began := time.Now()
	got, status, body := scrape(t, srv.URL, "healthy", "hub01.lab.test", silent, 0.5)
	took := time.Since(began)
	if status != 200 || got["exauth_probe_success"] != 0 || took > 1500*time.Millisecond {
		t.Fatalf("status %d after %s:\n%s", status, took, body)
	}
	if took < 300*time.Millisecond {
		t.Errorf("the probe gave up after %s, before its 400ms budget", took)
	}

	// One slot: a long probe holds it; a short scrape cannot get it.
	long := make(chan struct{})
	go func() {
		defer close(long)
		scrape(t, srv.URL, "healthy", "hub01.lab.test", silent, 1.5)
	}()
	waitFor(t, func() bool { return ownMetrics(t, srv.URL)["exauth_exporter_probes_in_flight"] == 1 })
	_, status, body = scrape(t, srv.URL, "healthy", "hub01.lab.test", silent, 0.3)
	if status != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 while the only slot is busy:\n%s", status, body)
	}
	<-long
	if n := ownMetrics(t, srv.URL)["exauth_exporter_probes_rejected_total"]; n != 1 {
		t.Errorf("rejected = %v, want 1", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestExporter_BadRequests: a scrape that cannot become a probe is a 400
// naming the problem, never a probe with invented settings.
func TestExporter_BadRequests(t *testing.T) {
	_, cfg := startLabs(t, "healthy")
	_, srv := newExporter(t, exporter.Options{ConfigFile: writeConfig(t, cfg)})
	for _, tc := range []struct {
		name, module, target, connect string
		timeout                       string
		want                          string
	}{
		{"unknown module", "nope", "hub01.lab.test", "", "", `unknown module "nope" (configured: healthy)`},
		{"no module, no default", "", "hub01.lab.test", "", "", `unknown module "default"`},
		{"no target", "healthy", "", "", "", "target is required"},
		{"bad port", "healthy", "hub01.lab.test:99999", "", "", "target: invalid port"},
		{"bad connect", "healthy", "hub01.lab.test", "127.0.0.1:x", "", "connect: invalid port"},
		{"http URL", "healthy", "http://cas01.lab.test/owa", "", "", "target: \"http://cas01.lab.test/owa\": want an https:// URL"},
		{"bad timeout header", "healthy", "hub01.lab.test", "", "soon", "bad X-Prometheus-Scrape-Timeout-Seconds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"module": {tc.module}, "target": {tc.target}, "connect": {tc.connect}}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/probe?"+q.Encode(), nil)
			if tc.timeout != "" {
				req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tc.timeout)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 400 || !strings.Contains(string(body), tc.want) {
				t.Errorf("status %d %q; want 400 containing %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// TestExporter_Reload: a reload picks up new modules; a broken file is
// refused, reported in the exporter's metrics, and the running
// configuration stays in use.
func TestExporter_Reload(t *testing.T) {
	labs, cfg := startLabs(t, "healthy")
	l := labs[0]
	path := writeConfig(t, cfg)
	_, srv := newExporter(t, exporter.Options{ConfigFile: path})
	post := func() int {
		t.Helper()
		resp, err := http.Post(srv.URL+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	renamed := strings.Replace(cfg, "  healthy:", "  renamed:", 1)
	if err := os.WriteFile(path, []byte(renamed), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := post(); code != 200 {
		t.Fatalf("reload: %d", code)
	}
	if got, status, body := scrape(t, srv.URL, "renamed", l.target, l.connect, 5); status != 200 || got["exauth_probe_success"] != 1 {
		t.Fatalf("after reload: %d\n%s", status, body)
	}
	if err := os.WriteFile(path, []byte(renamed+"    mech: telepathy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := post(); code != 500 {
		t.Errorf("reload of a broken file: %d, want 500", code)
	}
	if m := ownMetrics(t, srv.URL); m["exauth_exporter_config_last_reload_successful"] != 0 {
		t.Errorf("last_reload_successful = %v after a broken file", m["exauth_exporter_config_last_reload_successful"])
	}
	if got, status, _ := scrape(t, srv.URL, "renamed", l.target, l.connect, 5); status != 200 || got["exauth_probe_success"] != 1 {
		t.Errorf("the running configuration was dropped: %d", status)
	}
}

// TestExporter_DebugReport: debug=true answers the probe's JSON report,
// for an administrator reading why a metric says what it says.
func TestExporter_DebugReport(t *testing.T) {
	labs, cfg := startLabs(t, "missing-spn")
	l := labs[0]
	_, srv := newExporter(t, exporter.Options{ConfigFile: writeConfig(t, cfg)})
	q := url.Values{"module": {"missing-spn"}, "target": {l.target}, "connect": {l.connect}, "debug": {"true"}}
	resp, err := http.Get(srv.URL + "/probe?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"verdict":"spn-unknown"`) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("debug report: %s", body)
	}
}

func ExampleNew() {
	x, err := exporter.New(exporter.Options{ConfigFile: "/etc/exauth/exporter.yaml"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Prometheus scrapes /probe?module=default&target=hub01.contoso.com.
	srv := &http.Server{Addr: ":9818", Handler: x.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.ListenAndServe()
	defer srv.Shutdown(context.Background())
}

// TestExporter_EveryScenarioTwice: every bundled scenario, scraped twice,
// reaches its expected verdict both times: a second scrape, served from
// the shared tickets (or the remembered failure), judges as the first.
func TestExporter_EveryScenarioTwice(t *testing.T) {
	labs, cfg := startLabs(t, scenarios.Names()...)
	_, srv := newExporter(t, exporter.Options{ConfigFile: writeConfig(t, cfg)})
	for _, l := range labs {
		want := l.env.Lab.Scenario.Expect
		for i := range 2 {
			got, status, body := scrape(t, srv.URL, l.name, l.target, l.connect, 10)
			if status != 200 || got[`exauth_probe_verdict{verdict="`+want+`"}`] != 1 {
				var verdictSeen string
				for k, v := range got {
					if v == 1 && strings.HasPrefix(k, "exauth_probe_verdict{") {
						verdictSeen = k
					}
				}
				t.Errorf("%s, scrape %d: status %d, %s; want %s\n%.300s", l.name, i+1, status, verdictSeen, want, body)
			}
		}
	}
}
