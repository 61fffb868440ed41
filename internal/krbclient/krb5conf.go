package krbclient

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/exauth/exauth/internal/safetext"
	"github.com/jcmturner/gokrb5/v8/config"
)

// Limits on what LoadKrb5Conf reads: a krb5.conf is small, and a file named
// by mistake (a log, a binary) must not be read whole.
const (
	maxKrb5ConfBytes = 1 << 20
	maxIncludeDepth  = 8
)

// LoadKrb5Conf reads a krb5.conf as MIT krb5 does — the file and the files
// its "include FILE" and "includedir DIR" directives name — and parses it
// with gokrb5. gokrb5's parser skips what it cannot read without a word,
// so the text is checked first for what would otherwise be lost silently:
// binary content, text before the first [section], a section header
// without its "]". Directives gokrb5 does not support (v4 settings, for
// instance) are ignored, as MIT ignores what it does not know. Unless the
// file sets dns_lookup_kdc, KDCs are looked up in DNS when a realm has no
// kdc lines, MIT's default. Every problem is a *ConfigError naming the
// file and, where there is one, the line.
func LoadKrb5Conf(path string) (*config.Config, error) {
	var text strings.Builder
	r := &krb5ConfReader{out: &text, seen: map[string]bool{}}
	if err := r.read(path, 0); err != nil {
		return nil, err
	}
	c, err := config.NewFromString(text.String())
	if err != nil {
		var unsupported config.UnsupportedDirective
		if !errors.As(err, &unsupported) || c == nil {
			return nil, &ConfigError{Err: fmt.Errorf("krb5.conf %s cannot be parsed: %w", path, err), Hint: "fix the file, or give a realm and a KDC instead"}
		}
	}
	if !r.dnsLookupKDCSet {
		c.LibDefaults.DNSLookupKDC = true
	}
	return c, nil
}

// krb5ConfReader gathers a krb5.conf and its includes into one text.
type krb5ConfReader struct {
	out             *strings.Builder
	seen            map[string]bool // files read, against include loops
	dnsLookupKDCSet bool
}

var dnsLookupKDCRE = regexp.MustCompile(`^dns_lookup_kdc\s*=`)

func (r *krb5ConfReader) read(path string, depth int) error {
	b, err := readKrb5ConfFile(path)
	if err != nil {
		return err
	}
	if abs, err := filepath.Abs(path); err == nil {
		if r.seen[abs] {
			return &ConfigError{Err: fmt.Errorf("krb5.conf %s is included twice (an include loop)", path), Hint: "remove the include that leads back to it"}
		}
		r.seen[abs] = true
	}
	// Windows editors save krb5.ini with a byte-order mark, or in UTF-16.
	text, err := safetext.Decode(b)
	if err != nil {
		return &ConfigError{Err: fmt.Errorf("krb5.conf %s is not a text file", path), Hint: "name the krb5.conf file itself, or give a realm and a KDC instead"}
	}
	inSection := false
	for n, line := range strings.Split(text, "\n") {
		at := func(format string, args ...any) error {
			return &ConfigError{Err: fmt.Errorf("krb5.conf %s:%d: %s", path, n+1, fmt.Sprintf(format, args...)), Hint: "fix the file, or give a realm and a KDC instead"}
		}
		t := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		switch {
		case t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";"):
		case strings.HasPrefix(t, "include ") || strings.HasPrefix(t, "includedir ") || strings.HasPrefix(t, "module "):
			if depth >= maxIncludeDepth {
				return at("includes nest more than %d deep", maxIncludeDepth)
			}
			verb, arg, _ := strings.Cut(t, " ")
			arg = strings.TrimSpace(arg)
			if !filepath.IsAbs(arg) && verb != "module" {
				return at("%s needs an absolute path, not %q", verb, arg)
			}
			switch verb {
			case "include":
				if err := r.read(arg, depth+1); err != nil {
					return err
				}
			case "includedir":
				if err := r.readDir(arg, depth+1); err != nil {
					return err
				}
			}
			// module (a plugin) has no meaning here.
			continue
		case strings.HasPrefix(t, "["):
			if !strings.HasSuffix(t, "]") {
				return at("section header %q has no closing ]", t)
			}
			inSection = true
		case !inSection:
			return at("%q stands before the first [section]", t)
		case dnsLookupKDCRE.MatchString(t):
			r.dnsLookupKDCSet = true
		}
		r.out.WriteString(line)
		r.out.WriteByte('\n')
	}
	return nil
}

// readDir includes a directory's files as MIT does: names made only of
// letters, digits, dashes and underscores, or ending in ".conf", in order;
// others (editor backups, dotfiles) are skipped.
func (r *krb5ConfReader) readDir(dir string, depth int) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return &ConfigError{Err: fmt.Errorf("krb5.conf includedir %s: %w", dir, err), Hint: "fix the includedir line"}
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() || !includableName(e.Name()) {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		if err := r.read(filepath.Join(dir, name), depth); err != nil {
			return err
		}
	}
	return nil
}

func includableName(name string) bool {
	if strings.HasPrefix(name, ".") {
		return false
	}
	if strings.HasSuffix(name, ".conf") {
		return true
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// readKrb5ConfFile reads one file, with the errors a user can act on.
func readKrb5ConfFile(path string) ([]byte, error) {
	hint := "give the krb5.conf file, or a realm and a KDC"
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil, &ConfigError{Err: fmt.Errorf("krb5.conf %s does not exist", path), Hint: hint}
		case errors.Is(err, fs.ErrPermission):
			return nil, &ConfigError{Err: fmt.Errorf("krb5.conf %s is not readable: %w", path, err), Hint: "check the file's permissions, or " + hint}
		}
		return nil, &ConfigError{Err: fmt.Errorf("krb5.conf %s: %w", path, err), Hint: hint}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, &ConfigError{Err: fmt.Errorf("krb5.conf %s is a directory", path), Hint: "name the file itself"}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKrb5ConfBytes+1))
	if err != nil {
		return nil, &ConfigError{Err: fmt.Errorf("krb5.conf %s: %w", path, err), Hint: hint}
	}
	if len(b) > maxKrb5ConfBytes {
		return nil, &ConfigError{Err: fmt.Errorf("krb5.conf %s is larger than %d bytes: not a krb5.conf", path, maxKrb5ConfBytes), Hint: hint}
	}
	return b, nil
}
