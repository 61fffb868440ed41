package check

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/exauth/exauth/internal/safetext"
)

// WriteTable prints the human table: target, expected, got, summary.
func WriteTable(w io.Writer, run *Run) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TARGET\tEXPECTED\tGOT\tRESULT\tSUMMARY")
	for _, r := range run.Results {
		mark := "ok"
		if !r.Met {
			mark = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", safetext.Line(r.Target), r.Expect, r.Verdict, mark, safetext.Line(oneLine(r.Summary, 100)))
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d targets: %d as expected, %d not (%.0f ms)\n", len(run.Results), run.Met, run.Failed, run.DurationMS)
	for _, k := range run.Kerberos {
		fmt.Fprintf(w, "Kerberos %s: %d AS exchange(s), %d TGS exchange(s)\n", k.Principal, k.AS, k.TGS)
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n-3] + "..."
	}
	return s
}

// JUnit XML, in the shape Jenkins, GitLab and Azure DevOps read: one
// testsuite, one testcase per target, a failure element for a missed
// expectation with the summary as message and the evidence in system-out.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Errors    int         `xml:"errors,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// WriteJUnit writes the run as JUnit XML.
func WriteJUnit(w io.Writer, run *Run) error {
	suite := junitSuite{
		Name: "exauth check " + run.Plan, Tests: len(run.Results), Failures: run.Failed,
		Time: secs(run.DurationMS), Timestamp: run.Started.UTC().Format(time.RFC3339),
	}
	for _, r := range run.Results {
		c := junitCase{
			Name: r.Target, Classname: "exauth." + classOf(r), Time: secs(r.DurationMS),
			SystemOut: fmt.Sprintf("verdict: %s (%s)\nexpected: %s\nsummary: %s\nevidence:\n  %s\n",
				r.Verdict, r.Severity, r.Expect, r.Summary, strings.Join(r.Evidence, "\n  ")),
		}
		if !r.Met {
			c.Failure = &junitFailure{
				Message: r.Summary,
				Type:    string(r.Verdict),
				Text:    fmt.Sprintf("expected %s, got %s", r.Expect, r.Verdict),
			}
		}
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Name: "exauth", Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time, Suites: []junitSuite{suite}}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func classOf(r Result) string {
	if r.Scenario != "" {
		return "scenario"
	}
	return "host"
}

func secs(ms float64) string { return fmt.Sprintf("%.3f", ms/1000) }

// Saved is what --save stores: enough to compare a later run with.
type Saved struct {
	Plan    string        `json:"plan"`
	Started string        `json:"started"`
	Results []SavedResult `json:"results"`
}

// SavedResult is one target's stored outcome.
type SavedResult struct {
	Target  string   `json:"target"`
	Expect  Verdicts `json:"expect"`
	Verdict string   `json:"verdict"`
	Met     bool     `json:"met"`
	Summary string   `json:"summary"`
}

// Save writes the run for a later --compare.
func Save(path string, run *Run) error {
	s := Saved{Plan: run.Plan, Started: run.Started.UTC().Format(time.RFC3339)}
	for _, r := range run.Results {
		s.Results = append(s.Results, SavedResult{r.Target, r.Expect, string(r.Verdict), r.Met, r.Summary})
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// LoadSaved reads a file written by Save.
func LoadSaved(path string) (*Saved, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("saved results: %w", err)
	}
	var s Saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: not a file of saved results: %w", path, err)
	}
	return &s, nil
}

// Change is one target whose verdict differs between two runs.
type Change struct {
	Target      string `json:"target"`
	Before      string `json:"before"` // "" when the target is new
	After       string `json:"after"`  // "" when the target is gone
	BeforeMet   bool   `json:"before_met"`
	AfterMet    bool   `json:"after_met"`
	AfterDetail string `json:"after_summary,omitempty"`
}

// Compare lists what changed since a saved run, in target order.
func Compare(before *Saved, run *Run) []Change {
	prev := map[string]SavedResult{}
	for _, r := range before.Results {
		prev[r.Target] = r
	}
	var out []Change
	seen := map[string]bool{}
	for _, r := range run.Results {
		seen[r.Target] = true
		p, ok := prev[r.Target]
		if ok && p.Verdict == string(r.Verdict) {
			continue
		}
		out = append(out, Change{Target: r.Target, Before: p.Verdict, After: string(r.Verdict), BeforeMet: p.Met, AfterMet: r.Met, AfterDetail: r.Summary})
	}
	var gone []string
	for t := range prev {
		if !seen[t] {
			gone = append(gone, t)
		}
	}
	sort.Strings(gone)
	for _, t := range gone {
		out = append(out, Change{Target: t, Before: prev[t].Verdict, BeforeMet: prev[t].Met})
	}
	return out
}

// WriteChanges prints the comparison for people.
func WriteChanges(w io.Writer, before *Saved, changes []Change) {
	if len(changes) == 0 {
		fmt.Fprintf(w, "no verdict changed since %s\n", before.Started)
		return
	}
	fmt.Fprintf(w, "changed since %s:\n", before.Started)
	for _, c := range changes {
		switch {
		case c.Before == "":
			fmt.Fprintf(w, "  %s: new target, now %s\n", c.Target, c.After)
		case c.After == "":
			fmt.Fprintf(w, "  %s: no longer in the plan (was %s)\n", c.Target, c.Before)
		default:
			tag := ""
			if c.BeforeMet && !c.AfterMet {
				tag = "  <- broke"
			} else if !c.BeforeMet && c.AfterMet {
				tag = "  <- fixed"
			}
			fmt.Fprintf(w, "  %s: %s -> %s%s\n", c.Target, c.Before, c.After, tag)
		}
	}
}
