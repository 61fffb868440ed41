package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/exauth/exauth/exporter"
)

func cmdExporter(ctx context.Context, args []string, e env) int {
	fs := newCommand(e, "exporter", "--config FILE [flags]", `
Run a Prometheus exporter, as blackbox_exporter does: Prometheus scrapes
/probe?module=NAME&target=HOST[:PORT] (or an https:// URL), exauth probes
the target with the module's settings and answers with the verdict,
severity, warnings, clock offsets, phase durations and expiry times as
metrics; /metrics has the exporter's own. Modules are probe settings with
the keys of a plan file (docs/exporter.md). SIGHUP, or a POST to
/-/reload, reads the configuration again. Exit codes: 0 stopped by
SIGINT/SIGTERM (or --check-config passed), 3 invalid configuration.`, args)
	configFile := fs.String("config", "", "the modules `FILE` (YAML; see examples/exporter.yaml)")
	listen := fs.String("listen", ":9818", "listen on `ADDR`")
	webConfig := fs.String("web-config", "", "TLS and basic authentication `FILE`, in the Prometheus exporter-toolkit web configuration format")
	maxConcurrent := fs.Int("max-concurrent", 16, "probes running at once; further scrapes wait within their deadline, then get 503")
	checkOnly := fs.Bool("check-config", false, "read the configuration and its credentials, report, and exit")
	logLevel := fs.String("log-level", "info", "info|debug (debug logs every probe's verdict)")
	if _, code, done := fs.parse(args, 0); done {
		return code
	}
	if *configFile == "" {
		return usageError(e, "exporter", errors.New("--config FILE is required"))
	}
	if *maxConcurrent < 1 || *maxConcurrent > 1000 {
		return usageError(e, "exporter", fmt.Errorf("--max-concurrent %d out of range 1..1000", *maxConcurrent))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError(e, "exporter", fmt.Errorf("--log-level: %w", err))
	}
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
	if *webConfig != "" {
		if err := web.Validate(*webConfig); err != nil {
			return usageError(e, "exporter", fmt.Errorf("--web-config: %w", err))
		}
	}
	x, err := exporter.New(exporter.Options{
		ConfigFile: *configFile, MaxConcurrent: *maxConcurrent, Getenv: e.getenv, Logger: logger, Version: version,
	})
	if err != nil {
		return usageError(e, "exporter", err)
	}
	if *checkOnly {
		fmt.Fprintf(e.stdout, "%s: configuration valid, credentials readable\n", *configFile)
		return 0
	}

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return usageError(e, "exporter", fmt.Errorf("--listen: %w", err))
	}
	mux := http.NewServeMux()
	mux.Handle("/", x.Handler())
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name: "exauth exporter", Description: "Why can't this Exchange server authenticate to that one? Probes on demand for Prometheus.",
		Version: version,
		Links: []web.LandingLinks{
			{Address: "/metrics", Text: "Exporter metrics"},
			{Address: "/probe?module=default&target=hub01.contoso.com", Text: "Probe (edit module and target)"},
		},
	})
	if err != nil {
		ln.Close()
		return usageError(e, "exporter", err)
	}
	mux.HandleFunc("/{$}", landing.ServeHTTP)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	flags := &web.FlagConfig{WebConfigFile: webConfig, WebListenAddresses: &[]string{ln.Addr().String()}, WebSystemdSocket: new(bool)}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	served := make(chan error, 1)
	go func() { served <- web.Serve(ln, srv, flags, logger) }()
	fmt.Fprintf(e.stdout, "exauth exporter listening on %s\n", ln.Addr())
	if e.ready != nil {
		close(e.ready)
	}
	for {
		select {
		case <-hup:
			// A bad file is logged and the running configuration kept.
			_ = x.Reload()
		case err := <-served:
			if errors.Is(err, http.ErrServerClosed) {
				return 0
			}
			return usageError(e, "exporter", err)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := srv.Shutdown(sctx)
			cancel()
			<-served
			if err != nil {
				fmt.Fprintf(e.stderr, "exauth exporter: shutdown: %v\n", err)
			}
			return 0
		}
	}
}
