package main

import (
	"bytes"
	"context"
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

	"github.com/exauth/exauth/scenarios/scenariotest"
)

// TestExporter_Command runs `exauth exporter` in-process behind a web
// configuration with basic authentication, scrapes a healthy scenario
// through it, and stops it as SIGTERM would.
func TestExporter_Command(t *testing.T) {
	lab := scenariotest.Start(t, "healthy")
	s, err := lab.Lab.ProbeSettings()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "exporter.yaml")
	text := fmt.Sprintf("modules:\n  default:\n    krb5_conf: %q\n    keytab: %q\n    principal: %q\n    ca_file: %q\n    ehlo: %q\n",
		s.Credentials.Krb5Conf, s.Credentials.Keytab, s.Credentials.Principal, s.CAFile, s.EHLO)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
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
		t.Fatalf("exited %d before ready: %s", code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("not ready after 10s")
	}
	addr := strings.TrimSpace(strings.TrimPrefix(stdout.String(), "exauth exporter listening on "))
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
