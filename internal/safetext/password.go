package safetext

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// maxPasswordFile bounds a password file: a password is short, and a file
// of megabytes given by mistake must not be read whole.
const maxPasswordFile = 64 << 10

// ReadPasswordFile reads a password: the file's first line, without its
// line ending. Notepad and PowerShell write byte-order marks and UTF-16,
// so the text is decoded and neither becomes part of the password. An
// empty password is an error, not a silent fall back to other credentials.
func ReadPasswordFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("%s is larger than %d bytes: not a password file", path, maxPasswordFile)
	}
	text, err := Decode(b)
	if err != nil {
		return "", fmt.Errorf("%s is not a text file", path)
	}
	pw, _, _ := strings.Cut(text, "\n")
	pw = strings.TrimRight(pw, "\r")
	if pw == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return pw, nil
}
