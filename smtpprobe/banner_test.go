package smtpprobe

import (
	"testing"
	"time"
)

func TestParseBannerDate(t *testing.T) {
	want := time.Date(2026, 11, 23, 12, 13, 41, 0, time.UTC)
	for _, s := range []string{
		"hub01.contoso.com Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:13:41 +0000",
		"hub01 Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 13:13:41 +0100",
		"hub01 Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:13:41 UTC",
		"mail.example.org ESMTP Postfix; Mon, 23 Nov 2026 12:13:41 +0000",
	} {
		got, ok := ParseBannerDate(s)
		if !ok || !got.Equal(want) {
			t.Errorf("%q: %v %v", s, got, ok)
		}
	}
	for _, s := range []string{"hub01 ESMTP", "", "ready at yesterday", "Mon, 99 Foo 2026"} {
		if got, ok := ParseBannerDate(s); ok {
			t.Errorf("%q parsed as %v", s, got)
		}
	}
}

func FuzzParseBannerDate(f *testing.F) {
	f.Add("hub01 Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:13:41 +0000")
	f.Add("x ESMTP Postfix; Mon, 2 Nov 2026 01:02:03 -0700 (MST)")
	f.Fuzz(func(t *testing.T, s string) {
		if d, ok := ParseBannerDate(s); ok && d.IsZero() {
			t.Fatalf("zero date accepted from %q", s)
		}
	})
}

func TestParseBannerDate_NoGuessedZones(t *testing.T) {
	if got, ok := ParseBannerDate("hub01 Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:13:41 CET"); ok {
		t.Errorf("a zone abbreviation Go cannot resolve was read as %v", got)
	}
}
