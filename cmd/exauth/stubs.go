package main

import (
	"bytes"
	"context"
	"errors"
	"io"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func cmdCheck(_ context.Context, _ []string, e env) int {
	return usageError(e, "check", errors.New("not implemented yet"))
}
