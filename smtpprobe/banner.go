package smtpprobe

import (
	"strings"
	"time"
)

// bannerLayouts are the date forms Exchange versions and locales write after
// "ready at": RFC 1123 with a numeric zone is the default. Zone
// abbreviations other than UTC/GMT are not accepted: Go would read an
// unknown one ("CET") as UTC and invent an hour of skew.
var bannerLayouts = []string{
	time.RFC1123Z,                    // Mon, 23 Nov 2026 12:13:41 +0000
	"Mon, 2 Jan 2006 15:04:05 -0700", // single-digit day
	"Mon, 02 Jan 2006 15:04:05 UTC",  // UTC spelled out
	"Mon, 02 Jan 2006 15:04:05 GMT",
	"2 Jan 2006 15:04:05 -0700", // no weekday
	"Mon, 02 Jan 2006 15:04:05 -0700 (MST)",
}

// ParseBannerDate finds the server's date in a 220 banner text such as
// "hub01 Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:13:41 +0000".
// It tries the text after "ready at", then the last comma-led date.
func ParseBannerDate(text string) (time.Time, bool) {
	candidates := []string{}
	if i := strings.LastIndex(text, " ready at "); i >= 0 {
		candidates = append(candidates, text[i+len(" ready at "):])
	}
	// Other MTAs write "ESMTP Postfix; Mon, 23 Nov ..." or similar.
	for i := 0; i < len(text) && len(candidates) < 4; i++ {
		if text[i] == ',' && i >= 3 {
			candidates = append(candidates, text[i-3:])
		}
	}
	for _, c := range candidates {
		c = strings.TrimSpace(c)
		if len(c) > 64 {
			c = c[:64]
		}
		for _, layout := range bannerLayouts {
			for n := len(c); n >= len(layout)-6 && n > 0; n-- {
				if t, err := time.Parse(layout, strings.TrimSpace(c[:n])); err == nil {
					return t, true
				}
			}
		}
	}
	return time.Time{}, false
}
