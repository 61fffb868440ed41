package yamlfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"go.yaml.in/yaml/v3"

	"github.com/exauth/exauth/internal/yamlfile"
)

// The decode targets mirror the shape of the real scenario and plan types:
// nested structs, sequences of structs, maps, and a Duration with its own
// UnmarshalYAML that reports "line N: ..." the way check.Duration does.

type plan struct {
	Name     string            `yaml:"name"`
	Count    int               `yaml:"count"`
	Enabled  bool              `yaml:"enabled"`
	Timeout  duration          `yaml:"timeout"`
	Tags     []string          `yaml:"tags"`
	Labels   map[string]string `yaml:"labels"`
	Hub      hub               `yaml:"hub"`
	Accounts []account         `yaml:"accounts"`
	Extra    any               `yaml:"extra"`
}

type hub struct {
	Host        string   `yaml:"host"`
	Port        int      `yaml:"port"`
	ClockOffset duration `yaml:"clock_offset"`
}

type account struct {
	Name string `yaml:"name"`
	KVNO int    `yaml:"kvno"`
}

type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode || v < 0 {
		return fmt.Errorf("line %d: bad duration %q (want e.g. 30s, 2m)", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

const src = "t.yaml"

// asError requires err to be a *yamlfile.Error.
func asError(t *testing.T, err error) *yamlfile.Error {
	t.Helper()
	if err == nil {
		t.Fatal("err = nil, want an error")
	}
	var e *yamlfile.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %T %v, want *yamlfile.Error", err, err)
	}
	return e
}

func utf16Bytes(s string, bigEndian bool) []byte {
	var b []byte
	if bigEndian {
		b = append(b, 0xfe, 0xff)
	} else {
		b = append(b, 0xff, 0xfe)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		if bigEndian {
			b = append(b, byte(u>>8), byte(u))
		} else {
			b = append(b, byte(u), byte(u>>8))
		}
	}
	return b
}

// aliasBomb is a "billion laughs" document under extra: (decoded into an
// any, so it is not rejected as an unknown field first).
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("extra:\n  a: &a [x,x,x,x,x,x,x,x,x,x]\n")
	prev := "a"
	for _, c := range "bcdefghi" {
		ref := "*" + prev
		fmt.Fprintf(&b, "  %c: &%c [%s]\n", c, c, strings.TrimSuffix(strings.Repeat(ref+",", 10), ","))
		prev = string(c)
	}
	return b.String()
}

const full = `# a complete plan
name: demo
count: 3
enabled: yes
timeout: 1m30s
tags: [smtp, "kerberos"]
labels:
  team: mail
  tier: "1"
hub:
  host: mx.example
  port: 25
  clock_offset: 2s
accounts:
  - name: alice
    kvno: 2
  - {name: bob, kvno: 3}
extra:
  anything: [1, two]
`

func fullPlan() plan {
	return plan{
		Name:    "demo",
		Count:   3,
		Enabled: true,
		Timeout: duration(90 * time.Second),
		Tags:    []string{"smtp", "kerberos"},
		Labels:  map[string]string{"team": "mail", "tier": "1"},
		Hub:     hub{Host: "mx.example", Port: 25, ClockOffset: duration(2 * time.Second)},
		Accounts: []account{
			{Name: "alice", KVNO: 2},
			{Name: "bob", KVNO: 3},
		},
		Extra: map[string]any{"anything": []any{1, "two"}},
	}
}

