// Package explain turns text an administrator pasted — a queue viewer "Last
// error", an NDR line, an event-log text, a kinit message, a protocol-log
// line, an EHLO answer — into the same kind of Observation the probe makes,
// and diagnoses it with the probe's own rules (verdict.Diagnose): one
// verdict table for both.
//
// Codes come first because they are language-independent: Exchange writes
// SMTP replies in English on every display language, and the sending
// server's wrapper (`451 4.4.0 Primary target IP address responded with:
// "<inner reply>" ...`) carries the inner reply's codes whatever language a
// translated KB page put around them. Words (in Exchange's display
// languages, see testdata/SOURCES.md) only fill in where no code is given.
package explain

import (
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/exauth/exauth/internal/krberror"
	"github.com/exauth/exauth/internal/smtpreply"
	"github.com/exauth/exauth/verdict"
)

// MaxInput is the most text examined; a paste larger than this is
// truncated (and the result says so).
const MaxInput = 10 << 20

// Result is an explanation.
type Result struct {
	verdict.Diagnosis
	// InnerReply is the reply classified (the inner one when a wrapper was
	// unwrapped); Outer is the sending side's wrapper.
	InnerReply *smtpreply.Reply
	Outer      *smtpreply.Reply
	Recognised []string // what was recognised, in words
	Truncated  bool
	// Observation is what Diagnose judged.
	Observation *verdict.Observation
}

// Explain classifies text.
func Explain(text string) Result {
	var res Result
	if len(text) > MaxInput {
		text, res.Truncated = text[:MaxInput], true
	}
	r := recognise(text)
	obs := r.observation()
	res.Diagnosis = verdict.Diagnose(obs)
	res.InnerReply, res.Outer, res.Recognised, res.Observation = r.inner, r.outer, r.phrases, obs
	return res
}

// recognition is what was found in the text.
type recognition struct {
	replies []smtpreply.Reply
	inner   *smtpreply.Reply
	outer   *smtpreply.Reply
	phrases []string
	facts   map[verdict.Fact]bool
	krbCode krberror.Code
	hasKrb  bool
	connect verdict.ConnectKind // connect failure kind, "" when none
	ehlo    []string
	creds   string
	spn     string // the SPN a text names (event 2017's target)
	proxy   *verdict.ProxyNote
}

func (r *recognition) fact(id verdict.Fact, phrase string) {
	if r.facts[id] {
		return
	}
	r.facts[id] = true
	r.phrases = append(r.phrases, phrase)
}

// quotes maps every quotation mark Exchange, its translators and word
// processors put around the inner reply to a plain double quote.
var quotes = strings.NewReplacer("“", `"`, "”", `"`, "„", `"`, "«", `"`, "»", `"`, "「", `"`, "」", `"`, "『", `"`, "』", `"`, "‘", `"`, "’", `"`, "‚", `"`, "＂", `"`)

var (
	// A reply without an enhanced code is only trusted inside quotes, as
	// Exchange 2003 logged them: responded ... with "504 Need to authenticate first".
	quotedRE = regexp.MustCompile(`"([2-5][0-9][0-9]) ([A-Za-z][^"]{2,200})"`)
)

func recognise(text string) *recognition {
	r := &recognition{facts: map[verdict.Fact]bool{}}
	norm := unwrapList(quotes.Replace(text))
	r.findEHLO(norm)
	// Replies are found line by line (a reply's text ends with its line),
	// but a console may fold one reply across lines ("-> 451\n5.7.3"), so
	// the code scanner steps over line breaks between the two codes.
	r.findReplies(squeeze(norm))
	flat := strings.Join(strings.Fields(norm), " ")
	lower := strings.ToLower(flat)
	r.findWords(flat, lower)
	return r
}

