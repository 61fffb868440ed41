package fakecas

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/exauth/exauth/internal/gssapi"
	"github.com/exauth/exauth/internal/sspistatus"
)

// IIS logs a refused request as sc-status sc-substatus sc-win32-status.
// Sources:
//   - Substatus 1 "Access is denied due to invalid credentials", 2 "due to
//     server configuration favoring an alternate authentication method":
//     "HTTP 401.x-Unauthorized", Windows Server 2003 IIS 6.0 docs,
//     https://learn.microsoft.com/en-us/previous-versions/windows/it-pro/windows-server-2003/cc780140(v=ws.10)
//   - "401 2 5" for the anonymous first request of a Negotiate exchange
//     (IIS 7 and later): "Troubleshoot Kerberos failures in Internet
//     Explorer", https://learn.microsoft.com/en-us/troubleshoot/developer/webapps/iis/www-authentication-authorization/troubleshoot-kerberos-failures-ie
//   - "401 2 2148074254" / "401 1 0" and "the last three numbers ... the
//     status, the substatus, and the Win32 status": KB 907273
//     "Troubleshooting HTTP 401 errors in IIS",
//     https://support.microsoft.com/en-us/help/907273
//
// The win32 status of a refused Kerberos token is the SSPI status of
// AcceptSecurityContext (winerror.h). 2148074254 = 0x8009030E
// SEC_E_NO_CREDENTIALS is what IIS logs when the ticket cannot be
// decrypted with the service's keys (KB 907273's value; field reports of
// KRB_AP_ERR_MODIFIED behind "401 1 2148074254" are common but we found
// no Microsoft document mapping each Kerberos error): we use it for the
// key faults. The others are our choice of the closest SSPI status and are
// not taken from an IIS log.
// IIS logs the status as an unsigned decimal (2148074254), as
// sspistatus.Status is.
const (
	win32AccessDenied  = 5                                       // ERROR_ACCESS_DENIED: no credentials sent (401 2 5)
	secNoCredentials   = int64(sspistatus.SEC_E_NO_CREDENTIALS)  // key faults, no keytab
	secLogonDenied     = int64(sspistatus.SEC_E_LOGON_DENIED)    // integrity, replay, wrong service, NTLM
	secInvalidToken    = int64(sspistatus.SEC_E_INVALID_TOKEN)   // malformed token or header
	secTimeSkew        = int64(sspistatus.SEC_E_TIME_SKEW)       // clock skew, ticket not yet valid
	secContextExpired  = int64(sspistatus.SEC_E_CONTEXT_EXPIRED) // ticket expired
	substatusInvalid   = 1
	substatusNoCreds   = 2
	substatusNone      = 0
	page401            = "401 - Unauthorized: Access is denied due to invalid credentials."
	page401Explanation = "You do not have permission to view this directory or page using the credentials that you supplied."
)

// body401 is IIS's 401 error page (detailed errors off, as on a remote
// request).
var body401 = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>401 - Unauthorized: Access is denied due to invalid credentials.</title>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>` + page401 + `</h2>
  <h3>` + page401Explanation + `</h3>
 </fieldset></div>
</div>
</body>
</html>
`

const body404 = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"/>
<title>404 - File or directory not found.</title>
</head>
<body>
<div id="header"><h1>Server Error</h1></div>
<div id="content">
 <div class="content-container"><fieldset>
  <h2>404 - File or directory not found.</h2>
  <h3>The resource you are looking for might have been removed, had its name changed, or is temporarily unavailable.</h3>
 </fieldset></div>
</div>
</body>
</html>
`

// outcome is what one request ended with, for the log.
type outcome struct {
	status, substatus int
	win32             int64
	user              string
	reason            string // exauth's explanation, logged as a comment
}

