package krberror

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// The table agrees with gokrb5's, which implements the codes exauth sees.
func TestNamesMatchGokrb5(t *testing.T) {
	for c := int32(0); c < 100; c++ {
		want := ""
		if s, ok := strings.CutPrefix(errorcode.Lookup(c), fmt.Sprintf("(%d) ", c)); ok {
			want, _, _ = strings.Cut(s, " ")
		}
		if want == "" {
			if Code(c).Known() {
				t.Errorf("code %d: named %s here, unknown to gokrb5", c, Code(c))
			}
			continue
		}
		if got := Code(c).String(); got != want {
			t.Errorf("code %d: %s, gokrb5 says %s", c, got, want)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		c    Code
		want string
	}{
		{KDC_ERR_S_PRINCIPAL_UNKNOWN, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{KRB_AP_ERR_SKEW, "KRB_AP_ERR_SKEW"},
		{30, "KRB_ERROR_30"},
		{-1, "KRB_ERROR_-1"},
	} {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("Code(%d).String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}
