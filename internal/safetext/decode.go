package safetext

import (
	"bytes"
	"errors"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrBinary says that input is not text in any encoding Decode knows.
var ErrBinary = errors.New("not text (neither UTF-8 nor UTF-16)")

// Decode turns text as Windows tools write it into a Go string: UTF-8
// with or without a byte-order mark, and UTF-16 (PowerShell 5.1's ">" and
// Out-File write UTF-16LE with a BOM; Notepad may write UTF-16BE). UTF-16
// without a BOM is recognised by its NUL bytes when the text is mostly
// ASCII. Anything else that is not valid UTF-8 is ErrBinary.
func Decode(b []byte) (string, error) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return decodeUTF16(b[2:], false)
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return decodeUTF16(b[2:], true)
	case looksUTF16(b, false):
		return decodeUTF16(b, false)
	case looksUTF16(b, true):
		return decodeUTF16(b, true)
	}
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		return "", ErrBinary
	}
	return string(b), nil
}

// looksUTF16 reports whether b is ASCII-heavy UTF-16 without a BOM: the
// high byte of most code units is zero.
func looksUTF16(b []byte, bigEndian bool) bool {
	if len(b) < 4 || len(b)%2 != 0 {
		return false
	}
	zeros, units := 0, len(b)/2
	for i := 0; i+1 < len(b); i += 2 {
		hi, lo := b[i+1], b[i]
		if bigEndian {
			hi, lo = b[i], b[i+1]
		}
		if hi == 0 && lo != 0 {
			zeros++
		}
	}
	return zeros*10 >= units*9
}

func decodeUTF16(b []byte, bigEndian bool) (string, error) {
	if len(b)%2 != 0 {
		return "", ErrBinary
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			units[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	s := string(utf16.Decode(units))
	if !utf8.ValidString(s) || bytes.IndexByte([]byte(s), 0) >= 0 {
		return "", ErrBinary
	}
	return s, nil
}
