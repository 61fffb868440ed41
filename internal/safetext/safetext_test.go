package safetext

import (
	"strings"
	"testing"
)

func TestLine(t *testing.T) {
	for in, want := range map[string]string{
		"454 4.7.0 Temporary authentication failure": "454 4.7.0 Temporary authentication failure",
		"454 \x1b]0;pwned\x07 x":                     `454 \x1b]0;pwned\x07 x`,
		"a\r\nb":                                     `a\x0d\x0ab`,
		"一時的な認証の失敗 « ok »":                           "一時的な認証の失敗 « ok »",
		"\u009b31m":                                  `\x9b31m`,
	} {
		if got := Line(in); got != want {
			t.Errorf("Line(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRedactReply(t *testing.T) {
	tok := "YIGZBgkqhkiG9xIBAgICAG+BiTCBhqADAgEFoQMC"
	for _, line := range []string{"334 " + tok, "235 " + tok, "235 2.7.0 " + tok, "334 " + tok + " " + tok} {
		got := RedactReply(line)
		if strings.Contains(got, tok) || !strings.Contains(got, "redacted") {
			t.Errorf("%q -> %q", line, got)
		}
	}
	for _, line := range []string{"235 2.7.0 Authentication successful", "334 ", "454 4.7.0 Temporary authentication failure", "250 " + tok} {
		if got := RedactReply(line); got != line {
			t.Errorf("%q changed to %q", line, got)
		}
	}
}

func TestRedactExchangeAuth(t *testing.T) {
	blob := "000002CCYIICFAYJKoZIhvcSAQICAQBuggIDMIIB0000002CqpO2rLsU7kUO47u2xX0f3B4WfK2hMHqLhv5h1V6FZlA="
	if got := RedactCommand("X-EXPS EXCHANGEAUTH SHA256 " + blob); strings.Contains(got, "YIIC") || !strings.HasPrefix(got, "X-EXPS EXCHANGEAUTH SHA256 <token") {
		t.Errorf("command: %q", got)
	}
	if got := RedactReply("235 " + blob); strings.Contains(got, "YIIC") || !strings.Contains(got, "redacted") {
		t.Errorf("reply: %q", got)
	}
	if line := "235 2.7.0 Authentication successful"; RedactReply(line) != line {
		t.Errorf("words redacted: %q", RedactReply(line))
	}
}