// unwrapList joins the continuation lines of a PowerShell Format-List value
// (Get-Queue | fl LastError) back onto their property line. Format-List
// breaks a long value at the console width, even inside a word ("454 4.7.0
// Tempora" / "ry authentication failure."), and indents the rest to the
// value column; read line by line, the reply would end at the break. A
// line as long as the longest of its block was broken by the width and is
// joined without a space; a shorter one ended in the value itself (a
// multi-line SMTP reply) and is joined with one, as the one-line form of
// the same text reads.
func unwrapList(s string) string {
	if !strings.Contains(s, " : ") || !strings.Contains(s, "\n    ") {
		return s
	}
	lines := strings.Split(s, "\n")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(lines); {
		if i > 0 {
			b.WriteByte('\n')
		}
		col, j := listValueColumn(lines[i]), i+1
		for col > 0 && j < len(lines) && continuesList(lines[j], col) {
			j++
		}
		if j == i+1 {
			b.WriteString(lines[i])
			i++
			continue
		}
		block := lines[i:j]
		longest, indent := 0, col+1
		for k, l := range block {
			l = strings.TrimSuffix(l, "\r")
			block[k] = l
			longest = max(longest, utf8.RuneCountInString(l))
			if k > 0 {
				indent = min(indent, len(l)-len(strings.TrimLeft(l, " ")))
			}
		}
		b.WriteString(block[0])
		for k := 1; k < len(block); k++ {
			if utf8.RuneCountInString(block[k-1]) < longest {
				b.WriteByte(' ')
			}
			b.WriteString(block[k][indent:])
		}
		i = j
	}
	return b.String()
}

// listValueColumn returns where the value starts on a Format-List line
// ("LastError        : [{LRT=..."), 0 when the line is not one.
func listValueColumn(line string) int {
	i := 0
	for i < len(line) && (line[i] >= 'A' && line[i] <= 'Z' || line[i] >= 'a' && line[i] <= 'z' || i > 0 && line[i] >= '0' && line[i] <= '9') {
		i++
	}
	if i == 0 {
		return 0
	}
	for i < len(line) && line[i] == ' ' {
		i++
	}
	if i+2 >= len(line) || line[i] != ':' || line[i+1] != ' ' {
		return 0
	}
	return i + 2
}

// continuesList reports whether a line continues a Format-List value whose
// column is col: indented to that column (give or take one, as pastes
// lose or gain a space) and not empty.
func continuesList(line string, col int) bool {
	n := len(line) - len(strings.TrimLeft(line, " "))
	return col >= 6 && n >= col-1 && n <= col+1 && n < len(strings.TrimRight(line, " \r"))
}

// wrapper reports whether a reply is the sending side's wrapper around
// another server's answer ("451 4.4.0 Primary target IP address responded
// with: ...", "451 4.4.397 Error communicating with target host. -> ...",
// "550 5.4.300 Message expired -> ..."), rather than an answer itself.
func wrapper(rep smtpreply.Reply) bool {
	switch rep.Enhanced {
	case "4.4.0", "4.4.395", "4.4.397", "5.4.300", "4.4.7", "5.4.7":
		return true
	}
	return false
}

// connectReply reports whether a reply says the session never got going:
// "421 4.2.1 Unable to connect", "421 4.4.2 Connection dropped", "441 4.4.1
// No answer from host", "451 4.4.0 DNS query failed".
func connectReply(rep smtpreply.Reply) bool {
	switch rep.Enhanced {
	case "4.2.1", "4.4.1", "4.4.2":
		return rep.Code == 421 || rep.Code == 441 || rep.Code == 451
	case "4.4.0":
		return strings.Contains(strings.ToLower(rep.Text()), "dns")
	}
	return false
}

// replyAt is one "454 4.7.0" found in text: the code at [code, code+3),
// the enhanced code at [enh, textStart).
type replyAt struct{ code, enh, textStart int }

// findCodes scans for a basic code followed by an enhanced code
// ("454 4.7.0", "451-5.7.3", "4.4.397"). A hand scanner rather than a
// regular expression: a 10 MB paste must be read in well under a second.
func findCodes(s string, limit int) []replyAt {
	var out []replyAt
	isDigit := func(i int) bool { return i < len(s) && s[i] >= '0' && s[i] <= '9' }
	for i := 0; i+8 < len(s) && len(out) < limit; i++ {
		c := s[i]
		if c < '2' || c > '5' || !isDigit(i+1) || !isDigit(i+2) || (i > 0 && (isDigit(i-1) || s[i-1] == '.')) {
			continue
		}
		j := i + 3
		if s[j] != ' ' && s[j] != '-' && s[j] != '\n' {
			continue
		}
		for j < len(s) && (s[j] == ' ' || s[j] == '-' || s[j] == '\n') {
			j++
		}
		if j+4 >= len(s) || s[j] < '2' || s[j] > '5' || s[j+1] != '.' || !isDigit(j+2) {
			continue
		}
		k := j + 2
		for n := 0; n < 3 && isDigit(k); n++ {
			k++
		}
		if k >= len(s) || s[k] != '.' || !isDigit(k+1) {
			continue
		}
		k++
		for n := 0; n < 3 && isDigit(k); n++ {
			k++
		}
		if isDigit(k) {
			continue
		}
		out = append(out, replyAt{code: i, enh: j, textStart: k})
		i = k - 1
	}
	return out
}

