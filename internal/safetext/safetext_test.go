package safetext

import "testing"

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
