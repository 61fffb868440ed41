package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/exauth/exauth/explain"
	"github.com/exauth/exauth/internal/safetext"
	"github.com/exauth/exauth/verdict"
)

// explainReport is `exauth explain --json` (docs/json.md).
type explainReport struct {
	Verdict     verdict.Verdict   `json:"verdict"`
	Severity    verdict.Severity  `json:"severity"`
	Summary     string            `json:"summary"`
	Evidence    []string          `json:"evidence"`
	Remediation []string          `json:"remediation"`
	Warnings    []verdict.Warning `json:"warnings"`
	InnerReply  *string           `json:"inner_reply"`
	OuterReply  *string           `json:"outer_reply"`
	Codes       *explainCodes     `json:"codes"`
	Recognised  []string          `json:"recognised"`
	// Findings are the distinct verdicts found in the text, the most
	// severe first; the fields above are the first finding's.
	Findings []explainFinding `json:"findings"`
}

// explainFinding is one distinct failure found in the text.
type explainFinding struct {
	Verdict  verdict.Verdict  `json:"verdict"`
	Severity verdict.Severity `json:"severity"`
	Summary  string           `json:"summary"`
	Line     int              `json:"line"` // where the text that shows it begins
}

type explainCodes struct {
	Basic    int     `json:"basic"`
	Enhanced *string `json:"enhanced"`
}

func cmdExplain(ctx context.Context, args []string, e env) int {
	fs := newCommand(e, "explain", "[--json] [TEXT... | -]", `
Classify text an administrator pasted — a queue "Last error", an NDR, an
event text (1035, 2017, KDC event 11, ...), a kinit or klist message, a
protocol-log line, an EHLO answer — in any of Exchange's display
languages, into the same verdicts as a probe.

TEXT is the words given (quote them, or not); with - or no TEXT the text
is read from standard input until its end (Ctrl-D; Ctrl-Z then Enter on
Windows), e.g.  Get-Queue | fl LastError | exauth explain -
UTF-8 and UTF-16 (PowerShell's ">") are both read.`, args)
	jsonOut := fs.Bool("json", false, "print the result as one JSON object")
	pos, code, done := fs.parse(args, 1<<20)
	if done {
		return code
	}
	var findings []explain.Finding
	switch {
	case len(pos) == 0 || len(pos) == 1 && pos[0] == "-":
		if isTerminal(e.stdin) {
			fmt.Fprintln(e.stderr, "exauth explain: paste the text, then end it with Ctrl-D (Ctrl-Z and Enter on Windows); Ctrl-C stops")
		}
		// Read as a stream, however long (a whole protocol log): every
		// distinct failure in it is found, with bounded memory.
		var err error
		if findings, err = explainStream(ctx, e.stdin); err != nil {
			return usageError(e, "explain", err)
		}
	default:
		if text := strings.Join(pos, " "); strings.TrimSpace(text) != "" {
			findings = []explain.Finding{{Result: explain.Explain(text), Line: 1}}
		}
	}
	if len(findings) == 0 {
		return usageError(e, "explain", errors.New("nothing to explain: give TEXT, or - and the text on stdin"))
	}
	res := findings[0].Result
	out := explainReport{
		Verdict: res.Verdict, Severity: res.Severity, Summary: res.Summary,
		Evidence: nonNil(res.Evidence), Remediation: nonNil(res.Remediation),
		Warnings: res.Warnings, Recognised: nonNil(res.Recognised),
	}
	if out.Warnings == nil {
		out.Warnings = []verdict.Warning{}
	}
	for _, f := range findings {
		out.Findings = append(out.Findings, explainFinding{Verdict: f.Verdict, Severity: f.Severity, Summary: f.Summary, Line: f.Line})
	}
	if r := res.InnerReply; r != nil {
		s := r.String()
		out.InnerReply = &s
		out.Codes = &explainCodes{Basic: r.Code}
		if r.Enhanced != "" {
			enh := r.Enhanced
			out.Codes.Enhanced = &enh
		}
	}
	if r := res.Outer; r != nil {
		s := r.String()
		out.OuterReply = &s
	}
	if *jsonOut {
		if err := writeJSON(e.stdout, out); err != nil {
			return usageError(e, "explain", err)
		}
		return res.Severity.ExitCode()
	}
	fmt.Fprintf(e.stdout, "%s [%s]\n", strings.ToUpper(string(res.Verdict)), res.Severity)
	if out.InnerReply != nil {
		fmt.Fprintf(e.stdout, "reply: %s\n", safetext.Line(*out.InnerReply))
	}
	if out.OuterReply != nil {
		fmt.Fprintf(e.stdout, "wrapped by the sending server in: %s\n", safetext.Line(*out.OuterReply))
	}
	writeFindings(e.stdout, res.Summary, out.Evidence, out.Remediation)
	if len(findings) > 1 {
		fmt.Fprintf(e.stdout, "also found:\n")
		for _, f := range findings[1:] {
			fmt.Fprintf(e.stdout, "  - line %d: %s [%s]: %s\n", f.Line, strings.ToUpper(string(f.Verdict)), f.Severity, safetext.Line(f.Summary))
		}
	}
	return res.Severity.ExitCode()
}

// explainStream explains standard input as it comes, until its end or until
// ctx ends (Ctrl-C, SIGTERM): a read from a terminal blocks, and must not
// keep the command from stopping.
func explainStream(ctx context.Context, r io.Reader) ([]explain.Finding, error) {
	type result struct {
		f   []explain.Finding
		err error
	}
	done := make(chan result, 1)
	go func() {
		f, err := explain.ExplainReader(r)
		done <- result{f, err}
	}()
	select {
	case res := <-done:
		return res.f, res.err
	case <-ctx.Done():
		return nil, errors.New("interrupted while reading standard input")
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// isTerminal reports whether r is an interactive terminal.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