func TestDecodeValues(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		want     plan
		rootLine int
	}{
		{"full", []byte(full), fullPlan(), 2},
		{"minimal", []byte("name: a\n"), plan{Name: "a"}, 1},
		{"no trailing newline", []byte("name: a"), plan{Name: "a"}, 1},
		{"explicit document start", []byte("---\nname: a\n"), plan{Name: "a"}, 2},
		{"explicit document end", []byte("name: a\n...\n"), plan{Name: "a"}, 1},
		{"comment after document end", []byte("name: a\n...\n# the end\n"), plan{Name: "a"}, 1},
		{"leading comments and blank lines", []byte("# c\n\n\nname: a\n"), plan{Name: "a"}, 4},
		{"flow mapping", []byte("{name: a, count: 2}\n"), plan{Name: "a", Count: 2}, 1},
		{"null values leave zero values", []byte("name:\nhub: ~\ntags: null\n"), plan{}, 1},
		{"number as string field", []byte("name: 1\n"), plan{Name: "1"}, 1},
		{"yaml 1.1 booleans", []byte("enabled: on\n"), plan{Enabled: true}, 1},
		{"hex and underscores", []byte("count: 0x1_0\n"), plan{Count: 16}, 1},
		{"merge key", []byte("<<: {name: a, count: 2}\n"), plan{Name: "a", Count: 2}, 1},
		{"anchors and aliases", []byte("hub: &h {host: h}\nextra: *h\n"), plan{Hub: hub{Host: "h"}, Extra: map[string]any{"host": "h"}}, 1},
		{"CRLF line endings", []byte("name: a\r\ncount: 2\r\n"), plan{Name: "a", Count: 2}, 1},
		{"UTF-8 BOM", []byte("\xef\xbb\xbfname: a\n"), plan{Name: "a"}, 1},
		{"UTF-16LE with BOM", utf16Bytes("name: é\ncount: 2\n", false), plan{Name: "é", Count: 2}, 1},
		{"UTF-16BE with BOM", utf16Bytes("name: é\ncount: 2\n", true), plan{Name: "é", Count: 2}, 1},
		{"non-ASCII UTF-8", []byte("name: \"ünïcødé ✓\"\n"), plan{Name: "ünïcødé ✓"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got plan
			doc, err := yamlfile.Decode(src, tt.in, &got, "a plan")
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded\n got %#v\nwant %#v", got, tt.want)
			}
			if doc == nil || doc.Root == nil {
				t.Fatalf("doc = %+v, want a root", doc)
			}
			if doc.Source != src {
				t.Errorf("doc.Source = %q, want %q", doc.Source, src)
			}
			if doc.Root.Kind != yaml.MappingNode {
				t.Errorf("doc.Root.Kind = %v, want MappingNode", doc.Root.Kind)
			}
			if doc.Root.Line != tt.rootLine {
				t.Errorf("doc.Root.Line = %d, want %d", doc.Root.Line, tt.rootLine)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		line int
		msg  string
	}{
		// Empty input.
		{"empty", []byte(""), 0, "empty file"},
		{"only comments", []byte("# nothing here\n\n# at all\n"), 0, "empty file"},
		{"only blank lines", []byte("  \n\n"), 0, "empty file"},
		{"only UTF-8 BOM", []byte("\xef\xbb\xbf"), 0, "empty file"},
		{"only UTF-16 BOM", []byte("\xff\xfe"), 0, "empty file"},
		// An explicit but empty document is a null scalar, not an empty
		// file; its line is the one after the "---" (past the end here).
		{"only document marker", []byte("---\n"), 2, "a plan is a mapping of fields"},

		// The top level must be a mapping; what names the file.
		{"null top level", []byte("null\n"), 1, "a plan is a mapping of fields"},
		{"tilde top level", []byte("~\n"), 1, "a plan is a mapping of fields"},
		{"scalar top level", []byte("just a string\n"), 1, "a plan is a mapping of fields"},
		{"sequence top level", []byte("- a\n- b\n"), 1, "a plan is a mapping of fields"},
		{"sequence after comments", []byte("# c\n\n- a\n"), 3, "a plan is a mapping of fields"},

		// Unknown fields, with their line and the type they are not in.
		{"unknown top-level field", []byte("name: a\nbogus: 1\n"), 2, `unknown field "bogus" (in plan)`},
		{"unknown nested field", []byte("name: a\nhub:\n  host: h\n  prt: 25\n"), 4, `unknown field "prt" (in hub)`},
		{"unknown field in sequence element", []byte("accounts:\n  - name: a\n  - name: b\n    kvnoo: 1\n"), 4, `unknown field "kvnoo" (in account)`},
		{"field names are case-sensitive", []byte("Name: a\n"), 1, `unknown field "Name" (in plan)`},
		{"unknown field in flow mapping", []byte("{name: a, bogus: 1}\n"), 1, `unknown field "bogus" (in plan)`},
		{"unknown field through merge key", []byte("<<: {bogus: 1}\n"), 1, `unknown field "bogus" (in plan)`},
		{"unknown numeric key", []byte("1: x\n"), 1, `unknown field "1" (in plan)`},
		{"unknown field with CRLF", []byte("name: a\r\nbogus: 1\r\n"), 2, `unknown field "bogus" (in plan)`},
		{"unknown field after CR-only break", []byte("name: a\rbogus: 1\r"), 2, `unknown field "bogus" (in plan)`},
		{"unknown field after U+2028 break", []byte("name: a\u2028bogus: 1\n"), 2, `unknown field "bogus" (in plan)`},
		{"stray BOM mid-file is part of the key", []byte("name: a\n\xef\xbb\xbfcount: 1\n"), 2, `unknown field "\ufeffcount" (in plan)`},
		{"unknown field in UTF-16 file", utf16Bytes("name: a\nbogus: 1\n", false), 2, `unknown field "bogus" (in plan)`},
		{"unknown field before a type error", []byte("bogus: 1\ncount: x\n"), 1, `unknown field "bogus" (in plan)`},

		// Type errors, with their line.
		{"string into int", []byte("name: a\ncount: x\n"), 2, "cannot unmarshal !!str `x` into int"},
		{"sequence into string", []byte("name: [1]\n"), 1, "cannot unmarshal !!seq into string"},
		{"mapping into sequence", []byte("tags:\n  a: 1\n"), 2, "cannot unmarshal !!map into []string"},
		{"scalar into struct", []byte("hub: mx.example\n"), 1, "cannot unmarshal !!str `mx.example` into yamlfile_test.hub"},
		{"int overflow", []byte("count: 99999999999999999999\n"), 1, "cannot unmarshal !!float `9999999...` into int"},
		{"explicit str tag into int", []byte("count: !!str 1\n"), 1, "cannot unmarshal !!str `1` into int"},
		{"non-scalar key", []byte("[1]: x\n"), 1, "cannot unmarshal !!seq into string"},
		{"type error after block scalar", []byte("name: |\n  x\n  y\ncount: z\n"), 4, "cannot unmarshal !!str `z` into int"},
		{"first of several type errors", []byte("count: x\nbogus: 1\nenabled: maybe\n"), 1, "cannot unmarshal !!str `x` into int"},
		{"type error in sequence element", []byte("accounts:\n  - name: a\n    kvno: two\n"), 3, "cannot unmarshal !!str `two` into int"},

		// Errors from UnmarshalYAML that start "line N: " keep their line.
		{"custom unmarshaler error", []byte("name: a\ntimeout: 5x\n"), 2, `bad duration "5x" (want e.g. 30s, 2m)`},
		{"nested custom unmarshaler error", []byte("hub:\n  clock_offset: -1s\n"), 2, `bad duration "-1s" (want e.g. 30s, 2m)`},

		// Duplicate keys.
		{"duplicate top-level key", []byte("name: a\nname: b\n"), 2, `mapping key "name" already defined at line 1`},
		{"duplicate nested key", []byte("hub:\n  host: a\n  host: b\n"), 3, `mapping key "host" already defined at line 2`},
		{"duplicate map key", []byte("labels:\n  a: x\n  a: y\n"), 3, `mapping key "a" already defined at line 2`},
		{"duplicate key reported before type error", []byte("count: 1\ncount: x\n"), 2, `mapping key "count" already defined at line 1`},

		// One document per file; the line is the extra document's start.
		{"two documents", []byte("name: a\n---\nname: b\n"), 2, "more than one YAML document; one per file"},
		{"second document after comments", []byte("name: a\n# c\n\n---\nname: b\n"), 4, "more than one YAML document; one per file"},
		{"trailing empty document", []byte("name: a\n---\n"), 2, "more than one YAML document; one per file"},
		{"second document with content on marker line", []byte("name: a\n--- x\n"), 2, "more than one YAML document; one per file"},
		{"document after end marker", []byte("name: a\n...\n---\n"), 3, "more than one YAML document; one per file"},
		{"second document with directive", []byte("name: a\n\n%YAML 1.1\n---\nname: b\n"), 3, "more than one YAML document; one per file"},
		// The extra document does not parse, so its line is unknown. See
		// TestDecodeSecondDocumentSyntaxErrorLine.
		{"broken second document", []byte("name: a\n---\nb: [\n"), 0, "more than one YAML document; one per file"},

		// Syntax errors with lines.
		{"unclosed flow sequence", []byte("name: a\nb: [\n"), 2, "did not find expected node content"},
		{"tab indentation", []byte("name: a\n\tcount: 1\n"), 2, "found a tab character that violates indentation"},
		{"bad indentation", []byte("name: a\n\n\n  bogus: 1\n"), 4, "mapping values are not allowed in this context"},

		// Errors the YAML library reports without a line.
		{"unknown anchor", []byte("name: a\ntags: *nope\n"), 0, "unknown anchor 'nope' referenced"},
		{"leading tab", []byte("\t\n"), 0, "found character that cannot start any token"},
		{"unknown directive", []byte("%FOO\nname: a\n"), 0, "found unknown directive name"},
		{"YAML 1.2 directive", []byte("%YAML 1.2\n---\nname: a\n"), 0, "found incompatible YAML document"},
		{"alias bomb", []byte(aliasBomb()), 0, "document contains excessive aliasing"},

		// Not text at all: an error, never a panic.
		{"NUL byte", []byte("name: a\n\x00\n"), 0, "control characters are not allowed"},
		{"NUL in second document", []byte("name: a\n---\n\x00"), 0, "control characters are not allowed"},
		{"invalid UTF-8", []byte("name: \xff\xfe\n"), 0, "invalid leading UTF-8 octet"},
		{"UTF-16LE without BOM", []byte("n\x00a\x00m\x00e\x00:\x00 \x00a\x00\n\x00"), 0, "control characters are not allowed"},
		{"ELF header", []byte("\x7fELF\x02\x01\x01\x00"), 0, "control characters are not allowed"},
		{"PNG header", []byte("\x89PNG\r\n\x1a\n\x00\x00"), 0, "invalid leading UTF-8 octet"},
		{"zip header", []byte("PK\x03\x04\x14\x00"), 0, "control characters are not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got plan
			doc, err := yamlfile.Decode(src, tt.in, &got, "a plan")
			if doc != nil {
				t.Errorf("doc = %+v, want nil with an error", doc)
			}
			e := asError(t, err)
			want := yamlfile.Error{Source: src, Line: tt.line, Msg: tt.msg}
			if *e != want {
				t.Errorf("error\n got %#v\nwant %#v", *e, want)
			}
		})
	}
}

