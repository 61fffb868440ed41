package safetext

import (
	"errors"
	"testing"
	"unicode/utf16"
)

func utf16le(s string, bom bool) []byte {
	var b []byte
	if bom {
		b = []byte{0xFF, 0xFE}
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u), byte(u>>8))
	}
	return b
}

func utf16be(s string) []byte {
	b := []byte{0xFE, 0xFF}
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return b
}

func TestDecode(t *testing.T) {
	const text = "454 4.7.0 Tillfälligt autentiseringsfel\r\n"
	for name, in := range map[string][]byte{
		"utf-8":             []byte(text),
		"utf-8 with bom":    append([]byte{0xEF, 0xBB, 0xBF}, text...),
		"utf-16le (ps 5.1)": utf16le(text, true),
		"utf-16le, no bom":  utf16le(text, false),
		"utf-16be with bom": utf16be(text),
	} {
		if got, err := Decode(in); err != nil || got != text {
			t.Errorf("%s: %q, %v", name, got, err)
		}
	}
	for name, in := range map[string][]byte{
		"nul":       []byte("abc\x00def"),
		"latin-1":   []byte("caf\xe9 \xe9t\xe9"),
		"odd utf16": {0xFF, 0xFE, 'a'},
	} {
		if _, err := Decode(in); !errors.Is(err, ErrBinary) {
			t.Errorf("%s: %v, want ErrBinary", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("EHLO"))
	f.Add(utf16le("X-EXPS", true))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err == nil && !utf8ValidNoNUL(s) {
			t.Fatalf("Decode(%q) = %q: not clean UTF-8", b, s)
		}
	})
}

func utf8ValidNoNUL(s string) bool {
	for i, r := range s {
		if r == 0 || (r == 0xFFFD && len(s) > i && s[i] != 0xEF) {
			return false
		}
	}
	return true
}
