package fakecas_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/crypto"
	krbgss "github.com/jcmturner/gokrb5/v8/gssapi"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exauth/exauth/fakecas"
	"github.com/exauth/exauth/fakecas/castest"
	"github.com/exauth/exauth/fakekdc"
	"github.com/exauth/exauth/fakeserver"
	"github.com/exauth/exauth/internal/krberror"
)

const (
	realm    = "LAB.TEST"
	cas01    = "cas01.lab.test"
	cas02    = "cas02.lab.test"
	cas02SPN = "HTTP/cas02.lab.test"
)

type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) Logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(strings.TrimRight(fmt.Sprintf(format, args...), "\n") + "\n")
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lab is a fake KDC with CAS01$ and CAS02$, a CA, and a client for CAS01$.
type lab struct {
	kdc  *fakekdc.KDC
	ca   *fakeserver.CA
	cert tls.Certificate
	cfg  *config.Config
}

func newLab(t *testing.T, cas02SPNs []string) *lab {
	t.Helper()
	env := castest.New(t, cas02SPNs...)
	now := time.Now()
	cert, err := env.CA.Issue([]string{cas02}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(env.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	return &lab{kdc: env.KDC, ca: env.CA, cert: cert, cfg: cfg}
}

func (l *lab) keytab(t *testing.T, account string, kvno int) *keytab.Keytab {
	t.Helper()
	kt, err := l.kdc.Keytab(account, kvno)
	if err != nil {
		t.Fatal(err)
	}
	return kt
}

// cas01Client is CAS01$ logged in from its keytab.
func (l *lab) cas01Client(t *testing.T) *client.Client {
	t.Helper()
	cl := client.NewWithKeytab("CAS01$", realm, l.keytab(t, "CAS01$", 0), l.cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Destroy)
	return cl
}

// httpClient trusts the lab CA and dials the fake whatever the URL's host.
func (l *lab) httpClient(t *testing.T, srv *fakecas.Server) *http.Client {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: l.ca.Pool()},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Addr())
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func startCAS(t *testing.T, cfg fakecas.Config) (*fakecas.Server, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	cfg.Logf = lb.Logf
	srv, err := fakecas.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("fakecas log:\n%s", lb.String())
		}
	})
	return srv, lb
}

// mutualToken is a SPNEGO NegTokenInit whose Kerberos AP-REQ asks for
// mutual authentication (gokrb5's own HTTP client does not), with the
// session key to verify the AP-REP.
func mutualToken(t *testing.T, cl *client.Client, spn string) ([]byte, types.EncryptionKey) {
	t.Helper()
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		t.Fatal(err)
	}
	krb5, err := spnego.NewKRB5TokenAPREQ(cl, tkt, key,
		[]int{krbgss.ContextFlagMutual, krbgss.ContextFlagInteg, krbgss.ContextFlagConf},
		[]int{flags.APOptionMutualRequired})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := krb5.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tok := spnego.SPNEGOToken{Init: true, NegTokenInit: spnego.NegTokenInit{
		MechTypes: []asn1.ObjectIdentifier{krbgss.OIDKRB5.OID()}, MechTokenBytes: mt,
	}}
	b, err := tok.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b, key
}