// The message is built from the Error fields: source, line, message.
func TestDecodeErrorText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"name: a\nhub:\n  prt: 1\n", `plans/lab.yaml:3: unknown field "prt" (in hub)`},
		{"", "plans/lab.yaml: empty file"},
		{"- a\n", "plans/lab.yaml:1: a scenario is a mapping of fields"},
	}
	for _, tt := range tests {
		var p plan
		_, err := yamlfile.Decode("plans/lab.yaml", []byte(tt.in), &p, "a scenario")
		if err == nil || err.Error() != tt.want {
			t.Errorf("Decode(%q) error = %v, want %q", tt.in, err, tt.want)
		}
	}
}

// Decode only errors about the source it is given, not about Go values, and
// a message's "a plan" comes from the what argument verbatim.
func TestDecodeWhat(t *testing.T) {
	var p plan
	_, err := yamlfile.Decode("x", []byte("[]"), &p, "a lab plan file")
	if e := asError(t, err); e.Msg != "a lab plan file is a mapping of fields" {
		t.Errorf("Msg = %q", e.Msg)
	}
}

// Decoding into a map accepts any keys: strictness is about struct fields.
func TestDecodeIntoMap(t *testing.T) {
	var m map[string]int
	if _, err := yamlfile.Decode(src, []byte("a: 1\nb: 2\n"), &m, "a map"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m, map[string]int{"a": 1, "b": 2}) {
		t.Errorf("m = %v", m)
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    yamlfile.Error
		want string
	}{
		{yamlfile.Error{Source: "f.yaml", Msg: "empty file"}, "f.yaml: empty file"},
		{yamlfile.Error{Source: "f.yaml", Line: 3, Msg: "bad"}, "f.yaml:3: bad"},
		{yamlfile.Error{Source: "f.yaml", Line: 3, Field: "hub.clock_offset", Msg: "bad"}, "f.yaml:3: hub.clock_offset: bad"},
		{yamlfile.Error{Source: "f.yaml", Field: "name", Msg: "bad"}, "f.yaml: name: bad"},
		{yamlfile.Error{Source: "f.yaml", Line: -1, Msg: "bad"}, "f.yaml: bad"},
		{yamlfile.Error{Msg: "bad"}, ": bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
}

const lineDoc = `name: demo
hub:
  host: mx.example
  port: 25
tags: [a, b]
accounts:
  - name: alice
    kvno: 2
  - name: bob

    kvno: 3
labels:
  team: mail
extra: &x
  deep: 1
alias: *x
`

func TestDocLine(t *testing.T) {
	var m map[string]any
	doc, err := yamlfile.Decode(src, []byte(lineDoc), &m, "a doc")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		want  int
	}{
		{"name", 1},
		{"hub", 2},
		{"hub.host", 3},
		{"hub.port", 4},
		{"tags", 5},
		{"tags.0", 5},
		{"tags.1", 5},
		{"accounts", 6},
		{"accounts.0", 7},
		{"accounts.0.name", 7},
		{"accounts.0.kvno", 8},
		{"accounts.1", 9},
		{"accounts.1.kvno", 11},
		{"labels.team", 13},
		{"extra.deep", 15},
		// What is missing falls back to the nearest line that exists.
		{"", 1},
		{"missing", 1},
		{"missing.deeper", 1},
		{"hub.missing", 2},
		{"hub.host.deeper", 3},
		{"hub.host.deeper.still", 3},
		{"accounts.2", 6},
		{"accounts.2.name", 6},
		{"accounts.-1", 6},
		{"accounts.x", 6},
		{"accounts.1.missing", 9},
		{"tags.5", 5},
		// Aliases are not followed.
		{"alias", 16},
		{"alias.deep", 16},
	}
	for _, tt := range tests {
		if got := doc.Line(tt.field); got != tt.want {
			t.Errorf("Line(%q) = %d, want %d", tt.field, got, tt.want)
		}
	}
}

func TestErrorsCollector(t *testing.T) {
	var p plan
	doc, err := yamlfile.Decode("plan.yaml", []byte(full), &p, "a plan")
	if err != nil {
		t.Fatal(err)
	}
	errs := yamlfile.NewErrors(doc)
	if err := errs.Err(); err != nil {
		t.Fatalf("Err() with nothing added = %v, want nil", err)
	}
	errs.Add("hub.port", "port %d is not %s", 25, "587")
	errs.Add("accounts.1.kvno", "second")
	errs.Add("nowhere", "third")

	err = errs.Err()
	e := asError(t, err)
	want := yamlfile.Error{Source: "plan.yaml", Line: 12, Field: "hub.port", Msg: "port 25 is not 587"}
	if *e != want {
		t.Errorf("Err()\n got %#v\nwant %#v", *e, want)
	}
	if got := err.Error(); got != "plan.yaml:12: hub.port: port 25 is not 587" {
		t.Errorf("Err().Error() = %q", got)
	}
	// Err is stable: still the first one after more are added.
	errs.Add("name", "fourth")
	if e2 := asError(t, errs.Err()); *e2 != want {
		t.Errorf("Err() after more Adds = %#v", *e2)
	}
}

// A literal % in a message without args is kept as the caller's format.
func TestErrorsAddFormat(t *testing.T) {
	doc, err := yamlfile.DocOf("go", map[string]int{"a": 1})
	if err != nil {
		t.Fatal(err)
	}
	errs := yamlfile.NewErrors(doc)
	errs.Add("a", "100%% wrong: %q", "x")
	e := asError(t, errs.Err())
	want := yamlfile.Error{Source: "go", Line: 1, Field: "a", Msg: `100% wrong: "x"`}
	if *e != want {
		t.Errorf("got %#v, want %#v", *e, want)
	}
}

func TestDocOf(t *testing.T) {
	p := plan{
		Name: "built",
		Hub:  hub{Host: "h", Port: 25},
		Accounts: []account{
			{Name: "a"},
			{Name: "b", KVNO: 2},
		},
	}
	doc, err := yamlfile.DocOf("built-in", p)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Source != "built-in" || doc.Root == nil || doc.Root.Kind != yaml.MappingNode {
		t.Fatalf("doc = %+v", doc)
	}
	// The lines are those of yaml.Marshal's rendering of p.
	rendered, err := yaml.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(rendered), "\n")
	for _, tc := range []struct{ field, prefix string }{
		{"name", "name: built"},
		{"hub.port", "    port: 25"},
		{"accounts.1.kvno", "      kvno: 2"},
		{"accounts.1", "    - name: b"},
	} {
		n := doc.Line(tc.field)
		if n < 1 || n > len(lines) || !strings.HasPrefix(lines[n-1], tc.prefix) {
			t.Errorf("Line(%q) = %d, want the line %q in\n%s", tc.field, n, tc.prefix, rendered)
		}
	}

	// DocOf and Decode agree on a value's rendering.
	var back plan
	if _, err := yamlfile.Decode("round-trip", rendered, &back, "a plan"); err != nil {
		t.Fatalf("Decode of DocOf's rendering: %v", err)
	}
}

