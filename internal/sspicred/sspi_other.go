//go:build !windows

package sspicred

import "errors"

// ErrNotWindows says SSPI credentials exist only on Windows.
var ErrNotWindows = errors.New("the Windows logon session's credentials (SSPI) exist only on Windows: give --cred keytab, ccache or password")

// System is Windows' SSPI; elsewhere it is ErrNotWindows.
func System() (SSPI, error) { return nil, ErrNotWindows }
