package explain

import (
	"bufio"
	"errors"
	"io"
	"sort"

	"github.com/exauth/exauth/internal/safetext"
	"github.com/exauth/exauth/verdict"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Limits of ExplainReader: a piece is explained at a time, so memory stays
// bounded whatever the input's size, and a long log yields its distinct
// failures rather than the first one only.
const (
	pieceBytes  = 64 << 10
	pieceLines  = 400
	maxFindings = 32
)

// Finding is one distinct failure found in a long text, and the line where
// the piece of text that shows it begins.
type Finding struct {
	Result
	Line int
}

// ExplainReader explains a text of any length — a whole protocol log, an
// exported event log — piece by piece (lines kept whole), and returns every
// distinct verdict it found, the most severe first, each with the first
// place that showed it. A text that shows nothing has one finding: the
// verdict of its first piece. UTF-16 and byte-order marks are decoded
// piece by piece as the rest of exauth decodes text.
func ExplainReader(r io.Reader) ([]Finding, error) {
	// A byte-order mark switches the stream to UTF-16 or UTF-8 (PowerShell
	// 5.1's ">" writes UTF-16LE with one); without one it is UTF-8.
	r = transform.NewReader(r, unicode.BOMOverride(unicode.UTF8.NewDecoder()))
	br := bufio.NewReaderSize(r, pieceBytes)
	var findings []Finding
	seen := map[verdict.Verdict]bool{}
	line := 1
	var first *Finding
	for {
		chunk, lines, err := readPiece(br)
		if len(chunk) > 0 {
			text, derr := safetext.Decode(chunk)
			if derr == nil {
				res := Explain(text)
				f := Finding{Result: res, Line: line}
				if first == nil {
					first = &f
				}
				if res.Verdict != verdict.VerdictUnknown && !seen[res.Verdict] && len(findings) < maxFindings {
					seen[res.Verdict] = true
					findings = append(findings, f)
				}
			}
			line += lines
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(findings) == 0 {
		if first == nil {
			return nil, nil
		}
		return []Finding{*first}, nil
	}
	sort.SliceStable(findings, func(i, j int) bool {
		return severityRank(findings[i].Severity) < severityRank(findings[j].Severity)
	})
	return findings, nil
}

// readPiece reads up to pieceLines lines or pieceBytes bytes, whole lines
// only (a line longer than a piece is cut).
func readPiece(br *bufio.Reader) (chunk []byte, lines int, err error) {
	for lines < pieceLines && len(chunk) < pieceBytes {
		var l []byte
		l, err = br.ReadSlice('\n')
		chunk = append(chunk, l...)
		if err == nil {
			lines++
			continue
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil
			continue
		}
		return chunk, lines, err
	}
	return chunk, lines, nil
}

// severityRank orders findings: critical first, then warnings, then the
// rest.
func severityRank(s verdict.Severity) int {
	switch s {
	case verdict.SeverityCritical:
		return 0
	case verdict.SeverityWarning:
		return 1
	case verdict.SeverityUnknown:
		return 2
	}
	return 3
}
