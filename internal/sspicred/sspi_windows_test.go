//go:build windows

package sspicred

import (
	"testing"

	"github.com/alexbrainman/sspi"
	"github.com/exauth/exauth/internal/sspistatus"
)

// The status table's values agree with those alexbrainman/sspi defines,
// which the Windows calls return.
func TestStatus_ValuesMatchWindows(t *testing.T) {
	for _, c := range []struct {
		ours   sspistatus.Status
		theirs uint32
	}{
		{sspistatus.SEC_E_OK, uint32(sspi.SEC_E_OK)},
		{sspistatus.SEC_I_CONTINUE_NEEDED, uint32(sspi.SEC_I_CONTINUE_NEEDED)},
		{sspistatus.SEC_E_LOGON_DENIED, uint32(sspi.SEC_E_LOGON_DENIED)},
		{sspistatus.SEC_E_CONTEXT_EXPIRED, uint32(sspi.SEC_E_CONTEXT_EXPIRED)},
	} {
		if uint32(c.ours) != c.theirs {
			t.Errorf("%s = 0x%08X, Windows 0x%08X", c.ours, uint32(c.ours), c.theirs)
		}
	}
}
