// Package safetext makes text that came from a peer or a paste safe to
// print on a terminal: a hostile server's banner or a pasted string could
// otherwise carry escape sequences that retitle, recolour or rewrite the
// administrator's terminal.
package safetext

import (
	"fmt"
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
