package smtpreply

import (
	"bufio"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func read(s string, l Limits) (Reply, error) {
	return NewReader(bufio.NewReader(strings.NewReader(s)), l).ReadReply()
}

func TestReadReply(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Reply
		wantErr error
	}{
		{"single with enhanced", "454 4.7.0 Temporary authentication failure\r\n",
			Reply{Code: 454, Enhanced: "4.7.0", Lines: []string{"Temporary authentication failure"}}, nil},
		{"three-digit detail", "451 4.4.397 Error communicating with target host.\r\n",
			Reply{Code: 451, Enhanced: "4.4.397", Lines: []string{"Error communicating with target host."}}, nil},
		{"class mismatch as Exchange sends it", "451 5.7.3 Cannot achieve Exchange Server authentication\r\n",
			Reply{Code: 451, Enhanced: "5.7.3", Lines: []string{"Cannot achieve Exchange Server authentication"}}, nil},
		{"bare code", "250\r\n", Reply{Code: 250, Lines: []string{""}}, nil},
		{"LF only", "220 hub ready\n", Reply{Code: 220, Lines: []string{"hub ready"}}, nil},
		{"multi-line EHLO", "250-hub01 Hello [127.0.0.1]\r\n250-SIZE 37748736\r\n250 XRDST\r\n",
			Reply{Code: 250, Lines: []string{"hub01 Hello [127.0.0.1]", "SIZE 37748736", "XRDST"}}, nil},
		{"code change mid-reply", "250-a\r\n251 b\r\n", Reply{}, &SyntaxError{}},
		{"not a code", "hello\r\n", Reply{}, &SyntaxError{}},
		{"code 600", "600 no\r\n", Reply{}, &SyntaxError{}},
		{"bad separator", "250x\r\n", Reply{}, &SyntaxError{}},
		{"too long", "250 " + strings.Repeat("a", 5000) + "\r\n", Reply{}, ErrLineTooLong},
		{"endless continuation", strings.Repeat("250-x\r\n", 200), Reply{}, ErrTooManyLines},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := read(tt.in, Limits{})
			if tt.wantErr != nil {
				var se *SyntaxError
				if errors.As(tt.wantErr, &se) {
					if !errors.As(err, &se) {
						t.Fatalf("err = %v, want SyntaxError", err)
					}
					return
				}
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestParseEHLO(t *testing.T) {
	r, err := read("250-hub01.lab.test Hello [127.0.0.1]\r\n250-SIZE 37748736\r\n250-XXXXXXXA\r\n250-X-EXPS GSSAPI NTLM\r\n250-AUTH NTLM\r\n250 XXXX\r\n", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	caps := ParseEHLO(r)
	if got, want := caps.Strings(), []string{"SIZE 37748736", "XXXXXXXA", "X-EXPS GSSAPI NTLM", "AUTH NTLM", "XXXX"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Strings = %q, want %q", got, want)
	}
	if got := len(caps.Masked()); got != 2 {
		t.Errorf("masked = %d, want 2", got)
	}
	if got := caps.Mechanisms("x-exps"); !reflect.DeepEqual(got, []string{"GSSAPI", "NTLM"}) {
		t.Errorf("X-EXPS mechanisms = %q", got)
	}
	if caps.Has("STARTTLS") {
		t.Error("STARTTLS reported but absent")
	}
	for _, kw := range []string{"XXXXXXXA", "XXXXXXXB", "XXXX", "xxxxxxxa"} {
		if !IsMasked(kw) {
			t.Errorf("IsMasked(%q) = false", kw)
		}
	}
	for _, kw := range []string{"XRDST", "X-EXPS", "X-ANONYMOUSTLS", "XXX", "8BITMIME"} {
		if IsMasked(kw) {
			t.Errorf("IsMasked(%q) = true", kw)
		}
	}
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"220 hub01 Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:00:00 +0000\r\n",
		"250-hub01 Hello\r\n250-X-EXPS GSSAPI NTLM\r\n250 XXXXXXXA\r\n",
		"454 4.7.0 Temporary authentication failure\r\n",
		"334 \r\n", "250\n", "5", "250-\r\n250",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := read(s, Limits{MaxLineBytes: 256, MaxLines: 10})
		if err != nil {
			return
		}
		if r.Code < 200 || r.Code > 599 || len(r.Lines) == 0 || len(r.Lines) > 10 {
			t.Fatalf("accepted impossible reply %#v", r)
		}
		caps := ParseEHLO(r)
		if len(caps) > len(r.Lines) {
			t.Fatalf("more capabilities than lines")
		}
		_ = caps.Strings()
	})
}