// ServeHTTP is the IIS pipeline: headers, virtual directory, Windows
// Authentication, the page.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.clk.Now()
	h := w.Header()
	h.Set("Server", "Microsoft-IIS/10.0")
	h.Set("X-Powered-By", "ASP.NET")
	h.Set("Date", start.UTC().Format(http.TimeFormat))

	// Bound the body and drain it, so that a large upload neither blocks
	// nor grows memory; the fake's pages do not read it.
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	var tooLarge bool
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		var mbe *http.MaxBytesError
		tooLarge = errors.As(err, &mbe)
	}

	var o outcome
	switch {
	case tooLarge:
		h.Set("Connection", "close")
		o = outcome{status: http.StatusRequestEntityTooLarge, reason: "request body over the limit"}
		s.writePage(w, o.status, "413 - Request Entity Too Large")
	case !s.known(r.URL.Path):
		o = outcome{status: http.StatusNotFound, win32: 2} // ERROR_FILE_NOT_FOUND
		s.writeHTML(w, http.StatusNotFound, body404)
	default:
		o = s.authenticate(w, r)
	}

	s.logf("%s %s %s %s %s %s %s %s %s - %d %d %d %d",
		start.UTC().Format("2006-01-02 15:04:05"),
		localIP(r),
		w3c(r.Method), w3c(r.URL.Path), w3c(r.URL.RawQuery), s.port, w3c(o.user),
		hostOf(r.RemoteAddr), w3c(r.UserAgent()),
		o.status, o.substatus, o.win32, s.clk.Now().Sub(start).Milliseconds())
	if o.reason != "" {
		s.logf("#exauth: %s %s: %d.%d: %s", w3c(r.Method), w3c(r.URL.Path), o.status, o.substatus, o.reason)
	}
}

// known reports whether path is one of the virtual directories or below
// one, without regard to case.
func (s *Server) known(path string) bool {
	p := strings.ToLower(path)
	for _, vd := range VirtualDirectories() {
		vd = strings.ToLower(vd)
		if p == vd || strings.HasPrefix(p, vd+"/") {
			return true
		}
	}
	return false
}

func (s *Server) writeHTML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (s *Server) writePage(w http.ResponseWriter, status int, title string) {
	s.writeHTML(w, status, "<html><head><title>"+title+"</title></head><body><h2>"+title+"</h2></body></html>\n")
}

// unauthorized writes IIS's 401: one WWW-Authenticate per provider, bare,
// and the 401 page.
func (s *Server) unauthorized(w http.ResponseWriter) {
	for _, c := range s.challenges() {
		w.Header().Add("WWW-Authenticate", c)
	}
	s.writeHTML(w, http.StatusUnauthorized, body401)
}

// authenticate runs Windows Authentication and writes the answer.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) outcome {
	scheme, token, err := parseAuthorization(r.Header.Values("Authorization"))
	switch {
	case err != nil:
		s.unauthorized(w)
		return outcome{status: 401, substatus: substatusInvalid, win32: secInvalidToken, reason: err.Error()}
	case scheme == "":
		s.unauthorized(w)
		return outcome{status: 401, substatus: substatusNoCreds, win32: win32AccessDenied}
	case !s.offers(scheme):
		s.unauthorized(w)
		return outcome{status: 401, substatus: substatusNoCreds, win32: win32AccessDenied,
			reason: "Authorization scheme " + scheme + " is not among the configured providers " + strings.Join(s.challenges(), ", ")}
	case strings.EqualFold(scheme, "NTLM") || isNTLM(token):
		s.unauthorized(w)
		reason := "NTLM token refused: the fake implements no NTLM"
		if strings.EqualFold(scheme, "Negotiate") && s.kerberosOnly() {
			reason = "NTLM inside Negotiate refused: the provider is Negotiate:Kerberos"
		}
		return outcome{status: 401, substatus: substatusInvalid, win32: secLogonDenied, reason: reason}
	}
	if s.cfg.Keytab == nil {
		s.unauthorized(w)
		return outcome{status: 401, substatus: substatusInvalid, win32: secNoCredentials, reason: "the server has no keytab"}
	}
	srv, err := gssapi.NewServer(gssapi.ServerConfig{
		Keytab: s.cfg.Keytab, Service: s.service, Clock: s.clk, MaxSkew: s.cfg.MaxSkew,
		Mode: gssapi.ModeExchange, Replay: s.replay,
	})
	if err != nil {
		s.unauthorized(w)
		return outcome{status: 401, substatus: substatusInvalid, win32: secNoCredentials, reason: err.Error()}
	}
	answer, done, err := srv.Next(token)
	if err == nil && !done {
		err = errors.New("the acceptor needs another leg; HTTP Negotiate with Kerberos has one")
	}
	if err != nil {
		s.unauthorized(w)
		return outcome{status: 401, substatus: substatusInvalid, win32: sspiStatus(err), reason: err.Error()}
	}
	a, _ := srv.Accepted()
	if len(answer) > 0 {
		w.Header().Set("WWW-Authenticate", "Negotiate "+base64.StdEncoding.EncodeToString(answer))
	}
	s.writeHTML(w, http.StatusOK, "<html><head><title>Outlook</title></head><body>authenticated as "+
		htmlEscape(a.Principal())+"</body></html>\n")
	return outcome{status: 200, user: a.Principal(),
		reason: "accepted " + a.Principal() + " for " + a.Service + " (" + a.Framing.String() + ", mutual " + strconv.FormatBool(a.Mutual) + ")"}
}

