package exporter

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/exauth/exauth/verdict"
)

// probeDescs describe the metrics of one probe (docs/exporter.md). Their
// names are a contract: dashboards and alerting rules use them.
type probeDescs struct {
	success, duration, verdict, severity, warning        *prometheus.Desc
	clock, phase, ticketExpiry, certExpiry, kvno, dcKVNO *prometheus.Desc
	info, kdcSample                                      *prometheus.Desc
}

func newProbeDescs() probeDescs {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return probeDescs{
		success:      d("exauth_probe_success", "1 when the server accepted authentication (verdict ok, with or without warnings), else 0."),
		duration:     d("exauth_probe_duration_seconds", "How long the probe took, not counting the wait for a free probe slot."),
		verdict:      d("exauth_probe_verdict", "1 for the probe's verdict, 0 for every other verdict ID.", "verdict"),
		severity:     d("exauth_probe_severity", "The verdict's severity as its exit code: 0 ok, 1 warning, 2 critical, 3 unknown."),
		warning:      d("exauth_probe_warning", "1 for each warning that raised an ok verdict to severity warning, 0 for the others.", "warning"),
		clock:        d("exauth_clock_offset_seconds", "Offset between two clocks, first minus second, for each pair the probe could observe.", "pair"),
		phase:        d("exauth_phase_duration_seconds", "Duration of each phase the probe reached.", "phase"),
		ticketExpiry: d("exauth_ticket_expiry_timestamp_seconds", "When the service ticket the probe used expires (Unix time)."),
		certExpiry:   d("exauth_certificate_expiry_timestamp_seconds", "When the server's TLS certificate expires (Unix time)."),
		kvno:         d("exauth_key_version", "Key version number of the service ticket the KDC issued for the SPN.", "spn"),
		dcKVNO:       d("exauth_directory_key_version", "msDS-KeyVersionNumber of the SPN's holder as each domain controller has it (when the directory was read).", "spn", "dc"),
		kdcSample:    d("exauth_clock_kdc_sample_timestamp_seconds", "When this host's clock was last compared with the KDC's (Unix time): at the last exchange with the KDC, which tickets shared between scrapes make rare."),
		info:         d("exauth_probe_info", "Always 1: what the probe talked to (empty labels where unknown).", "address", "spn", "kdc", "etype", "tls_version"),
	}
}

// reportCollector turns one report into metrics. Values the probe did not
// observe are absent, never zero: a missing clock pair is unknown, not in
// step.
type reportCollector struct {
	d *probeDescs
	r *verdict.Report
}

func (c reportCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.d.success, c.d.duration, c.d.verdict, c.d.severity, c.d.warning,
		c.d.clock, c.d.phase, c.d.ticketExpiry, c.d.certExpiry, c.d.kvno, c.d.dcKVNO, c.d.info, c.d.kdcSample} {
		ch <- d
	}
}

func (c reportCollector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.d.success, boolValue(r.Verdict == verdict.VerdictOK))
	gauge(c.d.duration, math.Round(r.Timings.Total*1000)/1e6)
	for _, v := range verdict.Verdicts() {
		gauge(c.d.verdict, boolValue(v == r.Verdict), string(v))
	}
	gauge(c.d.severity, float64(r.Severity.ExitCode()))
	for _, w := range verdict.Warnings() {
		has := false
		for _, got := range r.Warnings {
			has = has || got == w
		}
		gauge(c.d.warning, boolValue(has), string(w))
	}
	for _, p := range []struct {
		name string
		v    *float64
	}{{"local_vs_kdc", r.Clocks.LocalVsKDC}, {"server_vs_kdc", r.Clocks.ServerVsKDC}, {"server_vs_local", r.Clocks.ServerVsLocal}} {
		if p.v != nil {
			gauge(c.d.clock, *p.v, p.name)
		}
	}
	for _, p := range []struct {
		name string
		ms   *float64
	}{{"connect", r.Timings.Connect}, {"tls", r.Timings.TLS}, {"kdc", r.Timings.KDC}, {"auth", r.Timings.Auth}} {
		if p.ms != nil {
			gauge(c.d.phase, math.Round(*p.ms*1000)/1e6, p.name) // whole µs: no 0.0021000000000000003
		}
	}
	var address, spn, kdc, etype, tlsVersion string
	if r.Address != nil {
		address = *r.Address
	}
	if o := r.Observation; o != nil {
		if k := o.Kerberos; k != nil {
			spn, kdc = k.SPN, k.KDC
			if !k.TicketEnd.IsZero() {
				gauge(c.d.ticketExpiry, unix(k.TicketEnd))
			}
			if k.KVNO != nil && k.SPN != "" {
				gauge(c.d.kvno, float64(*k.KVNO), k.SPN)
			}
			if k.EType != 0 {
				etype = verdict.ETypeName(k.EType)
			}
			if cs := k.ClockSample; cs != nil && !cs.Local.IsZero() {
				gauge(c.d.kdcSample, unix(cs.Local))
			}
		}
		if t := o.TLS; t != nil {
			tlsVersion = t.Version
			if t.PeerCert != nil && !t.PeerCert.NotAfter.IsZero() {
				gauge(c.d.certExpiry, unix(t.PeerCert.NotAfter))
			}
		}
		if d := o.Directory; d != nil && d.Err == "" {
			seen := map[string]bool{}
			for _, kv := range d.KeyVersions {
				// One series per DC: a DC listed twice (two URLs for one
				// server) would make the scrape fail.
				if kv.KeyVersion != nil && kv.DC != "" && !seen[kv.DC] {
					seen[kv.DC] = true
					gauge(c.d.dcKVNO, float64(*kv.KeyVersion), d.SPN, kv.DC)
				}
			}
		}
	}
	gauge(c.d.info, 1, address, spn, kdc, etype, tlsVersion)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
