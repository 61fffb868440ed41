package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"
)

// command is one subcommand's flag set: help asked for with -h goes to
// stdout (exauth probe -h | less), everything else to stderr, and every
// message carries the command's name.
type command struct {
	*flag.FlagSet
	name string
	e    env
}

// newCommand makes the flag set of "exauth NAME"; synopsis and about are
// the first lines of its help.
func newCommand(e env, name, synopsis, about string, args []string) *command {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	if helpAsked(args) {
		fs.SetOutput(e.stdout)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: exauth %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return &command{FlagSet: fs, name: name, e: e}
}

func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help":
			return true
		case "--":
			return false
		}
	}
	return false
}

// parse reads flags that may come after positional arguments, as users of
// kinit and swaks expect, and allows at most maxPos positionals (no more
// silently ignored words: "exauth serve clock-skew" is an error, not the
// healthy scenario). done reports that the command must return code.
func (c *command) parse(args []string, maxPos int) (pos []string, code int, done bool) {
	for {
		if err := c.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, true
			}
			// The flag package has printed the problem and the usage.
			return nil, c.fail(err), true
		}
		if c.NArg() == 0 {
			break
		}
		pos = append(pos, c.Arg(0))
		args = c.Args()[1:]
	}
	if len(pos) > maxPos {
		extra := pos[maxPos:]
		return nil, c.fail(fmt.Errorf("unexpected argument %q (flags are written --name VALUE; see exauth %s -h)", strings.Join(extra, " "), c.name)), true
	}
	return pos, 0, false
}

// fail reports a usage or setup error: on stderr, and as one JSON object
// on stdout when --json was asked for, so that scripts always get JSON.
func (c *command) fail(err error) int { return usageError(c.e, c.name, err) }

// durationFlag is a time bound given on the command line: a Go duration
// ("30s", "2m"), more than zero.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration like 5s or 2m, not %q", s)
	}
	if d <= 0 {
		return fmt.Errorf("want more than zero, not %s", s)
	}
	*f.d = d
	return nil
}
