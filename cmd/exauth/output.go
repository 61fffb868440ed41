package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/exauth/exauth/internal/safetext"
	"github.com/exauth/exauth/verdict"
)

// writeJSON prints v as one JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeReport prints a report for people. The transcript uses swaks's
// arrows: "<-" received, " ->" sent, and "<~" / " ~>" inside TLS.
func writeReport(w io.Writer, r *verdict.Report, verbose bool) {
	if verbose && len(r.Transcript) > 0 {
		for _, l := range r.Transcript {
			arrow := map[[2]bool]string{
				{false, false}: "<- ", {true, false}: " ->",
				{false, true}: "<~ ", {true, true}: " ~>",
			}[[2]bool{l.Dir == ">", l.TLS}]
			fmt.Fprintf(w, "%8.1fms %s %s\n", l.TMillis, arrow, safetext.Line(l.Line))
		}
		fmt.Fprintln(w)
	}
	addr := ""
	if r.Address != nil {
		addr = " (" + safetext.Line(*r.Address) + ")"
	}
	fmt.Fprintf(w, "%s%s: %s [%s]\n", safetext.Line(r.Target), addr, strings.ToUpper(string(r.Verdict)), r.Severity)
	writeFindings(w, r.Summary, r.Evidence, r.Remediation)
}

// writeFindings prints a summary, evidence and remediation. Everything is
// escaped: much of it quotes what a peer sent or a user pasted.
func writeFindings(w io.Writer, summary string, evidence, remediation []string) {
	fmt.Fprintf(w, "  %s\n", safetext.Line(summary))
	if len(evidence) > 0 {
		fmt.Fprintln(w, "evidence:")
		for _, e := range evidence {
			fmt.Fprintf(w, "  - %s\n", safetext.Line(e))
		}
	}
	if len(remediation) > 0 {
		fmt.Fprintln(w, "what to do:")
		for i, s := range remediation {
			fmt.Fprintf(w, "  %d. %s\n", i+1, safetext.Line(s))
		}
	}
}

// writeNagios prints a report as a monitoring plugin does (the Nagios
// plugin guidelines, which Icinga, Naemon and Checkmk read too): one line
// "STATE - summary | performance data", then the evidence as long output.
// The exit code is the report's, as for every format.
func writeNagios(w io.Writer, r *verdict.Report) {
	state := map[verdict.Severity]string{
		verdict.SeverityOK: "OK", verdict.SeverityWarning: "WARNING",
		verdict.SeverityCritical: "CRITICAL", verdict.SeverityUnknown: "UNKNOWN",
	}[r.Severity]
	if state == "" {
		state = "UNKNOWN"
	}
	fmt.Fprintf(w, "%s - %s", state, pluginText(r.Summary))
	if perf := nagiosPerfData(r); len(perf) > 0 {
		fmt.Fprintf(w, " | %s", strings.Join(perf, " "))
	}
	fmt.Fprintln(w)
	for _, e := range r.Evidence {
		fmt.Fprintln(w, pluginText(e))
	}
}

// pluginText is one line of plugin output: escaped, and without "|",
// which starts the performance data.
func pluginText(s string) string {
	return strings.ReplaceAll(safetext.Line(s), "|", "/")
}

// nagiosPerfData is what the probe measured, in the guidelines' format
// 'label'=value[UOM];warn;crit. Clock thresholds are ranges around zero
// (a clock may be ahead or behind): warning beyond 2 minutes, critical
// beyond Kerberos' 5. Values the probe did not observe are left out.
func nagiosPerfData(r *verdict.Report) []string {
	num := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	warn, crit := verdict.WarnSkew.Seconds(), verdict.MaxSkew.Seconds()
	var out []string
	for _, c := range []struct {
		label string
		v     *float64
	}{{"clock_local_vs_kdc", r.Clocks.LocalVsKDC}, {"clock_server_vs_kdc", r.Clocks.ServerVsKDC}, {"clock_server_vs_local", r.Clocks.ServerVsLocal}} {
		if c.v != nil {
			out = append(out, fmt.Sprintf("%s=%ss;%s:%s;%s:%s", c.label, num(*c.v), num(-warn), num(warn), num(-crit), num(crit)))
		}
	}
	for _, p := range []struct {
		label string
		ms    *float64
	}{{"connect", r.Timings.Connect}, {"tls", r.Timings.TLS}, {"kdc", r.Timings.KDC}, {"auth", r.Timings.Auth}, {"total", &r.Timings.Total}} {
		if p.ms != nil {
			out = append(out, fmt.Sprintf("%s=%ss", p.label, num(math.Round(*p.ms*1000)/1e6))) // whole µs
		}
	}
	// Days of certificate left, counted from the banner's arrival as the
	// verdict counts them: the same input gives the same output.
	if o := r.Observation; o != nil && o.TLS != nil && o.TLS.PeerCert != nil && o.Banner != nil && !o.Banner.ReceivedAt.IsZero() {
		days := o.TLS.PeerCert.NotAfter.Sub(o.Banner.ReceivedAt).Hours() / 24
		out = append(out, fmt.Sprintf("certificate_days=%s;%s:", num(math.Round(days*10)/10), num(verdict.CertExpiryWarning.Hours()/24)))
	}
	return out
}