func get(t *testing.T, hc *http.Client, url, authz string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestNegotiateKerberos(t *testing.T) {
	l := newLab(t, []string{cas02SPN})
	srv, lb := startCAS(t, fakecas.Config{Host: cas02, Certificate: &l.cert, Keytab: l.keytab(t, "CAS02$", 0)})
	cl := l.cas01Client(t)
	hc := l.httpClient(t, srv)

	// gokrb5's SPNEGO HTTP client: 401, then the token, then 200.
	sc := spnego.NewClient(cl, hc, cas02SPN)
	resp, err := sc.Get(srv.URL() + "/OWA/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Negotiate ") {
		t.Errorf("WWW-Authenticate %q: want a Negotiate token", got)
	}

	// Mutual authentication: the AP-REP in the NegTokenResp decrypts with
	// the session key and echoes the authenticator's time.
	tok, skey := mutualToken(t, cl, cas02SPN)
	resp, _ = get(t, hc, srv.URL()+"/ews/Exchange.asmx", "Negotiate "+base64.StdEncoding.EncodeToString(tok))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mutual: status %d, want 200", resp.StatusCode)
	}
	verifyMutual(t, resp.Header.Values("WWW-Authenticate"), skey)

	log := lb.String()
	for _, want := range []string{"#Fields: " + fakecas.W3CFields, "GET /OWA/ - ", " 401 2 5 ", "CAS01$@LAB.TEST", " 200 0 0 "} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func verifyMutual(t *testing.T, hdrs []string, key types.EncryptionKey) {
	t.Helper()
	if len(hdrs) != 1 || !strings.HasPrefix(hdrs[0], "Negotiate ") {
		t.Fatalf("WWW-Authenticate %q: want one Negotiate token", hdrs)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(hdrs[0], "Negotiate "))
	if err != nil {
		t.Fatal(err)
	}
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(b); err != nil || !st.Resp {
		t.Fatalf("not a NegTokenResp: %v", err)
	}
	if st.NegTokenResp.State() != spnego.NegStateAcceptCompleted {
		t.Errorf("negState %v, want accept-completed", st.NegTokenResp.State())
	}
	var k5 spnego.KRB5Token
	if err := k5.Unmarshal(st.NegTokenResp.ResponseToken); err != nil || !k5.IsAPRep() {
		t.Fatalf("responseToken is not an AP-REP: %v", err)
	}
	// RFC 4120 5.5.2: the AP-REP is encrypted in the ticket's session key.
	plain, err := crypto.DecryptEncPart(k5.APRep.EncPart, key, keyusage.AP_REP_ENCPART)
	if err != nil {
		t.Fatalf("AP-REP does not decrypt: %v", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		t.Fatal(err)
	}
	if part.CTime.IsZero() {
		t.Error("AP-REP has no ctime")
	}
}

func TestFaults(t *testing.T) {
	for _, tc := range []struct {
		name       string
		spns       []string
		providers  []fakecas.Provider
		staleKT    bool
		authz      string // "kerberos" for a real token
		wantStatus int
		wantAuth   []string
		wantLog    string
		wantKDC    krberror.Code // the client cannot get a ticket
	}{
		{name: "no credentials", spns: []string{cas02SPN}, wantStatus: 401, wantAuth: []string{"Negotiate", "NTLM"}, wantLog: " 401 2 5 "},
		{name: "Negotiate:Kerberos only", spns: []string{cas02SPN}, providers: []fakecas.Provider{fakecas.ProviderNegotiateKerberos}, wantStatus: 401, wantAuth: []string{"Negotiate"}, wantLog: " 401 2 5 "},
		{name: "NTLM only", spns: []string{cas02SPN}, providers: []fakecas.Provider{fakecas.ProviderNTLM}, authz: "kerberos", wantStatus: 401, wantAuth: []string{"NTLM"}, wantLog: " 401 2 5 "},
		{name: "NTLM token", spns: []string{cas02SPN}, authz: "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==", wantStatus: 401, wantAuth: []string{"Negotiate", "NTLM"}, wantLog: " 401 1 2148074252 "},
		{name: "NTLM inside Negotiate", spns: []string{cas02SPN}, authz: "Negotiate TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==", wantStatus: 401, wantAuth: []string{"Negotiate", "NTLM"}, wantLog: " 401 1 2148074252 "},
		{name: "garbage token", spns: []string{cas02SPN}, authz: "Negotiate !!!", wantStatus: 401, wantAuth: []string{"Negotiate", "NTLM"}, wantLog: " 401 1 2148074248 "},
		{name: "stale keytab", spns: []string{cas02SPN}, staleKT: true, authz: "kerberos", wantStatus: 401, wantAuth: []string{"Negotiate", "NTLM"}, wantLog: " 401 1 2148074254 "},
		{name: "SPN missing", spns: nil, authz: "kerberos", wantKDC: krberror.KDC_ERR_S_PRINCIPAL_UNKNOWN},
		{name: "kerberos ok", spns: []string{cas02SPN}, authz: "kerberos", wantStatus: 200, wantLog: " 200 0 0 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLab(t, tc.spns)
			kvno := 0
			if tc.staleKT {
				kvno = 2
			}
			srv, lb := startCAS(t, fakecas.Config{Host: cas02, Certificate: &l.cert, Keytab: l.keytab(t, "CAS02$", kvno), Providers: tc.providers})
			hc := l.httpClient(t, srv)
			authz := tc.authz
			if authz == "kerberos" {
				cl := l.cas01Client(t)
				if tc.wantKDC != 0 {
					// The KDC refuses the TGS-REQ: no HTTP request is made.
					_, _, err := cl.GetServiceTicket(cas02SPN)
					if err == nil || !strings.Contains(err.Error(), tc.wantKDC.String()) {
						t.Fatalf("GetServiceTicket: %v; want %s", err, tc.wantKDC.String())
					}
					return
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL()+"/owa", nil)
				err := spnego.SetSPNEGOHeader(cl, req, cas02SPN)
				if err != nil {
					t.Fatal(err)
				}
				authz = req.Header.Get("Authorization")
			}
			resp, body := get(t, hc, srv.URL()+"/owa", authz)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			if tc.wantStatus == 401 {
				if got := resp.Header.Values("WWW-Authenticate"); strings.Join(got, "|") != strings.Join(tc.wantAuth, "|") {
					t.Errorf("WWW-Authenticate %q, want %q (no token on failure)", got, tc.wantAuth)
				}
				if !strings.Contains(body, "401 - Unauthorized: Access is denied due to invalid credentials.") {
					t.Errorf("body lacks IIS's 401 text:\n%s", body)
				}
			}
			if resp.Header.Get("Server") != "Microsoft-IIS/10.0" || resp.Header.Get("X-Powered-By") != "ASP.NET" {
				t.Errorf("headers %v: want IIS's Server and X-Powered-By", resp.Header)
			}
			if !strings.Contains(lb.String(), tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, lb.String())
			}
		})
	}
}

