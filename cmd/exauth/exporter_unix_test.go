//go:build unix

package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExporter_SIGHUP: SIGHUP reads the modules file again, as a
// Prometheus exporter's reload does; a broken file keeps the running one.
func TestExporter_SIGHUP(t *testing.T) {
	s, module := healthyModule(t)
	cfg := filepath.Join(t.TempDir(), "exporter.yaml")
	write := func(text string) {
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("modules:\n  first:\n" + module)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	var stdout, stderr bytes.Buffer
	exited := make(chan int, 1)
	go func() {
		exited <- run(ctx, []string{"exporter", "--config", cfg, "--listen", "127.0.0.1:0"},
			env{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }, ready: ready})
	}()
	select {
	case <-ready:
	case code := <-exited:
		t.Fatalf("exited %d before ready: %s", code, stderr.String())
	}
	addr := strings.TrimSpace(strings.TrimPrefix(stdout.String(), "exauth exporter listening on "))
	status := func(module string) int {
		q := url.Values{"module": {module}, "target": {s.Host}, "connect": {s.Connect}}
		resp, err := http.Get("http://" + addr + "/probe?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := status("first"); code != 200 {
		t.Fatalf("first: %d", code)
	}
	write("modules:\n  second:\n" + module)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for status("second") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("module second not served 5s after SIGHUP")
		}
		time.Sleep(10 * time.Millisecond)
	}
	write("modules:\n  third:\n    mech: telepathy\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// The broken file is refused; the second configuration stays.
	refused := false
	for deadline := time.Now().Add(5 * time.Second); !refused && time.Now().Before(deadline); {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		refused = strings.Contains(string(body), "exauth_exporter_config_last_reload_successful 0")
		time.Sleep(10 * time.Millisecond)
	}
	if !refused {
		t.Error("the broken file's reload is not reported as failed")
	}
	if code := status("second"); code != 200 {
		t.Errorf("after a broken reload, module second: %d", code)
	}
	cancel()
	if code := <-exited; code != 0 {
		t.Errorf("exit %d", code)
	}
}
