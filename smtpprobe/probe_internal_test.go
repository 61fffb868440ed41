package smtpprobe

import (
	"errors"
	"strings"
	"testing"

	"github.com/exauth/exauth/verdict"
)

func TestRedactTokensInErrors(t *testing.T) {
	tok := "QVAtUkVQLXRva2VuLWJ5dGVzLXRoYXQtYXJlLXNlY3JldA=="
	d := &dialogue{cfg: Config{}, obs: &verdict.Observation{}, redact: true}
	d.fail(verdict.StepAuth, errors.New(`malformed SMTP reply line "334 `+tok+` trailing"`))
	if got := d.obs.Failure.Err.Error(); strings.Contains(got, tok) || !strings.Contains(got, "redacted") {
		t.Fatalf("failure text %q", got)
	}
}
