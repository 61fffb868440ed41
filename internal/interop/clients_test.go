//go:build interop

package interop

import (
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exauth/exauth/internal/exchangeauth"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
)

// TestGsaslToFakeConnector authenticates GNU gsasl (libgsasl's GSSAPI
// client on MIT GSS-API) to the fake connector's AUTH GSSAPI after
// STARTTLS, with a ticket from MIT kinit against our fake KDC: our RFC 4752
// acceptor, security-layer step included, checked by another initiator.
func TestGsaslToFakeConnector(t *testing.T) {
	requireTools(t, "gsasl", "gsasl")
	l := newFakeKDCLab(t, etypeID.AES256_CTS_HMAC_SHA1_96)
	mustRun(t, l.env, "", tool(t, "kinit"), "-k", "-t", l.keytab(t, clientName, "client.keytab"), clientPrin)
	h := startHub(t, hubOptions{Keytab: loadKeytab(t, l.keytab(t, "HUB01$", "hub01.keytab")), Capabilities: capsWithAuthGSSAPI()})
	_, port, _ := strings.Cut(h.srv.Addr(), ":")

	// --service SMTP: gsasl's --smtp default is "smtp"; the connector is
	// keyed for SMTP/<host>, as Exchange is. --x509-ca-file makes gnutls
	// verify the connector's certificate for --hostname. Not --starttls:
	// gsasl 2.2.0 then sends STARTTLS before any EHLO, ignores the "503
	// 5.5.2 Send hello first" and starts the handshake anyway; without it,
	// gsasl sends EHLO, sees STARTTLS offered and upgrades properly.
	res := run(t, l.env, "", tool(t, "gsasl"),
		"--smtp", "--connect", "127.0.0.1:"+port, "--hostname", hubHost, "--service", "SMTP",
		"--mechanism", "GSSAPI", "--x509-ca-file", h.caFile,
		"--verbose")
	if res.code != 0 {
		t.Fatalf("gsasl: %s", res)
	}
	t.Logf("gsasl:\n%s%s", res.stdout, res.stderr)
	// RFC 4752 in full: AUTH without an initial response, the token after
	// "334 ", the AP-REP, gsasl's empty response, the wrapped
	// security-layer offer and gsasl's wrapped choice, then 235.
	out := strings.ReplaceAll(res.stdout+res.stderr, "\r", "")
	for _, want := range []string{"STARTTLS\n220 ", "The certificate is trusted", "AUTH GSSAPI\n334 \n", "\n235 2.7.0 Authentication successful"} {
		if !strings.Contains(out, want) {
			t.Errorf("gsasl's dialogue lacks %q:\n%s", want, res)
		}
	}
	log := h.log.String()
	if !strings.Contains(log, "authenticated") || !strings.Contains(log, clientPrin) {
		t.Errorf("the fake hub did not log %s as authenticated", clientPrin)
	}
	if strings.Contains(log, "event 1035") {
		t.Errorf("the fake hub logged a failed authentication")
	}
}

// TestSwaksToFakeConnector runs swaks (Perl, Net::SSLeay/OpenSSL) through
// EHLO, STARTTLS with certificate verification, EHLO again and a whole
// message transaction against the fake connector.
func TestSwaksToFakeConnector(t *testing.T) {
	requireTools(t, "swaks", "swaks")
	if res := run(t, baseEnv(), "", "perl", "-MNet::SSLeay", "-e", "1"); res.code != 0 {
		t.Skip("swaks needs Net::SSLeay for --tls: apt-get install libnet-ssleay-perl")
	}
	h := startHub(t, hubOptions{})
	host, port, _ := strings.Cut(h.srv.Addr(), ":")
	subject := "exauth interop via swaks"
	res := run(t, baseEnv(), "", tool(t, "swaks"),
		"--server", host, "--port", port, "--ehlo", "hub02.lab.test",
		"--from", "sender@lab.test", "--to", "postmaster@"+hubHost,
		"--tls", "--tls-verify", "--tls-ca-path", h.caFile, "--tls-sni", hubHost,
		"--header", "Subject: "+subject, "--body", "sent by swaks through the fake connector")
	if res.code != 0 {
		t.Fatalf("swaks: %s", res)
	}
	for _, want := range []string{"<-  220 2.0.0 SMTP server ready", "=== TLS started with cipher", "~> EHLO hub02.lab.test", "~> DATA", "<~  250 2.6.0", "~> QUIT"} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("swaks transcript lacks %q:\n%s", want, res.stdout)
		}
	}
	msgs := h.messages()
	if len(msgs) != 1 {
		t.Fatalf("the fake hub accepted %d messages, want 1\nswaks:\n%s", len(msgs), res.stdout)
	}
	m := msgs[0]
	if !m.TLS || m.From != "sender@lab.test" || fmt.Sprint(m.To) != "[postmaster@hub01.lab.test]" || !strings.Contains(string(m.Data), "Subject: "+subject) {
		t.Errorf("message = from %q to %q tls %v\n%s", m.From, m.To, m.TLS, m.Data)
	}
}

// TestOpenSSLExporterMatchesEAPKey checks ExchangeAuth's TLS EAP key, which
// the fake connector and the probe derive with Go's TLS exporter, against
// OpenSSL's independent implementation: s_client's -keymatexport with
// Schannel's label "client EAP encryption" and 128 bytes, over STARTTLS
// on TLS 1.2 and on TLS 1.0 (Exchange negotiates both).
func TestOpenSSLExporterMatchesEAPKey(t *testing.T) {
	requireTools(t, "openssl", "openssl")
	for _, v := range []struct {
		flag string
		args []string
	}{
		{"-tls1_2", nil},
		// OpenSSL 3 refuses TLS 1.0 at its default security level.
		{"-tls1", []string{"-cipher", "DEFAULT@SECLEVEL=0"}},
	} {
		t.Run(v.flag, func(t *testing.T) {
			keys := make(chan []byte, 1)
			h := startHub(t, hubOptions{OnTLS: func(_ string, st tls.ConnectionState) {
				k, err := exchangeauth.EAPKey(st)
				if err != nil {
					t.Errorf("connector EAP key: %v", err)
				}
				keys <- k
			}})
			args := append([]string{"s_client", "-connect", h.srv.Addr(), "-starttls", "smtp", "-name", "hub02.lab.test", v.flag,
				"-keymatexport", exchangeauth.EAPKeyLabel, "-keymatexportlen", fmt.Sprint(exchangeauth.EAPKeySize)}, v.args...)
			res := run(t, baseEnv(), "QUIT\r\n", tool(t, "openssl"), args...)
			m := regexp.MustCompile(`Keying material: ([0-9A-Fa-f]+)`).FindStringSubmatch(res.stdout)
			if m == nil {
				t.Fatalf("openssl printed no keying material:\n%s", res)
			}
			var got []byte
			select {
			case got = <-keys:
			case <-time.After(readyTimeout):
				t.Fatalf("the connector finished no TLS handshake:\n%s", res)
			}
			if want := strings.ToUpper(m[1]); strings.ToUpper(hex.EncodeToString(got)) != want {
				t.Errorf("EAP key: connector %X, OpenSSL %s", got, want)
			}
		})
	}
}
