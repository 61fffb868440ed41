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
	Verdict     verdict.Verdict  `json:"verdict"`
	Severity    verdict.Severity `json:"severity"`
	Summary     string           `json:"summary"`
	Evidence    []string         `json:"evidence"`
	Remediation []string         `json:"remediation"`
	InnerReply  *string          `json:"inner_reply"`
	OuterReply  *string          `json:"outer_reply"`
	Codes       *explainCodes    `json:"codes"`
	Recognised  []string         `json:"recognised"`
	Truncated   bool             `json:"truncated,omitempty"`
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
	var text string
	switch {
	case len(pos) == 0 || len(pos) == 1 && pos[0] == "-":
		if isTerminal(e.stdin) {
			fmt.Fprintln(e.stderr, "exauth explain: paste the text, then end it with Ctrl-D (Ctrl-Z and Enter on Windows); Ctrl-C stops")
		}
		b, err := readAll(ctx, io.LimitReader(e.stdin, explain.MaxInput+1))
		if err != nil {
			return usageError(e, "explain", err)
		}
		// PowerShell 5.1's ">" writes UTF-16; Notepad adds a BOM.
		if text, err = safetext.Decode(b); err != nil {
			return usageError(e, "explain", fmt.Errorf("standard input is %w", err))
		}
	default:
		text = strings.Join(pos, " ")
	}
	if strings.TrimSpace(text) == "" {
		return usageError(e, "explain", errors.New("nothing to explain: give TEXT, or - and the text on stdin"))
	}
	res := explain.Explain(text)
	out := explainReport{
		Verdict: res.Verdict, Severity: res.Severity, Summary: res.Summary,
		Evidence: nonNil(res.Evidence), Remediation: nonNil(res.Remediation),
		Recognised: nonNil(res.Recognised), Truncated: res.Truncated,
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
	if res.Truncated {
		fmt.Fprintf(e.stdout, "(input truncated to %d bytes)\n", explain.MaxInput)
	}
	return res.Severity.ExitCode()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// readAll reads r to its end, or until ctx ends (Ctrl-C, SIGTERM): a read
// from a terminal blocks, and must not keep the command from stopping.
func readAll(ctx context.Context, r io.Reader) ([]byte, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return res.b, res.err
	case <-ctx.Done():
		return nil, errors.New("interrupted while reading standard input")
	}
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
