package safetext

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content, want string
		ok                  bool
	}{
		{"line", "pw\r\nrest", "pw", true},
		{"BOM", "\ufeffpw\n", "pw", true},
		{"UTF-16LE", "\xff\xfep\x00w\x00\r\x00\n\x00", "pw", true},
		{"empty", "\n", "", false},
		{"binary", "\x00\x01\x02", "", false},
		{"too large", strings.Repeat("x", maxPasswordFile+1), "", false},
	} {
		p := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
		if err := os.WriteFile(p, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := ReadPasswordFile(p)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("%s: %q, %v", tt.name, got, err)
		}
		if err != nil && strings.Contains(err.Error(), tt.content) && tt.content != "\n" {
			t.Errorf("%s: the error repeats the file's content: %v", tt.name, err)
		}
	}
	if _, err := ReadPasswordFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file: want an error")
	}
}
