package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/exauth/exauth/smtpprobe"
)

// writeJSON prints v as one JSON object.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeReport prints a report for people. The transcript uses swaks's
// arrows: "<-" received, " ->" sent, and "<~" / " ~>" inside TLS.
func writeReport(w io.Writer, r *smtpprobe.Report, verbose bool) {
	if verbose && len(r.Transcript) > 0 {
		for _, l := range r.Transcript {
			arrow := map[[2]bool]string{
				{false, false}: "<- ", {true, false}: " ->",
				{false, true}: "<~ ", {true, true}: " ~>",
			}[[2]bool{l.Dir == ">", l.TLS}]
			fmt.Fprintf(w, "%8.1fms %s %s\n", l.TMillis, arrow, l.Line)
		}
		fmt.Fprintln(w)
	}
	addr := ""
	if r.Address != nil {
		addr = " (" + *r.Address + ")"
	}
	fmt.Fprintf(w, "%s%s: %s [%s]\n", r.Target, addr, strings.ToUpper(string(r.Verdict)), r.Severity)
	fmt.Fprintf(w, "  %s\n", r.Summary)
	if len(r.Evidence) > 0 {
		fmt.Fprintln(w, "evidence:")
		for _, e := range r.Evidence {
			fmt.Fprintf(w, "  - %s\n", e)
		}
	}
	if len(r.Remediation) > 0 {
		fmt.Fprintln(w, "what to do:")
		for i, s := range r.Remediation {
			fmt.Fprintf(w, "  %d. %s\n", i+1, s)
		}
	}
}
