package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/scenarios/scenariotest"
	"github.com/exauth/exauth/smtpprobe"
)

// TestExporter_Command runs `exauth exporter` in-process behind a web
// configuration with basic authentication, scrapes a healthy scenario
// through it, and stops it as SIGTERM would.
func TestExporter_Command(t *testing.T) {
	s, module := healthyModule(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yaml")
	if err := os.WriteFile(cfg, []byte("modules:\n  default:\n"+module), 0o600); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(web, []byte("basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	if stdout, stderr, code := runCmd(t, "", "exporter", "--config", cfg, "--check-config"); code != 0 || !strings.Contains(stdout, "configuration valid") {
		t.Fatalf("--check-config: exit %d %q %q", code, stdout, stderr)
	}

	addr, stop := startExporterCmd(t, cfg, web)
	q := url.Values{"target": {s.Host}, "connect": {s.Connect}}
	get := func(user, pass string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/probe?"+q.Encode(), nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, _ := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", code)
	}
	if code, body := get("prometheus", "scrape-secret"); code != 200 || !strings.Contains(body, "exauth_probe_success 1") {
		t.Errorf("with credentials: %d\n%s", code, body)
	}
	stop()
}

// TestExporter_CommandTLS serves the exporter over HTTPS (the web
// configuration's tls_server_config): a scrape that trusts the
// certificate's CA gets the metrics, plain HTTP gets none.
func TestExporter_CommandTLS(t *testing.T) {
	s, module := healthyModule(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yaml")
	if err := os.WriteFile(cfg, []byte("modules:\n  default:\n"+module), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca, err := fakeserver.NewCA("exporter test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"127.0.0.1"}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "exporter.crt"), filepath.Join(dir, "exporter.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(web, []byte(fmt.Sprintf("tls_server_config:\n  cert_file: %q\n  key_file: %q\n", certFile, keyFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, stop := startExporterCmd(t, cfg, web)
	defer stop()
	q := url.Values{"target": {s.Host}, "connect": {s.Connect}}.Encode()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	resp, err := client.Get("https://" + addr + "/probe?" + q)
	if err != nil {
		t.Fatalf("scrape over HTTPS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "exauth_probe_success 1") {
		t.Errorf("over HTTPS: %d\n%s", resp.StatusCode, body)
	}
	if resp, err := http.Get("http://" + addr + "/probe?" + q); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "exauth_probe") {
			t.Errorf("plain HTTP to the TLS listener got metrics: %d", resp.StatusCode)
		}
	}
}

// healthyModule starts the healthy scenario and returns its probe
// settings and a module (the lines under its name) that probes it.
func healthyModule(t *testing.T) (smtpprobe.Settings, string) {
	t.Helper()
	lab := scenariotest.Start(t, "healthy")
	s, err := lab.Lab.ProbeSettings()
	if err != nil {
		t.Fatal(err)
	}
	return s, fmt.Sprintf("    krb5_conf: %q\n    keytab: %q\n    principal: %q\n    ca_file: %q\n    ehlo: %q\n",
		s.Credentials.Krb5Conf, s.Credentials.Keytab, s.Credentials.Principal, s.CAFile, s.EHLO)
}

// startExporterCmd runs `exauth exporter` in-process on a free loopback
// port with the modules file cfg and the web configuration web; stop ends
// it as SIGTERM would and checks it exits 0.
func startExporterCmd(t *testing.T, cfg, web string) (addr string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var stdout, stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"exporter", "--config", cfg, "--listen", "127.0.0.1:0", "--web-config", web},
			env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, ready: ready})
	}()
	select {
	case <-ready:
	case code := <-exited:
		cancel()
		t.Fatalf("exited %d before ready: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("not ready after 10s")
	}
	addr = strings.TrimSpace(strings.TrimPrefix(stdout.String(), "exauth exporter listening on "))
	var once bool
	return addr, func() {
		if once {
			return
		}
		once = true
		cancel()
		select {
		case code := <-exited:
			if code != 0 {
				t.Errorf("exit %d after cancel: %s", code, stderr.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("did not stop")
		}
	}
}

func TestExporter_CommandErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("modules:\n  a:\n    mech: telepathy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"exporter"}, "--config FILE is required"},
		{[]string{"exporter", "--config", bad}, bad + `:3: modules.a.mech: unknown value "telepathy"`},
		{[]string{"exporter", "--config", bad, "--max-concurrent", "0"}, "--max-concurrent 0 out of range"},
		{[]string{"exporter", "--config", bad, "--web-config", bad}, "--web-config:"},
		{[]string{"exporter", "--config", bad, "stray"}, `unexpected argument "stray"`},
	} {
		_, stderr, code := runCmd(t, "", tc.args...)
		if code != 3 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 3 and %q", tc.args, code, stderr, tc.want)
		}
	}
}
