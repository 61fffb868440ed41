package smtpprobe

import (
	"errors"
	"strings"
	"testing"
)

func TestRedactReply(t *testing.T) {
	tok := "YIGZBgkqhkiG9xIBAgICAG+BiTCBhqADAgEFoQMC"
	for _, line := range []string{"334 " + tok, "235 " + tok, "235 2.7.0 " + tok, "334 " + tok + " " + tok} {
		got := redactReply(line)
		if strings.Contains(got, tok) || !strings.Contains(got, "redacted") {
			t.Errorf("%q -> %q", line, got)
		}
	}
	for _, line := range []string{"235 2.7.0 Authentication successful", "334 ", "454 4.7.0 Temporary authentication failure", "250 " + tok} {
		if got := redactReply(line); got != line {
			t.Errorf("%q changed to %q", line, got)
		}
	}
}

func TestRedactTokensInErrors(t *testing.T) {
	tok := "QVAtUkVQLXRva2VuLWJ5dGVzLXRoYXQtYXJlLXNlY3JldA=="
	d := &dialogue{cfg: Config{}, obs: &Observation{}, redact: true}
	d.fail("auth", errors.New(`malformed SMTP reply line "334 `+tok+` trailing"`))
	if got := d.obs.Failure.Err.Error(); strings.Contains(got, tok) || !strings.Contains(got, "redacted") {
		t.Fatalf("failure text %q", got)
	}
}
