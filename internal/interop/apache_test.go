//go:build interop

package interop

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/httpprobe"
	"github.com/exauth/exauth/kerberos"
	"github.com/exauth/exauth/verdict"
)

// apacheModules are the modules the test's httpd loads, from Debian's
// apache2 and libapache2-mod-auth-gssapi.
var apacheModules = map[string]string{
	"mpm_event_module":   "mod_mpm_event.so",
	"authn_core_module":  "mod_authn_core.so",
	"authz_core_module":  "mod_authz_core.so",
	"authz_user_module":  "mod_authz_user.so",
	"ssl_module":         "mod_ssl.so",
	"auth_gssapi_module": "mod_auth_gssapi.so",
}

// TestApacheGSSAPIWithHTTPProbe runs the HTTP probe against a Negotiate
// server we did not write: Apache httpd with mod_auth_gssapi (MIT GSS-API
// and SPNEGO), holding HTTP/cas02.lab.test's key from a real MIT KDC —
// what a Client Access server's IIS does for a proxying CAS.
func TestApacheGSSAPIWithHTTPProbe(t *testing.T) {
	requireTools(t, "apache2", "apache2")
	const modDir = "/usr/lib/apache2/modules"
	for _, so := range apacheModules {
		if _, err := os.Stat(filepath.Join(modDir, so)); err != nil {
			t.Skipf("%s not installed: apt-get install apache2 libapache2-mod-auth-gssapi (or run .ci/install-peers as root)", so)
		}
	}
	if os.Getuid() != 0 {
		t.Skip("httpd starts as root and switches to www-data: run as root (CI does)")
	}
	r := newMITRealm(t)
	const host, spn = "cas02.lab.test", "HTTP/cas02.lab.test"
	r.kadmin("addprinc -randkey " + spn)
	clientKT := r.ktadd("client.keytab", clientName)

	// httpd's children run as www-data: a directory and files they can
	// read (test-only keys).
	dir := filepath.Join(r.dir, "httpd")
	if err := os.MkdirAll(filepath.Join(dir, "www"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(r.dir), r.dir, dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	httpKT := filepath.Join(dir, "http.keytab")
	if err := r.Ktadd(httpKT, spn); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca, err := fakeserver.NewCA("exauth test CA", now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{host}, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	files := map[string][]byte{
		"cert.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		"key.pem":  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
		"www/owa":  []byte("Outlook on the web\n"),
	}
	var conf strings.Builder
	for name, so := range apacheModules {
		fmt.Fprintf(&conf, "LoadModule %s %s\n", name, filepath.Join(modDir, so))
	}
	fmt.Fprintf(&conf, `ServerRoot %[1]s
PidFile %[1]s/httpd.pid
Listen 127.0.0.1:%[2]d
ServerName %[3]s
User www-data
Group www-data
ErrorLog %[1]s/error.log
LogLevel info auth_gssapi:debug
DocumentRoot %[1]s/www
<Directory />
  AllowOverride None
</Directory>
SSLEngine on
SSLCertificateFile %[1]s/cert.pem
SSLCertificateKeyFile %[1]s/key.pem
<Location /owa>
  AuthType GSSAPI
  AuthName "exauth"
  GssapiCredStore keytab:%[4]s
  Require valid-user
</Location>
`, dir, port, host, httpKT)
	files["httpd.conf"] = []byte(conf.String())
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{httpKT, r.krb5Conf} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	onFailure(t, "httpd error log", fileText(filepath.Join(dir, "error.log")))
	httpd := startProc(t, baseEnv("KRB5_CONFIG="+r.krb5Conf), tool(t, "apache2"), "-f", filepath.Join(dir, "httpd.conf"), "-DFOREGROUND")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	waitListening(t, httpd, addr, fileText(filepath.Join(dir, "error.log")))

	probe := func(t *testing.T) *verdict.Report {
		t.Helper()
		return httpprobe.Probe(context.Background(), httpprobe.Config{
			URL: "https://" + host + "/owa", Connect: addr, RootCAs: ca.Pool(), Timeout: 20 * time.Second,
			Kerberos: kerberos.New(kerberos.Settings{Krb5Conf: r.krb5Conf, Keytab: clientKT, Principal: clientPrin}),
		})
	}
	t.Run("ok", func(t *testing.T) {
		rep := probe(t)
		expectVerdict(t, rep, verdict.VerdictOK, 0)
		if h := rep.Observation.HTTP; h == nil || !h.Mutual || h.Final == nil || h.Final.Status != 200 {
			t.Errorf("HTTP %+v; want 200 with mod_auth_gssapi's AP-REP verified", h)
		}
	})
	t.Run("key-mismatch/stale-keytab", func(t *testing.T) {
		// httpd keeps the keytab it has; the KDC moves the key on.
		r.kadmin("cpw -randkey " + spn)
		rep := probe(t)
		expectVerdict(t, rep, verdict.VerdictKeyMismatch, 2)
		if h := rep.Observation.HTTP; h == nil || h.Final == nil || h.Final.Status != 401 {
			t.Errorf("HTTP %+v; want 401 to the token", h)
		}
	})
}