// TestDateFromClock: the Date header is the server's clock, offset.
func TestDateFromClock(t *testing.T) {
	l := newLab(t, []string{cas02SPN})
	srv, _ := startCAS(t, fakecas.Config{Host: cas02, Certificate: &l.cert, ClockOffset: 7 * time.Minute})
	resp, _ := get(t, l.httpClient(t, srv), srv.URL()+"/mapi/emsmdb", "")
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		t.Fatal(err)
	}
	if skew := time.Until(d); skew < 6*time.Minute || skew > 8*time.Minute {
		t.Errorf("Date %v is %v from now, want about +7m", d, skew)
	}
	resp, _ = get(t, l.httpClient(t, srv), srv.URL()+"/nothing", "")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown path: status %d, want 404", resp.StatusCode)
	}
}

func TestBodyBounded(t *testing.T) {
	l := newLab(t, []string{cas02SPN})
	srv, _ := startCAS(t, fakecas.Config{Host: cas02, Certificate: &l.cert, MaxBodyBytes: 1024})
	req, _ := http.NewRequest(http.MethodPost, srv.URL()+"/ews/exchange.asmx", bytes.NewReader(make([]byte, 4096)))
	resp, err := l.httpClient(t, srv).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}

// TestUntrustedCertificate: the certificate is the caller's choice; a
// client that does not trust its CA fails the handshake, and the server
// logs the failure.
func TestUntrustedCertificate(t *testing.T) {
	l := newLab(t, []string{cas02SPN})
	srv, lb := startCAS(t, fakecas.Config{Host: cas02, Certificate: &l.cert})
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Addr())
	}}
	defer tr.CloseIdleConnections()
	_, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL() + "/owa")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("GET with the system roots: %v; want a certificate error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(lb.String(), "TLS handshake error") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(lb.String(), "#exauth: http: TLS handshake error") {
		t.Errorf("log lacks the handshake failure:\n%s", lb.String())
	}
}
