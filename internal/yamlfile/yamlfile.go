// Package yamlfile decodes the hand-edited YAML files of exauth (scenarios,
// lab plans) strictly, with errors that name the file, the line and the
// field: an administrator editing a file must be told exactly where it is
// wrong, and nothing they wrote may be silently ignored.
package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxBytes bounds a file: real ones are a few KiB.
const MaxBytes = 1 << 20

// Error is a file that cannot be used.
type Error struct {
	Source string
	Line   int    // 0 when unknown
	Field  string // dotted path, e.g. "hub.clock_offset"; "" for the file
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Read reads a file of at most MaxBytes.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Source: path, Msg: err.Error()}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, &Error{Source: path, Msg: err.Error()}
	}
	if len(data) > MaxBytes {
		return nil, &Error{Source: path, Msg: "file larger than 1 MiB"}
	}
	return data, nil
}

// Doc is a decoded document: its node tree, for line numbers.
type Doc struct {
	Source string
	Root   *yaml.Node // the top-level mapping
}

// Decode decodes one YAML document into v, rejecting unknown fields, a
// top level that is not a mapping, and extra documents. what names the
// kind of file for messages ("a scenario", "a plan").
func Decode(source string, data []byte, v any, what string) (*Doc, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, convert(source, err)
	}
	if len(root.Content) == 0 {
		return nil, &Error{Source: source, Msg: "empty file"}
	}
	if root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{Source: source, Line: root.Content[0].Line, Msg: what + " is a mapping of fields"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return nil, convert(source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{Source: source, Line: extra.Line, Msg: "more than one YAML document; one per file"}
	}
	return &Doc{Source: source, Root: root.Content[0]}, nil
}

// DocOf renders v back to YAML to give a value built in Go the same
// line-aware validation as a file.
func DocOf(source string, v any) (doc *Doc, err error) {
	// yaml.Marshal panics, rather than failing, on values it cannot render
	// (funcs, channels, duplicate yaml tags).
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, &Error{Source: source, Msg: fmt.Sprintf("cannot render value: %v", r)}
		}
	}()
	data, err := yaml.Marshal(v)
	if err != nil {
		return nil, &Error{Source: source, Msg: err.Error()}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil || len(root.Content) == 0 {
		return nil, &Error{Source: source, Msg: "cannot render value"}
	}
	return &Doc{Source: source, Root: root.Content[0]}, nil
}

var (
	lineRE     = regexp.MustCompile(`^line (\d+): (.*)$`)
	notFoundRE = regexp.MustCompile(`^field (.*) not found in type (.+)$`)
)

func convert(source string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		msg = m[2]
		if f := notFoundRE.FindStringSubmatch(msg); f != nil {
			msg = unknownField(f[1], f[2])
		}
		return &Error{Source: source, Line: line, Msg: msg}
	}
	return &Error{Source: source, Msg: msg}
}

// unknownField words the YAML library's "field K not found in type T" for
// a user: the key, and the mapping it was found in when T has a name
// ("scenarios.Hub" is "hub"; an anonymous struct type has none).
func unknownField(key, typ string) string {
	if i := strings.LastIndexByte(typ, '.'); i >= 0 && !strings.ContainsAny(typ, " {") {
		return fmt.Sprintf("unknown field %q (in %s)", key, strings.ToLower(typ[i+1:]))
	}
	return fmt.Sprintf("unknown field %q", key)
}

// Errors collects validation errors with their lines.
type Errors struct {
	doc  *Doc
	list []*Error
}

// NewErrors starts collecting errors about doc.
func NewErrors(doc *Doc) *Errors { return &Errors{doc: doc} }

// Add records an error about a dotted field path ("kdc.accounts.1.etypes").
func (e *Errors) Add(field, format string, args ...any) {
	e.list = append(e.list, &Error{Source: e.doc.Source, Line: e.doc.Line(field), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// Err is the first error, or nil.
func (e *Errors) Err() error {
	if len(e.list) == 0 {
		return nil
	}
	return e.list[0]
}

// Line finds the line of a dotted field path.
func (d *Doc) Line(field string) int {
	n := d.Root
	line := n.Line
	for _, part := range strings.Split(field, ".") {
		if n == nil {
			break
		}
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					line = n.Content[i].Line
					next = n.Content[i+1]
				}
			}
			n = next
		case yaml.SequenceNode:
			idx, err := strconv.Atoi(part)
			if err != nil || idx < 0 || idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		default:
			return line
		}
	}
	return line
}