// squeeze collapses runs of spaces and tabs and drops carriage returns,
// keeping line breaks.
func squeeze(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\f', '\v':
			space = true
			continue
		case '\n':
			space = false
			b.WriteByte('\n')
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

func (r *recognition) findReplies(flat string) {
	ms := findCodes(flat, 50)
	for i, m := range ms {
		end := len(flat)
		if i+1 < len(ms) {
			end = ms[i+1].code
		}
		text := flat[m.textStart:end]
		// The reply's own text ends at a closing quote or an arrow.
		if j := strings.IndexAny(text, `"`); j >= 0 {
			text = text[:j]
		}
		if j := strings.Index(text, "->"); j >= 0 {
			text = text[:j]
		}
		if j := strings.IndexByte(text, '\n'); j >= 0 {
			text = text[:j]
		}
		// In running text, the reply ends with its sentence.
		if j := strings.Index(text, ". "); j >= 0 {
			text = text[:j+1]
		}
		if len(text) > 160 {
			text = text[:160] + "..."
		}
		code := int(flat[m.code]-'0')*100 + int(flat[m.code+1]-'0')*10 + int(flat[m.code+2]-'0')
		rep := smtpreply.Reply{Code: code, Enhanced: flat[m.enh:m.textStart], Lines: []string{strings.TrimSpace(text)}}
		r.replies = append(r.replies, rep)
	}
	if len(r.replies) == 0 && strings.Contains(flat, `"`) {
		for _, m := range quotedRE.FindAllStringSubmatch(flat, 10) {
			code := int(m[1][0]-'0')*100 + int(m[1][1]-'0')*10 + int(m[1][2]-'0')
			r.replies = append(r.replies, smtpreply.Reply{Code: code, Lines: []string{strings.TrimSpace(m[2])}})
		}
	}
	// In a "->" chain the last answer is the innermost cause; in the
	// quoted form the first reply inside the wrapper is.
	chain := strings.Contains(flat, "->")
	for i := range r.replies {
		rep := &r.replies[i]
		if wrapper(*rep) {
			if r.outer == nil {
				r.outer = rep
			}
			continue
		}
		if r.inner == nil || chain {
			r.inner = rep
		}
	}
	if r.inner == nil && r.outer != nil {
		// A wrapper alone ("451 4.4.0 DNS query failed") is the answer.
		r.inner, r.outer = r.outer, nil
	}
	if r.inner != nil {
		r.phrases = append(r.phrases, "SMTP reply "+r.inner.String())
	}
}

var (
	// Masked EHLO lines, also when a paste lost its line breaks
	// ("250-PIPELINING250-XXXXXXXA250 XXXB").
	maskedRE = regexp.MustCompile(`250[ -](X{3,}[A-H]?)`)
	// X-EXPS / AUTH lines, on their own or inside a protocol-log CSV line
	// (matched on lower-cased text).
	ehloRE = regexp.MustCompile(`(?m)(?:^|[,>\s])250[ -]((?:x-exps|auth)\b[^,\r\n]*)`)
)

func (r *recognition) findEHLO(text string) {
	if strings.Contains(text, "250-XXX") || strings.Contains(text, "250 XXX") {
		for _, m := range maskedRE.FindAllStringSubmatch(text, 20) {
			if len(m[1]) >= 4 {
				r.ehlo = append(r.ehlo, m[1])
			}
		}
	}
	lower := strings.ToLower(text)
	for _, p := range []string{"250-x-exps", "250 x-exps", "250-auth", "250 auth"} {
		if strings.Contains(lower, p) {
			for _, m := range ehloRE.FindAllStringSubmatch(lower, 20) {
				r.ehlo = append(r.ehlo, strings.ToUpper(strings.TrimSpace(m[1])))
			}
			return
		}
	}
}
