package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
)

// A URL selects the HTTP path: the same flags for credentials, trust
// anchors and --connect; SMTP-only flags are refused.
func TestProbeURL(t *testing.T) {
	kdc, err := fakekdc.Start(fakekdc.Config{Realm: "LAB.TEST", Accounts: []fakekdc.Account{
		{Name: "CAS01$", SPNs: []string{"HTTP/cas01.lab.test"}},
		{Name: "CAS02$", SPNs: []string{"HTTP/cas02.lab.test"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer kdc.Close()
	now := time.Now()
	ca, err := fakeserver.NewCA("exauth test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"cas02.lab.test"}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	kt02, err := kdc.Keytab("CAS02$", 0)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := fakecas.Start(fakecas.Config{Host: "cas02.lab.test", Certificate: &cert, Keytab: kt02})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	kt01, err := kdc.Keytab("CAS01$", 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := kt01.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"krb5.conf": kdc.Krb5Conf(), "cas01.keytab": b, "ca.pem": ca.PEM()}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"probe", "--json", "--connect", srv.Addr(), "--ca-file", filepath.Join(dir, "ca.pem"),
		"--krb5-conf", filepath.Join(dir, "krb5.conf"), "--keytab", filepath.Join(dir, "cas01.keytab"), "--principal", "CAS01$@LAB.TEST"}
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
