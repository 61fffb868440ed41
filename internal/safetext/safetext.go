// Package safetext makes text that came from a peer or a paste safe to
// print on a terminal: a hostile server's banner or a pasted string could
// otherwise carry escape sequences that retitle, recolour or rewrite the
// administrator's terminal; and Kerberos tokens on SMTP lines are secrets
// that must not reach a terminal, a log or a report unless asked for.
package safetext

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
)

// Line escapes control characters (C0, DEL, C1), line breaks included, as
// \xNN; everything printable, any script, is kept.
func Line(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			fmt.Fprintf(&b, `\x%02x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// RedactCommand hides the token of an AUTH or X-EXPS command line (or of a
// bare continuation line, which is all token).
func RedactCommand(line string) string {
	verb, rest, found := strings.Cut(line, " ")
	if found && (verb == "AUTH" || verb == "X-EXPS") {
		mech, tok, _ := strings.Cut(rest, " ")
		if strings.EqualFold(mech, "EXCHANGEAUTH") {
			// "X-EXPS EXCHANGEAUTH SHA256 <blob>": the hash name is no secret.
			hash, blob, _ := strings.Cut(tok, " ")
			return verb + " " + mech + " " + hash + " " + placeholder(blob)
		}
		return verb + " " + mech + " " + placeholder(tok)
	}
	return placeholder(line)
}

// RedactReply hides server tokens on 334 and 235 lines: every field that
// is base64 of a dozen characters or more, which covers "334 <token>",
// "235 <token>" and "235 2.7.0 <token>" (the forms smtpreply.Reply.AuthToken accepts).
func RedactReply(line string) string {
	if len(line) < 4 || !(strings.HasPrefix(line, "334") || strings.HasPrefix(line, "235")) {
		return line
	}
	f := strings.Fields(line[4:])
	changed := false
	for i, field := range f {
		if tokenLike(field) {
			f[i] = placeholder(field)
			changed = true
		}
	}
	if !changed {
		return line
	}
	return line[:4] + strings.Join(f, " ")
}

// tokenLike reports whether a reply field is authentication data rather
// than a word: a dozen characters or more of base64's alphabet that decode
// as base64, or that carry a digit or a base64 symbol (an ExchangeAuth
// blob: hexadecimal lengths and base64 fields run together).
func tokenLike(field string) bool {
	if len(field) < 12 || strings.Trim(field, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != "" {
		return false
	}
	if _, err := base64.StdEncoding.DecodeString(field); err == nil {
		return true
	}
	return strings.ContainsAny(field, "0123456789+/=")
}

// base64Run is a run long enough to be a token rather than a word.
var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{16,}={0,2}`)

// RedactTokens hides base64 runs in free text (an error quoting a reply).
func RedactTokens(s string) string {
	return base64Run.ReplaceAllStringFunc(s, placeholder)
}

func placeholder(b64 string) string {
	if b64 == "" {
		return ""
	}
	return fmt.Sprintf("<token, %d bytes, redacted; --show-secrets shows it>", base64.StdEncoding.DecodedLen(len(b64)))
}
