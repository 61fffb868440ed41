package main

import (
	"encoding/json"
	"fmt"
	"io"
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
