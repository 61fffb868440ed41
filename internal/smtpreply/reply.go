// Package smtpreply is exauth's one SMTP reply parser.
//
// The probe reads replies from servers it does not trust (firewalls, broken
// middleboxes, hostile peers), so reading is bounded: a maximum line length
// and a maximum number of continuation lines. The same pure line parser is
// used by `exauth explain` on text an administrator pasted, and the
// capability parser turns an EHLO reply into keywords while keeping the
// masked lines that ESMTP inspection leaves behind (`250-XXXXXXXA`).
//
// net/textproto's ReadResponse does the same job for well-behaved servers
// but has no line-length or line-count limit and rejects the malformed
// replies exauth must report on rather than merely fail at, so the reading
// loop is kept here, next to its limits.
package smtpreply

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Reply is one SMTP reply: a three-digit code, the enhanced status code of
// RFC 3463 when the server sent one, and the text of each line without the
// code, separator or enhanced code.
type Reply struct {
	Code     int      // e.g. 454
	Enhanced string   // e.g. "4.7.0"; "" when absent
	Lines    []string // text of each line
}

// Text joins the reply's lines with spaces.
func (r Reply) Text() string { return strings.Join(r.Lines, " ") }

// String renders the reply as its first line would appear on the wire.
func (r Reply) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%03d", r.Code)
	if r.Enhanced != "" {
		b.WriteString(" " + r.Enhanced)
	}
	if len(r.Lines) > 0 && r.Lines[0] != "" {
		b.WriteString(" " + r.Lines[0])
	}
	return b.String()
}

// Class is the first digit of the code: 2 success, 3 intermediate, 4
// transient failure, 5 permanent failure.
func (r Reply) Class() int { return r.Code / 100 }

// Limits bound what a reader accepts from a peer.
type Limits struct {
	MaxLineBytes int // including CRLF; 0 = DefaultMaxLineBytes
	MaxLines     int // lines in one reply; 0 = DefaultMaxLines
}

// Defaults: RFC 5321 4.5.3.1.5 sets 512 octets for a reply line; real
// servers exceed it slightly (long SIZE and banner lines), hostile ones by
// megabytes. 100 lines is far above any real EHLO answer.
const (
	DefaultMaxLineBytes = 4096
	DefaultMaxLines     = 100
)

// Typed errors, so the probe can tell a peer that breaks SMTP from a network
// failure.
var (
	ErrLineTooLong  = errors.New("reply line too long")
	ErrTooManyLines = errors.New("too many continuation lines")
)

// SyntaxError is a reply line that is not SMTP.
type SyntaxError struct {
	Line   string
	Reason string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed SMTP reply line %q: %s", truncate(e.Line, 80), e.Reason)
}

// Reader reads replies from a peer. It owns the bufio.Reader it is given so
// that the same buffer can be handed over across a STARTTLS boundary only
// when it is empty.
type Reader struct {
	r      *bufio.Reader
	limits Limits
	// OnLine, when set, sees every raw line read (for transcripts).
	OnLine func(line string)
}

// NewReader returns a Reader over r with the given limits.
func NewReader(r *bufio.Reader, limits Limits) *Reader {
	if limits.MaxLineBytes <= 0 {
		limits.MaxLineBytes = DefaultMaxLineBytes
	}
	if limits.MaxLines <= 0 {
		limits.MaxLines = DefaultMaxLines
	}
	return &Reader{r: r, limits: limits}
}

// Buffered reports how many bytes were read from the peer but not consumed;
// non-zero before a TLS handshake means the peer pipelined plaintext into
// the TLS stream.
func (rd *Reader) Buffered() int { return rd.r.Buffered() }

// ReadLine reads one CRLF- or LF-terminated line within the limit, without
// its terminator.
func (rd *Reader) ReadLine() (string, error) {
	var line []byte
	for {
		chunk, err := rd.r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > rd.limits.MaxLineBytes {
			return "", fmt.Errorf("%w (more than %d bytes)", ErrLineTooLong, rd.limits.MaxLineBytes)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		break
	}
	s := strings.TrimRight(string(line), "\r\n")
	if rd.OnLine != nil {
		rd.OnLine(s)
	}
	return s, nil
}

// ReadReply reads one (possibly multi-line) reply.
func (rd *Reader) ReadReply() (Reply, error) {
	var reply Reply
	for n := 0; ; n++ {
		if n >= rd.limits.MaxLines {
			return reply, fmt.Errorf("%w (more than %d)", ErrTooManyLines, rd.limits.MaxLines)
		}
		raw, err := rd.ReadLine()
		if err != nil {
			return reply, err
		}
		l, err := ParseLine(raw)
		if err != nil {
			return reply, err
		}
		if n == 0 {
			reply.Code = l.Code
			reply.Enhanced = l.Enhanced
		} else if l.Code != reply.Code {
			return reply, &SyntaxError{Line: raw, Reason: fmt.Sprintf("code %03d inside a %03d reply", l.Code, reply.Code)}
		}
		reply.Lines = append(reply.Lines, l.Text)
		if !l.More {
			return reply, nil
		}
	}
}

// Line is one parsed reply line.
type Line struct {
	Code     int
	More     bool // "250-..." continuation
	Enhanced string
	Text     string
}

// ParseLine parses one reply line: three digits, then "-", " " or the end
// of the line. It accepts what real servers send (a bare "250", a missing
// enhanced code) and rejects what is not SMTP.
func ParseLine(s string) (Line, error) {
	if len(s) < 3 {
		return Line{}, &SyntaxError{Line: s, Reason: "shorter than a reply code"}
	}
	c0, c1, c2 := s[0], s[1], s[2]
	if c0 < '2' || c0 > '5' || c1 < '0' || c1 > '9' || c2 < '0' || c2 > '9' {
		return Line{}, &SyntaxError{Line: s, Reason: "does not start with a reply code 200-599"}
	}
	l := Line{Code: int(c0-'0')*100 + int(c1-'0')*10 + int(c2-'0')}
	rest := s[3:]
	switch {
	case rest == "":
	case rest[0] == '-':
		l.More = true
		rest = rest[1:]
	case rest[0] == ' ':
		rest = rest[1:]
	default:
		return Line{}, &SyntaxError{Line: s, Reason: "code not followed by space or hyphen"}
	}
	l.Enhanced, l.Text = SplitEnhanced(rest)
	return l, nil
}

var enhancedRE = regexp.MustCompile(`^([245])\.(\d{1,3})\.(\d{1,3})(?:\s+|$)`)

// SplitEnhanced splits an RFC 3463 enhanced status code (class.subject.detail,
// e.g. "4.7.0" or "4.4.397") from the start of text. RFC 3463 wants the
// class to match the reply code's, but Exchange itself answers "451 5.7.3
// Cannot achieve Exchange Server authentication", so any class is accepted.
func SplitEnhanced(text string) (enhanced, rest string) {
	m := enhancedRE.FindStringSubmatchIndex(text)
	if m == nil {
		return "", text
	}
	return text[m[2]:m[7]], text[m[1]:]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// AuthToken finds Kerberos data on a 235 line ("235 <base64>"), which
// is how Exchange returns the AP-REP for X-EXPS. Only data that decodes to
// an ASN.1 GSS-API, Kerberos or SPNEGO token counts.
func (r Reply) AuthToken() ([]byte, bool) {
	f := strings.Fields(r.Text())
	if len(f) == 0 {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(f[len(f)-1])
	if err != nil || len(b) < 2 {
		return nil, false
	}
	switch b[0] {
	case 0x60, 0x6f, 0xa1:
		return b, true
	}
	return nil, false
}
