package explain

import (
	"io"
	"strings"
	"testing"

	"github.com/exauth/exauth/verdict"
)

// noise is a protocol log of healthy sessions, n bytes of it.
func noise(n int) io.Reader {
	line := "2026-11-23T12:00:00.000Z,HUB01\\Default HUB01,08DE000000000001,3,10.0.0.11:25,10.0.0.12:41234,>,250-PIPELINING,\n"
	return io.LimitReader(&repeater{s: line}, int64(n/len(line)*len(line)))
}

type repeater struct {
	s string
	i int
}

func (r *repeater) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.i:])
		n += c
		r.i = (r.i + c) % len(r.s)
	}
	return n, nil
}

// A failure past the first 10 MiB of a long log is found, and so is every
// other distinct failure, each with its line.
func TestExplainReader_WholeLogEveryFailure(t *testing.T) {
	permission := "The account 'CONTOSO\\HUB02$' provided valid credentials, but it does not have submit permissions on SMTP Receive connector 'Default HUB01'; failing authentication.\n"
	reverse := "2026-11-23T12:00:00.060Z,HUB01\\Default HUB01,08DE000000000001,12,10.0.0.11:2525,10.0.0.12:41234,*,,Inbound ExchangeAuth negotiation failed because of TargetUnknown\n"
	in := io.MultiReader(noise(1<<20), strings.NewReader(reverse), noise(11<<20), strings.NewReader(permission))
	findings, err := ExplainReader(in)
	if err != nil {
		t.Fatal(err)
	}
	got := map[verdict.Verdict]int{}
	for _, f := range findings {
		got[f.Verdict] = f.Line
	}
	if got[verdict.VerdictReverseAuthFailed] == 0 || got[verdict.VerdictNoSubmitPermission] <= got[verdict.VerdictReverseAuthFailed] {
		t.Fatalf("findings %v; want reverse-auth-failed and, later, no-submit-permission", got)
	}
}

func TestExplainReader_UTF16AndEmpty(t *testing.T) {
	text := "451 4.4.0 Primary target IP address responded with: \"454 4.7.0 Temporary authentication failure.\"\r\n"
	b := []byte{0xFF, 0xFE}
	for _, r := range text {
		b = append(b, byte(r), byte(r>>8))
	}
	f, err := ExplainReader(strings.NewReader(string(b)))
	if err != nil || len(f) != 1 || f[0].Verdict != verdict.VerdictAuthTemporaryFailure {
		t.Fatalf("UTF-16: %+v, %v", f, err)
	}
	if f, err := ExplainReader(strings.NewReader("")); err != nil || len(f) != 0 {
		t.Fatalf("empty: %+v, %v", f, err)
	}
}

func FuzzExplainReader(f *testing.F) {
	f.Add([]byte("454 4.7.0 Temporary authentication failure\n"))
	f.Add([]byte{0xFF, 0xFE, '4', 0, '5', 0, '4', 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		findings, err := ExplainReader(strings.NewReader(string(b)))
		if err != nil {
			t.Fatalf("error reading from memory: %v", err)
		}
		for _, x := range findings {
			if !x.Verdict.Valid() || x.Line < 1 {
				t.Fatalf("finding %+v", x)
			}
		}
	})
}
