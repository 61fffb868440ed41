//go:build !windows

package sspicred

// System is Windows' SSPI; elsewhere it is ErrNotWindows.
func System() (SSPI, error) { return nil, ErrNotWindows }