// sspiStatus is the SSPI status AcceptSecurityContext would return.
func sspiStatus(err error) int64 {
	var ae *gssapi.AcceptError
	if !errors.As(err, &ae) {
		return secLogonDenied
	}
	switch ae.Reason {
	case gssapi.ReasonKeyVersion, gssapi.ReasonEncType, gssapi.ReasonKeyMismatch:
		return secNoCredentials
	case gssapi.ReasonSkew, gssapi.ReasonNotYetValid:
		return secTimeSkew
	case gssapi.ReasonExpired:
		return secContextExpired
	case gssapi.ReasonMalformed:
		return secInvalidToken
	}
	return secLogonDenied
}

// maxAuthorization bounds the header before decoding: base64 of the
// largest token the acceptor takes, plus the scheme.
var maxAuthorization = base64.StdEncoding.EncodedLen(gssapi.MaxTokenSize) + 64

// parseAuthorization splits the Authorization header into its scheme and
// decoded token. No header is ("", nil, nil). Several Authorization
// headers, an oversized one, a scheme without token (for Negotiate and
// NTLM) or bad base64 are errors. It never panics.
func parseAuthorization(values []string) (scheme string, token []byte, err error) {
	switch len(values) {
	case 0:
		return "", nil, nil
	case 1:
	default:
		return "", nil, errors.New("several Authorization headers")
	}
	v := values[0]
	if len(v) > maxAuthorization {
		return "", nil, errors.New("Authorization header over the size limit")
	}
	v = strings.TrimSpace(v)
	scheme, rest, _ := strings.Cut(v, " ")
	if scheme == "" {
		return "", nil, errors.New("empty Authorization header")
	}
	rest = strings.TrimSpace(rest)
	switch {
	case strings.EqualFold(scheme, "Negotiate"):
		scheme = "Negotiate"
	case strings.EqualFold(scheme, "NTLM"):
		scheme = "NTLM"
	default:
		// Basic, Bearer, ...: a scheme IIS's Windows Authentication does
		// not take; the caller refuses it as not offered.
		return scheme, nil, nil
	}
	if rest == "" {
		return scheme, nil, errors.New(scheme + " without a token")
	}
	token, err = base64.StdEncoding.DecodeString(rest)
	if err != nil {
		// Some clients omit the padding.
		token, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(rest, "="))
	}
	if err != nil {
		return scheme, nil, errors.New(scheme + " token is not base64")
	}
	if len(token) == 0 {
		return scheme, nil, errors.New(scheme + " token is empty")
	}
	return scheme, token, nil
}

// isNTLM reports whether a token is NTLMSSP: a raw NTLM message, as a
// client without Kerberos sends inside Negotiate. An SPNEGO token that
// offers only NTLM is left to the acceptor, which refuses it as having no
// Kerberos mechanism.
func isNTLM(token []byte) bool {
	return bytes.HasPrefix(token, []byte("NTLMSSP\x00"))
}

func localIP(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && a != nil {
		return hostOf(a.String())
	}
	return "-"
}

func htmlEscape(s string) string {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;")
	return r.Replace(s)
}
