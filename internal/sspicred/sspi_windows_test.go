//go:build windows

package sspicred

import (
	"testing"

	"github.com/alexbrainman/sspi"
)

// The status table's values agree with those alexbrainman/sspi defines,
// which the Windows calls return.
func TestStatus_ValuesMatchWindows(t *testing.T) {
	for _, c := range []struct {
		ours   Status
		theirs uint32
	}{
		{SEC_E_OK, uint32(sspi.SEC_E_OK)},
		{SEC_I_CONTINUE_NEEDED, uint32(sspi.SEC_I_CONTINUE_NEEDED)},
		{SEC_E_LOGON_DENIED, uint32(sspi.SEC_E_LOGON_DENIED)},
		{SEC_E_CONTEXT_EXPIRED, uint32(sspi.SEC_E_CONTEXT_EXPIRED)},
	} {
		if uint32(c.ours) != c.theirs {
			t.Errorf("%s = 0x%08X, Windows 0x%08X", c.ours, uint32(c.ours), c.theirs)
		}
	}
}
