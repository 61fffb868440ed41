package fakecas

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/clock"
)

// FuzzAuthorization feeds arbitrary Authorization headers to the parser
// and to the whole handler (with an empty keytab, so that well-formed
// tokens reach the acceptor): no panic, and every answer is 200 or 401.
func FuzzAuthorization(f *testing.F) {
	for _, seed := range []string{
		"", "Negotiate", "Negotiate ", "negotiate YII=", "NTLM TlRMTVNTUAABAAAA", "Basic dTpw",
		"Negotiate " + base64.StdEncoding.EncodeToString([]byte{0x60, 0x80, 0x06}),
		"Negotiate " + base64.StdEncoding.EncodeToString([]byte{0x6e, 0x82, 0xff, 0xff}),
		"Negotiate " + base64.StdEncoding.EncodeToString([]byte{0xa1, 0x03, 0x30, 0x01, 0x00}),
		"Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg", "  NTLM   ", "Negotiate ====",
	} {
		f.Add(seed)
	}
	s := &Server{
		cfg:     Config{Host: "cas02.lab.test", Keytab: keytab.New()},
		clk:     clock.System{},
		service: "HTTP/cas02.lab.test",
		provs:   DefaultProviders(),
		maxBody: 1024,
		port:    "443",
	}
	f.Fuzz(func(t *testing.T, authz string) {
		_, _, _ = parseAuthorization([]string{authz})
		req := httptest.NewRequest(http.MethodGet, "https://cas02.lab.test/owa", nil)
		req.Header["Authorization"] = []string{authz}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusOK {
			t.Fatalf("status %d for %q", rec.Code, authz)
		}
	})
}
