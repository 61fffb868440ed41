package sspistatus

import "testing"

func TestStatusNames(t *testing.T) {
	for _, tc := range []struct {
		s          Status
		name, text string
	}{
		{SEC_E_TIME_SKEW, "SEC_E_TIME_SKEW", "the clocks on the client and server machines are skewed"},
		{SEC_E_TARGET_UNKNOWN, "SEC_E_TARGET_UNKNOWN", "the specified target is unknown or unreachable"},
		{Status(0x8009FFFF), "0x8009FFFF", ""},
	} {
		if tc.s.String() != tc.name || tc.s.Text() != tc.text {
			t.Errorf("%08X: %q %q, want %q %q", uint32(tc.s), tc.s.String(), tc.s.Text(), tc.name, tc.text)
		}
	}
	// IIS logs the unsigned decimal value.
	if uint32(SEC_E_NO_CREDENTIALS) != 2148074254 {
		t.Errorf("SEC_E_NO_CREDENTIALS = %d", uint32(SEC_E_NO_CREDENTIALS))
	}
}
