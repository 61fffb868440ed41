package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakecas/castest"
)

// A URL selects the HTTP path: the same flags for credentials, trust
// anchors and --connect; SMTP-only flags are refused.
func TestProbeURL(t *testing.T) {
	lab := castest.New(t, "HTTP/cas02.lab.test")
	srv := lab.Start(t, fakecas.Config{}, false)
	args := []string{"probe", "--json", "--connect", srv.Addr(), "--ca-file", lab.CAFile,
		"--krb5-conf", lab.Krb5Conf, "--keytab", lab.ClientKeytab, "--principal", lab.Principal}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append(args, "https://cas02.lab.test/owa"),
		env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }})
	var r struct {
		Verdict string
		TLS     struct{ Mode string }
	}
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil || code != 0 || r.Verdict != "ok" || r.TLS.Mode != "https" {
		t.Fatalf("exit %d, %+v, %v\n%s%s", code, r, err, stdout.String(), stderr.String())
	}
	for _, bad := range [][]string{
		{"probe", "--mech", "gssapi", "https://cas02.lab.test/owa"},
		{"probe", "http://cas02.lab.test/owa"},
	} {
		_, errOut, code := runCmd(t, "", bad...)
		if code != 3 || errOut == "" {
			t.Errorf("%v: exit %d, %q; want a usage error", bad, code, errOut)
		}
	}
}
