package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/exauth/exauth/check"
)

func cmdCheck(ctx context.Context, args []string, e env) int {
	fs := newCommand(e, "check", "--plan FILE [flags]", `
Run a lab validation plan: many targets, each with the verdict it should
reach, probed concurrently with shared credentials (docs/plan.md). Exit
codes: 0 every target as expected, 2 otherwise, 3 invalid plan or
interrupted.`, args)
	planFile := fs.String("plan", "", "the plan `FILE` (YAML; see examples/lab-plan.yaml)")
	concurrency := fs.Int("concurrency", 16, "targets probed at once")
	jsonOut := fs.Bool("json", false, "print all results and reports as JSON (= --format json)")
	format := fs.String("format", "text", "text|json|nagios: nagios prints one monitoring-plugin line (OK when every target is as expected, else CRITICAL naming the others) with performance data")
	junit := fs.String("junit", "", "write JUnit XML to `FILE` (Jenkins, GitLab, Azure DevOps)")
	save := fs.String("save", "", "store the results in `FILE` for a later --compare")
	compare := fs.String("compare", "", "show what changed since the results saved in `FILE`")
	if _, code, done := fs.parse(args, 0); done {
		return code
	}
	if *planFile == "" {
		return usageError(e, "check", errors.New("--plan FILE is required"))
	}
	switch {
	case *format != "text" && *format != "json" && *format != "nagios":
		return usageError(e, "check", fmt.Errorf("unknown --format %q (want text, json or nagios)", *format))
	case *jsonOut && *format == "nagios":
		return usageError(e, "check", errors.New("--json and --format nagios: choose one"))
	case *format == "json":
		*jsonOut = true
	}
	if *concurrency < 1 || *concurrency > 1000 {
		return usageError(e, "check", fmt.Errorf("--concurrency %d out of range 1..1000", *concurrency))
	}
	plan, err := check.LoadPlan(*planFile)
	if err != nil {
		return usageError(e, "check", err)
	}
	var before *check.Saved
	if *compare != "" {
		if before, err = check.LoadSaved(*compare); err != nil {
			return usageError(e, "check", fmt.Errorf("--compare: %w", err))
		}
	}
	// Output files are checked before any probing: a run is not to be
	// lost to a path that cannot be written.
	for _, out := range []struct{ flag, path string }{{"--junit", *junit}, {"--save", *save}} {
		if err := writable(out.path); err != nil {
			return usageError(e, "check", fmt.Errorf("%s %s: %w", out.flag, out.path, err))
		}
	}
	run := check.Execute(ctx, plan, check.Options{
		Concurrency: *concurrency, Getenv: e.getenv, Progress: progressPrinter(e.stderr),
	})
	interrupted := ctx.Err() != nil
	code := 0
	if !run.AllMet() {
		code = 2
	}
	var changes []check.Change
	if before != nil {
		changes = check.Compare(before, run)
	}
	switch {
	case *format == "nagios":
		writeCheckNagios(e.stdout, run, changes)
	case *jsonOut:
		out := struct {
			*check.Run
			Changes []check.Change `json:"changes,omitempty"`
		}{run, changes}
		if err := writeJSON(e.stdout, out); err != nil {
			return usageError(e, "check", err)
		}
	default:
		check.WriteTable(e.stdout, run)
		if before != nil {
			fmt.Fprintln(e.stdout)
			check.WriteChanges(e.stdout, before, changes)
		}
	}
	// The results are printed first, so that a file that cannot be written
	// after all loses nothing.
	if interrupted {
		fmt.Fprintf(e.stderr, "exauth check: interrupted: the results above are partial; --junit and --save were not written\n")
		return 3
	}
	if *junit != "" {
		if err := writeFileWith(*junit, func(w io.Writer) error { return check.WriteJUnit(w, run) }); err != nil {
			fmt.Fprintf(e.stderr, "exauth check: --junit: %v (the results above are complete)\n", err)
			code = 3
		}
	}
	if *save != "" {
		if err := check.Save(*save, run); err != nil {
			fmt.Fprintf(e.stderr, "exauth check: --save: %v (the results above are complete)\n", err)
			code = 3
		}
	}
	return code
}

// writable checks that path can be created or replaced: its directory
// exists and takes a new file, and it is not itself a directory.
func writable(path string) error {
	if path == "" {
		return nil
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return errors.New("is a directory")
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".exauth-check-*")
	if err != nil {
		return fmt.Errorf("cannot write there: %w", err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

// progressPrinter shows progress on a terminal (one updating line) and
// plain lines otherwise (CI logs).
func progressPrinter(w io.Writer) func(check.Progress) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return func(p check.Progress) {
		if tty {
			fmt.Fprintf(w, "\r%d/%d done, %d failed, %d remaining ", p.Done, p.Total, p.Failed, p.Total-p.Done)
			if p.Done == p.Total {
				fmt.Fprintln(w)
			}
			return
		}
		mark := "as expected"
		if !p.Last.Met {
			mark = "NOT as expected (" + p.Last.Expect.String() + ")"
		}
		fmt.Fprintf(w, "[%d/%d] %s: %s, %s\n", p.Done, p.Total, p.Last.Target, p.Last.Verdict, mark)
	}
}

func writeFileWith(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeCheckNagios prints a run as a monitoring plugin does: OK when every
// target reached an expected verdict, else CRITICAL naming the others
// (the exit code, 0 or 2, says the same); performance data counts them;
// the long output has one line per target, and what changed since
// --compare's results.
func writeCheckNagios(w io.Writer, run *check.Run, changes []check.Change) {
	n := fmt.Sprintf("%d targets", len(run.Results))
	if len(run.Results) == 1 {
		n = "1 target"
	}
	state, text := "OK", n+" as expected"
	if !run.AllMet() {
		var failed []string
		for _, r := range run.Results {
			if !r.Met {
				failed = append(failed, fmt.Sprintf("%s %s (expected %s)", r.Target, r.Verdict, r.Expect))
			}
		}
		state = "CRITICAL"
		text = fmt.Sprintf("%d of %s not as expected: %s", run.Failed, n, strings.Join(failed, ", "))
	}
	fmt.Fprintf(w, "%s - %s | targets=%d met=%d failed=%d;;0 duration=%ss\n", state, pluginText(text),
		len(run.Results), run.Met, run.Failed, strconv.FormatFloat(math.Round(run.DurationMS)/1000, 'f', -1, 64))
	for _, r := range run.Results {
		mark := "as expected"
		if !r.Met {
			mark = "NOT as expected (" + r.Expect.String() + ")"
		}
		fmt.Fprintln(w, pluginText(fmt.Sprintf("%s: %s, %s: %s", r.Target, r.Verdict, mark, r.Summary)))
	}
	for _, c := range changes {
		fmt.Fprintln(w, pluginText(fmt.Sprintf("changed: %s: %s -> %s", c.Target, c.Before, c.After)))
	}
}