func TestDocOfNonMapping(t *testing.T) {
	for _, v := range []any{nil, 3, []string{"a"}} {
		doc, err := yamlfile.DocOf("go", v)
		if err != nil {
			t.Fatalf("DocOf(%#v): %v", v, err)
		}
		if doc.Root == nil || doc.Root.Kind == yaml.MappingNode {
			t.Errorf("DocOf(%#v).Root = %+v", v, doc.Root)
		}
		if got := doc.Line("a.b"); got != 1 {
			t.Errorf("DocOf(%#v).Line = %d, want 1", v, got)
		}
	}
}

// DocOf returns an error for a value it cannot render, although
// yaml.Marshal panics (rather than failing) on funcs, channels and structs
// with duplicate yaml tags.
func TestDocOfUnrenderable(t *testing.T) {
	for _, v := range []any{
		func() {},
		map[string]any{"c": make(chan int)},
		struct {
			A int `yaml:"a"`
			B int `yaml:"a"`
		}{},
	} {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("DocOf(%T) panicked: %v", v, r)
				}
			}()
			if _, err := yamlfile.DocOf("go", v); err == nil {
				t.Errorf("DocOf(%T) = nil error", v)
			}
		}()
	}
}

// An unknown key containing white space (a typo such as "clock offset" for
// "clock_offset"), an empty key, or an unknown field of an anonymous struct
// type is worded like any other unknown field, never as the YAML library's
// raw message with a Go type name.
func TestDecodeUnknownFieldMessageConsistency(t *testing.T) {
	tests := []struct {
		in   string
		line int
		msg  string
	}{
		{"hub:\n  clock offset: 2s\n", 2, `unknown field "clock offset" (in hub)`},
		{"\"\": 1\n", 1, `unknown field "" (in plan)`},
	}
	for _, tt := range tests {
		var p plan
		_, err := yamlfile.Decode(src, []byte(tt.in), &p, "a plan")
		e := asError(t, err)
		if want := (yamlfile.Error{Source: src, Line: tt.line, Msg: tt.msg}); *e != want {
			t.Errorf("Decode(%q)\n got %#v\nwant %#v", tt.in, *e, want)
		}
	}
	var anon struct {
		A struct {
			X int `yaml:"x"`
		} `yaml:"a"`
	}
	_, err := yamlfile.Decode(src, []byte("a:\n  y: 1\n"), &anon, "a plan")
	if e := asError(t, err); !strings.HasPrefix(e.Msg, `unknown field "y"`) || strings.Contains(e.Msg, "struct {") {
		t.Errorf("anonymous struct: Msg = %q", e.Msg)
	}
}

