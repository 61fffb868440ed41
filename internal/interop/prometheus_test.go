//go:build interop

package interop

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/scenarios/scenariotest"
)

// TestPrometheus: a real Prometheus scrapes `exauth exporter`, which
// probes scenarios started in-process, and the results are read back
// through Prometheus' HTTP API: healthy reaches exauth_probe_success 1,
// clock-skew the clock-skew verdict with the hub's 7 minutes. Prometheus
// also loads the example alerting rules, and promtool checks them and the
// exporter's exposition.
func TestPrometheus(t *testing.T) {
	requireTools(t, "prometheus", "prometheus", "promtool")
	bin := exauthBinary(t)
	dir := t.TempDir()

	// The scenarios, and one module each with the lab's credentials.
	labs := map[string]*scenariotest.Env{}
	var modules strings.Builder
	modules.WriteString("modules:\n")
	for _, name := range []string{"healthy", "clock-skew"} {
		env := scenariotest.Start(t, name)
		labs[name] = env
		s, err := env.Lab.ProbeSettings()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&modules, "  %s:\n    krb5_conf: %q\n    keytab: %q\n    principal: %q\n    ca_file: %q\n    ehlo: %q\n",
			name, s.Credentials.Krb5Conf, s.Credentials.Keytab, s.Credentials.Principal, s.CAFile, s.EHLO)
	}
	exporterConfig := filepath.Join(dir, "exporter.yaml")
	if err := os.WriteFile(exporterConfig, []byte(modules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	exporterAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	exp := startProc(t, baseEnv(), bin, "exporter", "--config", exporterConfig, "--listen", exporterAddr, "--log-level", "debug")
	waitListening(t, exp, exporterAddr, func() string { return "" })
	onFailure(t, "exauth exporter output", exp.out.String)

	// promtool lints what the exporter answers, as Prometheus' own
	// exposition checks would.
	s, err := labs["healthy"].Lab.ProbeSettings()
	if err != nil {
		t.Fatal(err)
	}
	body := get(t, "http://"+exporterAddr+"/probe?"+url.Values{"module": {"healthy"}, "target": {s.Host}, "connect": {s.Connect}}.Encode())
	lint := exec.Command(tool(t, "promtool"), "check", "metrics")
	lint.Stdin = strings.NewReader(body)
	if out, err := lint.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n--- exposition\n%s", err, out, body)
	}

	rules, err := filepath.Abs(filepath.Join("..", "..", "examples", "exauth-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool(t, "promtool"), "check", "rules", rules).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules %s: %v\n%s", rules, err, out)
	}

	// Prometheus scrapes each scenario once a second, blackbox-style.
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %q\nscrape_configs:\n", rules)
	for _, name := range []string{"healthy", "clock-skew"} {
		s, err := labs[name].Lab.ProbeSettings()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&cfg, `  - job_name: %s
    metrics_path: /probe
    params:
      module: [%s]
      connect: [%q]
    static_configs:
      - targets: [%q]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: %q
`, name, name, s.Connect, s.Host, exporterAddr)
	}
	fmt.Fprintf(&cfg, "  - job_name: exporter\n    static_configs:\n      - targets: [%q]\n", exporterAddr)
	promConfig := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(promConfig, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tool(t, "promtool"), "check", "config", promConfig).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	prom := startProc(t, baseEnv(), tool(t, "prometheus"),
		"--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--log.level=warn")
	onFailure(t, "prometheus output", prom.out.String)
	waitListening(t, prom, promAddr, func() string { return "" })
	api := "http://" + promAddr

	for _, tc := range []struct {
		what, query string
		check       func(float64) bool
	}{
		{"healthy authenticates", `exauth_probe_success{job="healthy"}`, func(v float64) bool { return v == 1 }},
		{"clock-skew is diagnosed", `exauth_probe_verdict{job="clock-skew",verdict="clock-skew"}`, func(v float64) bool { return v == 1 }},
		{"clock-skew fails", `exauth_probe_success{job="clock-skew"}`, func(v float64) bool { return v == 0 }},
		{"the hub is 7 minutes ahead", `exauth_clock_offset_seconds{job="clock-skew",pair="server_vs_kdc"}`, func(v float64) bool { return v > 410 && v < 430 }},
		{"the example rule sees the failing pair", `ALERTS{alertname="ExchangeAuthFailing",alertstate="pending",job="clock-skew"}`, func(v float64) bool { return v == 1 }},
	} {
		v := waitQuery(t, api, tc.query, tc.check)
		t.Logf("%s: %s = %v", tc.what, tc.query, v)
	}
	// Several scrapes of each lab have passed: still one login per lab's
	// client (both labs name theirs HUB02$@LAB.TEST, so the series adds
	// them up) and one ticket per SPN — healthy's, and clock-skew's with
	// the reverse SPN the probe asks for after the refusal.
	waitQuery(t, api, `exauth_exporter_probes_total{job="exporter",module="clock-skew",verdict="clock-skew"}`, func(v float64) bool { return v >= 4 })
	for _, c := range []struct {
		q    string
		want float64
	}{
		{`exauth_exporter_kerberos_exchanges_total{job="exporter",exchange="as"}`, 2},
		{`exauth_exporter_kerberos_exchanges_total{job="exporter",exchange="tgs"}`, 3},
	} {
		if v := waitQuery(t, api, c.q, func(float64) bool { return true }); v != c.want {
			t.Errorf("%s = %v after several scrapes, want %v", c.q, v, c.want)
		}
	}
	var rulesResp struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name   string `json:"name"`
					Health string `json:"health"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(get(t, api+"/api/v1/rules")), &rulesResp); err != nil || len(rulesResp.Data.Groups) == 0 {
		t.Fatalf("rules: %v", err)
	}
	for _, r := range rulesResp.Data.Groups[0].Rules {
		if r.Health == "err" {
			t.Errorf("rule %s failed to evaluate", r.Name)
		}
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v\n%s", u, resp.StatusCode, err, b)
	}
	return string(b)
}

// waitQuery polls an instant query until it returns one sample that check
// accepts, for at most 30 seconds (Prometheus' first scrapes and rule
// evaluations take a few intervals).
func waitQuery(t *testing.T, api, query string, check func(float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		var r struct {
			Status string `json:"status"`
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		resp, err := http.Get(api + "/api/v1/query?" + url.Values{"query": {query}}.Encode())
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if json.Unmarshal(b, &r) == nil && r.Status == "success" && len(r.Data.Result) == 1 {
				if s, ok := r.Data.Result[0].Value[1].(string); ok {
					if v, err := strconv.ParseFloat(s, 64); err == nil && check(v) {
						return v
					}
				}
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no acceptable answer within 30s; last: %s", query, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