// BUG (minor): when the second document does not parse, the "more than
// one YAML document" error has no line (extra.Line is read from a node the
// failed Decode never filled), although the "---" that starts it is known.
func TestDecodeSecondDocumentSyntaxErrorLine(t *testing.T) {
	t.Skip("BUG: a second document with a syntax error is reported without a line")
	var p plan
	_, err := yamlfile.Decode(src, []byte("name: a\n---\nb: [\n"), &p, "a plan")
	if e := asError(t, err); e.Line != 2 {
		t.Errorf("Line = %d, want 2 (the second document's ---): %v", e.Line, e)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("small file", func(t *testing.T) {
		p := write("small.yaml", []byte(full))
		got, err := yamlfile.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != full {
			t.Errorf("Read = %q", got)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		got, err := yamlfile.Read(write("empty.yaml", nil))
		if err != nil || len(got) != 0 {
			t.Errorf("Read = %q, %v", got, err)
		}
	})
	t.Run("exactly MaxBytes", func(t *testing.T) {
		data := bytes.Repeat([]byte("#"), yamlfile.MaxBytes)
		got, err := yamlfile.Read(write("max.yaml", data))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != yamlfile.MaxBytes {
			t.Errorf("len = %d, want %d", len(got), yamlfile.MaxBytes)
		}
	})
	t.Run("MaxBytes+1", func(t *testing.T) {
		p := write("big.yaml", bytes.Repeat([]byte("#"), yamlfile.MaxBytes+1))
		got, err := yamlfile.Read(p)
		if got != nil {
			t.Errorf("data = %d bytes, want nil", len(got))
		}
		e := asError(t, err)
		if want := (yamlfile.Error{Source: p, Msg: "file larger than 1 MiB"}); *e != want {
			t.Errorf("got %#v, want %#v", *e, want)
		}
	})
	t.Run("endless file", func(t *testing.T) {
		if _, err := os.Stat("/dev/zero"); err != nil {
			t.Skip("no /dev/zero")
		}
		_, err := yamlfile.Read("/dev/zero")
		if e := asError(t, err); e.Msg != "file larger than 1 MiB" || e.Source != "/dev/zero" {
			t.Errorf("got %#v", *e)
		}
	})
	t.Run("missing", func(t *testing.T) {
		p := filepath.Join(dir, "nope.yaml")
		_, err := yamlfile.Read(p)
		e := asError(t, err)
		// The os error text (which repeats the path) becomes Msg; the
		// *PathError itself is not wrapped.
		if want := (yamlfile.Error{Source: p, Msg: "open " + p + ": no such file or directory"}); *e != want {
			t.Errorf("got %#v, want %#v", *e, want)
		}
	})
	t.Run("directory", func(t *testing.T) {
		_, err := yamlfile.Read(dir)
		e := asError(t, err)
		if want := (yamlfile.Error{Source: dir, Msg: "read " + dir + ": is a directory"}); *e != want {
			t.Errorf("got %#v, want %#v", *e, want)
		}
	})
}

// MaxBytes is the documented 1 MiB the message names.
func TestMaxBytes(t *testing.T) {
	if yamlfile.MaxBytes != 1<<20 {
		t.Errorf("MaxBytes = %d, but the message says 1 MiB", yamlfile.MaxBytes)
	}
}

// lineBound is one more than the most lines data can have, counting every
// YAML line break (LF, CR, NEL, LS, PS) and UTF-16 code units generously.
func lineBound(data []byte) int {
	n := 2 + bytes.Count(data, []byte("\n")) + bytes.Count(data, []byte("\r"))
	n += bytes.Count(data, []byte("\u0085")) + bytes.Count(data, []byte("\u2028")) + bytes.Count(data, []byte("\u2029"))
	n += bytes.Count(data, []byte{0x85}) + bytes.Count(data, []byte{0x20, 0x28}) + bytes.Count(data, []byte{0x28, 0x20}) +
		bytes.Count(data, []byte{0x20, 0x29}) + bytes.Count(data, []byte{0x29, 0x20})
	return n
}

// paths lists dotted field paths found in a node tree, plus some that are
// not there, for Doc.Line.
func paths(n *yaml.Node, prefix string, out []string, depth int) []string {
	if n == nil || depth > 6 || len(out) > 200 {
		return out
	}
	join := func(p string) string {
		if prefix == "" {
			return p
		}
		return prefix + "." + p
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(n.Content[i].Value)
			out = append(out, p)
			out = paths(n.Content[i+1], p, out, depth+1)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := join(fmt.Sprint(i))
			out = append(out, p)
			out = paths(c, p, out, depth+1)
		}
		out = append(out, join(fmt.Sprint(len(n.Content))), join("-1"))
	}
	return append(out, join("no_such_field"))
}

func FuzzDecode(f *testing.F) {
	seeds := [][]byte{
		[]byte(full),
		[]byte(lineDoc),
		[]byte(""),
		[]byte("---\n"),
		[]byte("- a\n"),
		[]byte("name: a\nbogus: 1\n"),
		[]byte("name: a\ncount: x\n"),
		[]byte("name: a\nname: b\n"),
		[]byte("name: a\n---\nname: b\n"),
		[]byte("name: a\n---\nb: [\n"),
		[]byte("name: a\ntimeout: 5x\n"),
		[]byte("hub:\n  clock offset: 2s\n"),
		[]byte("<<: {name: a}\nextra: &x [1, *x]\n"),
		[]byte("hub: &h {host: h}\nextra: *h\n"),
		[]byte("name: a\r\nbogus: 1\r\n"),
		[]byte("name: a\u2028bogus: 1\n"),
		[]byte("\xef\xbb\xbfname: a\n"),
		utf16Bytes("name: a\nbogus: 1\n", false),
		utf16Bytes("name: a\n", true),
		[]byte("name: \xff\xfe\n"),
		[]byte("\x7fELF\x02\x01\x01\x00"),
		[]byte("%YAML 1.1\n---\nname: a\n"),
		[]byte(aliasBomb()),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var p plan
		doc, err := yamlfile.Decode("fuzz.yaml", data, &p, "a plan")
		if err != nil {
			if doc != nil {
				t.Fatalf("both doc and error: %v", err)
			}
			var e *yamlfile.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not a *yamlfile.Error", err, err)
			}
			if e.Source != "fuzz.yaml" || e.Field != "" || e.Msg == "" {
				t.Fatalf("malformed error %#v", *e)
			}
			if e.Line < 0 || e.Line > lineBound(data) {
				t.Fatalf("error line %d out of range (bound %d): %v", e.Line, lineBound(data), err)
			}
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("message %q does not name the file", err.Error())
			}
			return
		}
		if doc == nil || doc.Root == nil || doc.Root.Kind != yaml.MappingNode {
			t.Fatalf("success without a mapping root: %+v", doc)
		}
		if doc.Source != "fuzz.yaml" {
			t.Fatalf("doc.Source = %q", doc.Source)
		}
		bound := lineBound(data)
		errs := yamlfile.NewErrors(doc)
		for _, field := range paths(doc.Root, "", nil, 0) {
			if l := doc.Line(field); l < 1 || l > bound {
				t.Fatalf("Line(%q) = %d out of range [1, %d]", field, l, bound)
			}
			errs.Add(field, "x")
		}
		if e := errs.Err(); e == nil || !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
			t.Fatalf("Errors.Err() = %v", e)
		}
	})
}
