package fakeserver

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exauth/exauth/internal/smtpreply"
)

// session is one SMTP connection: a read loop over commands and one handler
// per verb, as go-smtp's conn.go is laid out.
type session struct {
	srv  *Server
	raw  net.Conn // the TCP connection; never changes, so Close may use it from any goroutine
	conn net.Conn // raw, or the TLS connection over it
	id   string
	seq  int
	r    *smtpreply.Reader
	br   *bufio.Reader
	w    *bufio.Writer

	tls       bool
	anonTLS   bool                // the TLS came from X-ANONYMOUSTLS
	tlsState  tls.ConnectionState // valid when tls
	helo      string
	esmtp     bool
	principal string
	from      *string
	rcpts     []string
	bad       int
	stopping  atomic.Bool
	quit      bool
	bdat      bytes.Buffer // BDAT chunks so far, kept only for OnMessage
	bdatSize  int64

	// Reused for each reply line and protocol-log line.
	lineBuf, logBuf []byte
	endpoints       string // "local,remote," for the protocol log, once
}

func newSession(s *Server, c net.Conn, n uint64) *session {
	sess := &session{srv: s, raw: c, conn: c, id: fmt.Sprintf("08DE%012X", n)}
	sess.setConn(c)
	return sess
}

func (s *session) setConn(c net.Conn) {
	s.conn = c
	s.br = bufio.NewReaderSize(c, 1024)
	s.r = smtpreply.NewReader(s.br, smtpreply.Limits{MaxLineBytes: s.srv.limits.MaxLineBytes})
	if s.w == nil {
		s.w = bufio.NewWriterSize(c, 1024)
	} else {
		s.w.Reset(c)
	}
}

// log writes an Exchange SMTP receive protocol-log line:
// date-time,connector-id,session-id,sequence-number,local-endpoint,remote-endpoint,event,data,context
func (s *session) log(event, data, context string) {
	logLine(s, event, data, context)
}

// logLine builds the line with appends into the session's scratch buffer,
// without fmt or a time layout, the endpoints formatted once a session:
// `exauth serve` logs about fourteen lines for a short session, so the log
// is on the path of every reply.
func logLine[T string | []byte](s *session, event string, data T, context string) {
	if s.srv.cfg.Logf == nil {
		return // formatting a line nobody reads costs a busy connector ~6% CPU
	}
	if s.endpoints == "" {
		s.endpoints = s.raw.LocalAddr().String() + "," + s.raw.RemoteAddr().String() + ","
	}
	b := appendLogTime(s.logBuf[:0], s.srv.clock.Now().UTC())
	b = append(b, ',')
	b = append(b, s.srv.logConnector...)
	b = append(b, s.id...)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(s.seq), 10)
	b = append(b, ',')
	b = append(b, s.endpoints...)
	b = append(b, event...)
	b = append(b, ',')
	b = appendCSVField(b, data)
	b = append(b, ',')
	b = appendCSVField(b, context)
	s.logBuf = b
	s.srv.logf("%s", string(b))
	s.seq++
}

// appendLogTime appends t as the protocol log's date-time,
// "2006-01-02T15:04:05.000Z" (t in UTC), without a layout to interpret.
func appendLogTime(b []byte, t time.Time) []byte {
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends the n last decimal digits of v (v >= 0).
func appendDigits(b []byte, v, n int) []byte {
	for range n {
		b = append(b, 0)
	}
	for i := len(b) - 1; i >= len(b)-n; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

func appendCSVField[T string | []byte](b []byte, s T) []byte {
	if !needsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

func needsQuotes[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' || s[i] == '"' {
			return true
		}
	}
	return false
}

// reply writes one (possibly multi-line) reply. Replies are buffered and
// flushed when the client has nothing more pipelined, as RFC 2920 allows.
func (s *session) reply(code int, lines ...string) {
	for i, l := range lines {
		sep := byte(' ')
		if i < len(lines)-1 {
			sep = '-'
		}
		b := appendCode(s.lineBuf[:0], code)
		b = append(b, sep)
		b = append(b, l...)
		s.lineBuf = b
		s.w.Write(b)
		s.w.WriteString("\r\n")
		logLine(s, ">", b, "")
	}
	if s.br.Buffered() == 0 {
		s.flush()
	}
}

// appendCode appends a reply code as "%03d" would.
func appendCode(b []byte, code int) []byte {
	if code >= 0 && code < 100 {
		b = append(b, '0')
		if code < 10 {
			b = append(b, '0')
		}
	}
	return strconv.AppendInt(b, int64(code), 10)
}

// replyToken writes a reply that carries authentication data ("334
// <token>", "235 <blob>"); the protocol log masks it as Exchange does.
func (s *session) replyToken(code int, token string) {
	fmt.Fprintf(s.w, "%03d %s\r\n", code, token)
	if s.srv.cfg.Logf != nil {
		s.log(">", fmt.Sprintf("%03d <authentication response>", code), "")
	}
	if s.br.Buffered() == 0 {
		s.flush()
	}
}

func (s *session) replyErr(e *smtp.SMTPError) {
	msg := e.Message
	if e.EnhancedCode != (smtp.EnhancedCode{}) && e.EnhancedCode != smtp.NoEnhancedCode {
		msg = fmt.Sprintf("%d.%d.%d %s", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2], msg)
	}
	s.reply(e.Code, msg)
}

func (s *session) flush() {
	s.conn.SetWriteDeadline(time.Now().Add(s.srv.limits.CommandTimeout))
	s.w.Flush()
}

// refuse answers a connection over the limit the way Exchange does.
func (s *session) refuse() {
	s.log("+", "", "")
	s.reply(421, "4.3.2 The maximum number of concurrent server connections has exceeded a limit, closing transmission channel")
	s.flush()
	s.conn.Close()
}

// shutdown asks the session to end at its next read.
func (s *session) shutdown() {
	s.stopping.Store(true)
	s.raw.SetReadDeadline(time.Now())
}

func (s *session) serve() {
	defer s.conn.Close()
	defer func() {
		// A bug in a handler must cost one session, not the process.
		if r := recover(); r != nil {
			s.srv.logf("fakeserver: session %s panic: %v", s.id, r)
		}
	}()
	s.log("+", "", "")
	if b := s.srv.cfg.Banner; b != "" {
		s.reply(220, b)
	} else {
		s.reply(220, s.srv.cfg.Host+" Microsoft ESMTP MAIL Service ready at "+s.srv.clock.Now().Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	}
	for !s.quit {
		line, err := s.readLine(s.srv.limits.IdleTimeout)
		if err != nil {
			s.endOnReadError(err)
			return
		}
		s.handle(line)
		if s.bad >= s.srv.limits.MaxBadCommands {
			s.reply(421, "4.7.0 Too many errors on this connection, closing transmission channel")
			s.flush()
			s.log("-", "", "Local")
			return
		}
	}
	s.flush()
	s.log("-", "", "Local")
}

func (s *session) readLine(timeout time.Duration) (string, error) {
	if s.stopping.Load() {
		return "", errStopping
	}
	s.conn.SetReadDeadline(time.Now().Add(timeout))
	line, err := s.r.ReadLine()
	if err != nil && s.stopping.Load() {
		return "", errStopping
	}
	return line, err
}

var errStopping = errors.New("server shutting down")

func (s *session) endOnReadError(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, errStopping):
		s.reply(421, "4.3.2 Service not available, closing transmission channel")
	case errors.Is(err, smtpreply.ErrLineTooLong):
		// Exchange answers a command over its limit and closes at once.
		s.reply(500, "5.5.2 Command too long")
	case errors.As(err, &ne) && ne.Timeout():
		s.reply(421, "4.4.1 Connection timed out")
	default:
		s.log("-", "", "Remote")
		return
	}
	s.flush()
	s.log("-", "", "Local")
}

// handle dispatches one command line.
func (s *session) handle(line string) {
	verb, arg := parseCommand(line)
	if verb == "AUTH" || verb == "X-EXPS" {
		s.log("<", verb+" "+strings.SplitN(arg, " ", 2)[0], "")
	} else {
		s.log("<", line, "")
	}
	if s.verbBlocked(verb) {
		s.bad++
		s.reply(500, "5.3.3 Unrecognized command 'unknown'")
		return
	}
	switch verb {
	case "HELO", "EHLO":
		s.handleHello(verb, arg)
	case "STARTTLS", "X-ANONYMOUSTLS":
		s.handleStartTLS(verb, arg)
	case "AUTH", "X-EXPS":
		s.handleAuth(verb, arg)
	case "MAIL":
		s.handleMail(arg)
	case "RCPT":
		s.handleRcpt(arg)
	case "DATA":
		s.handleData(arg)
	case "BDAT":
		s.handleBdat(arg)
	case "RSET":
		s.resetTransaction()
		s.reply(250, "2.0.0 Resetting")
	case "NOOP":
		s.reply(250, "2.0.0 OK")
	case "QUIT":
		s.reply(221, "2.0.0 Service closing transmission channel")
		s.quit = true
	case "HELP":
		s.reply(214, "This server supports the following commands:",
			"HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH BDAT")
	case "VRFY":
		s.reply(252, "2.1.5 Cannot VRFY user")
	case "":
		s.bad++
		s.reply(500, "5.3.3 Unrecognized command")
	default:
		s.bad++
		s.reply(500, "5.3.3 Unrecognized command '"+sanitize(verb)+"'")
	}
}

// parseCommand splits "VERB arguments". Verbs are case-insensitive
// (RFC 5321 2.4); arguments keep their case.
func parseCommand(line string) (verb, arg string) {
	line = strings.TrimRight(line, " \t")
	verb, arg, _ = strings.Cut(line, " ")
	return strings.ToUpper(verb), strings.TrimLeft(arg, " ")
}

// sanitize keeps echoed client text printable and short.
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= 32 {
			break
		}
		if r >= 0x21 && r < 0x7f && r != '\'' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// verbBlocked reports whether a middlebox or the configuration has taken
// the verb away: the client's command would not reach a real server intact.
func (s *session) verbBlocked(verb string) bool {
	for _, v := range s.srv.cfg.Faults.MaskVerbs {
		if strings.EqualFold(strings.Fields(v + " x")[0], verb) {
			return true
		}
	}
	for _, v := range s.srv.cfg.Faults.DropVerbs {
		if strings.EqualFold(strings.Fields(v + " x")[0], verb) {
			return true
		}
	}
	return false
}

// capabilities is the EHLO list as the client will see it now.
func (s *session) capabilities() []string {
	switch {
	case s.anonTLS:
		return s.srv.capsAnon
	case s.tls:
		return s.srv.capsTLS
	}
	return s.srv.capsPlain
}

// buildCapabilities computes an EHLO list once per server: before TLS, or
// inside it (where Exchange drops STARTTLS and X-ANONYMOUSTLS).
func buildCapabilities(cfg Config, list []string, tlsAvailable, inTLS bool) []string {
	var out []string
	mask := 0
	for _, c := range list {
		kw := strings.ToUpper(strings.Fields(c + " x")[0])
		if kw == "STARTTLS" || kw == "X-ANONYMOUSTLS" {
			if inTLS || !tlsAvailable {
				continue
			}
		}
		if containsFold(cfg.Faults.DropVerbs, kw) {
			continue
		}
		if containsFold(cfg.Faults.MaskVerbs, kw) {
			// ESMTP inspection overwrites the line with X and a letter.
			n := max(len(c), 4)
			c = strings.Repeat("X", n-1) + string(rune('A'+mask%26))
			mask++
		}
		out = append(out, c)
	}
	return out
}

func containsFold(list []string, kw string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.Fields(v + " x")[0], kw) {
			return true
		}
	}
	return false
}

func (s *session) offers(kw string) bool {
	for _, c := range s.capabilities() {
		if strings.EqualFold(strings.Fields(c + " x")[0], kw) {
			return true
		}
	}
	return false
}

func (s *session) handleHello(verb, arg string) {
	// Fields, not a check for "": "EHLO \v" has an argument of white space
	// only (a fuzzer's find).
	name := strings.Fields(arg)
	if len(name) == 0 || len(name) > 1 && verb == "HELO" {
		s.bad++
		s.reply(501, "5.5.4 Invalid domain name")
		return
	}
	s.resetTransaction()
	s.helo = name[0]
	remote := s.raw.RemoteAddr().String()
	if h, _, err := net.SplitHostPort(remote); err == nil {
		remote = h
	}
	greeting := s.srv.cfg.Host + " Hello [" + remote + "]"
	if verb == "HELO" {
		s.esmtp = false
		s.reply(250, greeting)
		return
	}
	s.esmtp = true
	s.reply(250, append([]string{greeting}, s.capabilities()...)...)
}

func (s *session) handleStartTLS(verb, arg string) {
	switch {
	case !s.offers(verb):
		s.bad++
		s.reply(500, "5.3.3 Unrecognized command '"+verb+"'")
		return
	case arg != "":
		s.bad++
		s.reply(501, "5.5.4 Invalid arguments")
		return
	case s.helo == "":
		s.bad++
		s.reply(503, "5.5.2 Send hello first")
		return
	}
	// Discard anything pipelined after STARTTLS: it was sent in clear and
	// must not be executed inside TLS (the CVE-2011-0411 class of bugs).
	if n := s.br.Buffered(); n > 0 {
		s.br.Discard(n)
	}
	s.reply(220, "2.0.0 SMTP server ready")
	s.flush()
	s.conn.SetDeadline(time.Now().Add(s.srv.limits.CommandTimeout))
	if s.srv.cfg.Faults.FailTLSHandshake {
		// Read the ClientHello, then answer with a fatal
		// handshake_failure(40) alert record in TLS 1.2 framing: what a
		// client sees when the server's TLS stack rejects it.
		s.br.Peek(5)
		s.conn.Write([]byte{0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28})
		s.log("*", "", "TLS negotiation failed with error HandshakeFailure")
		s.quit = true
		return
	}
	conf := s.srv.tlsConf
	if verb == "X-ANONYMOUSTLS" {
		conf = s.srv.tlsConfAnon
	}
	tc := tls.Server(s.conn, conf)
	if err := tc.Handshake(); err != nil {
		s.log("*", "", "TLS negotiation failed with error "+err.Error())
		s.quit = true
		return
	}
	s.conn.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	s.log("*", "", fmt.Sprintf("Sending certificate; %s negotiated with cipher %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite)))
	s.setConn(tc)
	s.tls, s.anonTLS, s.tlsState = true, verb == "X-ANONYMOUSTLS", st
	if s.srv.cfg.OnTLS != nil {
		s.srv.cfg.OnTLS(verb, st)
	}
	// RFC 3207 4.2: forget everything learnt before TLS.
	s.helo = ""
	s.resetTransaction()
}

func (s *session) handleAuth(verb, arg string) {
	fields := strings.Fields(arg)
	switch {
	case s.helo == "" || !s.esmtp:
		s.bad++
		s.reply(503, "5.5.2 Send hello first")
		return
	case s.principal != "":
		s.bad++
		s.reply(503, "5.5.2 Auth command already specified")
		return
	case s.from != nil:
		s.bad++
		s.reply(503, "5.5.2 Authentication not permitted during a mail transaction")
		return
	case len(fields) > 0 && verb == "X-EXPS" && strings.EqualFold(fields[0], "EXCHANGEAUTH"):
		s.handleExchangeAuth(fields[1:])
		return
	case len(fields) == 0 || len(fields) > 2:
		s.bad++
		s.reply(501, "5.5.4 Invalid arguments")
		return
	}
	mech := strings.ToUpper(fields[0])
	if !s.offersMechanism(verb, mech) {
		s.replyErr(ReplyUnrecognized())
		return
	}
	auth := s.srv.cfg.Authenticator
	if auth == nil {
		auth = RefuseAll{}
	}
	server, err := auth.Start(s.authRequest(verb, mech))
	if err != nil {
		s.authFailed(verb, err)
		return
	}
	var response []byte
	if len(fields) == 2 {
		// RFC 4954 initial response; "=" is an empty one.
		if fields[1] != "=" {
			if response, err = base64.StdEncoding.DecodeString(fields[1]); err != nil {
				s.badBase64(verb)
				return
			}
		}
	}
	for {
		challenge, done, err := server.Next(response)
		if err != nil {
			s.authFailed(verb, err)
			return
		}
		if done {
			if len(challenge) > 0 {
				// Exchange sends the acceptor's final token (the AP-REP)
				// in a 334 and wants an empty line back before its 235.
				s.replyToken(334, base64.StdEncoding.EncodeToString(challenge))
				s.flush()
				line, err := s.readLine(s.srv.limits.CommandTimeout)
				if err != nil {
					s.quit = true
					return
				}
				if strings.TrimSpace(line) != "" {
					s.log("<", "<authentication response>", "")
					s.authFailed(verb, fmt.Errorf("IllegalMessage: a non-empty line after the AP-REP"))
					return
				}
			}
			if err := authorize(server); err != nil {
				s.authFailed(verb, err)
				return
			}
			s.authenticated(server)
			s.replyErr(replyAuthSuccessful())
			return
		}
		if len(challenge) == 0 && verb == "X-EXPS" && response == nil {
			// Exchange's answer to the bare verb: it only says the
			// mechanism is accepted; the client sends its token next.
			s.reply(334, mech+" supported")
		} else {
			s.replyToken(334, base64.StdEncoding.EncodeToString(challenge))
		}
		s.flush()
		line, err := s.readLine(s.srv.limits.CommandTimeout)
		if err != nil {
			s.quit = true
			return
		}
		s.log("<", "<authentication response>", "")
		if line == "*" {
			s.reply(501, "5.5.4 Authentication cancelled")
			return
		}
		if response, err = base64.StdEncoding.DecodeString(strings.TrimSpace(line)); err != nil {
			s.badBase64(verb)
			return
		}
	}
}

func (s *session) offersMechanism(verb, mech string) bool {
	for _, c := range s.capabilities() {
		f := strings.Fields(c)
		if len(f) > 0 && strings.EqualFold(f[0], verb) {
			for _, m := range f[1:] {
				if strings.EqualFold(m, mech) {
					return true
				}
			}
		}
	}
	return false
}

func (s *session) authRequest(verb, mech string) AuthRequest {
	return AuthRequest{
		Verb: verb, Mechanism: mech, TLS: s.tls, RemoteAddr: s.conn.RemoteAddr(),
		Host: s.srv.cfg.Host, ConnectorName: s.srv.cfg.ConnectorName, Logf: s.srv.logf,
		ClientName: s.helo,
	}
}

// authenticated records the client a mechanism authenticated.
func (s *session) authenticated(server any) {
	if p, ok := server.(Principal); ok {
		s.principal = p.Principal()
	} else {
		s.principal = "(authenticated)"
	}
	s.log("*", s.principal, "authenticated")
}

// authFailed answers a failed authentication as Exchange does: an
// *smtp.SMTPError as it is; anything else "454 4.7.0 Temporary
// authentication failure" — for X-EXPS after the tarpit and followed by a
// disconnect.
func (s *session) authFailed(verb string, err error) {
	r := ReplyAuthTemporary()
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		r = se
	}
	if verb == "X-EXPS" && r.Code == 454 {
		s.tarpit(r)
		s.quit = true
	}
	s.replyErr(r)
}

// tarpit delays a failure reply by Config.Tarpit, as a receive connector's
// TarpitInterval does, without outliving a shutdown.
func (s *session) tarpit(r *smtp.SMTPError) {
	d := s.srv.cfg.Tarpit
	if d <= 0 {
		return
	}
	s.log("*", "", fmt.Sprintf("Tarpit for '%s' due to '%d %d.%d.%d %s'", exchangeTimeSpan(d), r.Code, r.EnhancedCode[0], r.EnhancedCode[1], r.EnhancedCode[2], r.Message))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.srv.done:
	}
}

// exchangeTimeSpan renders a duration as .NET's TimeSpan does in
// Exchange's logs: "0.00:00:05".
func exchangeTimeSpan(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d.%02d:%02d:%02d", d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second)
}

func (s *session) resetTransaction() {
	s.from = nil
	s.rcpts = nil
	s.bdat.Reset()
	s.bdatSize = 0
}

func (s *session) handleMail(arg string) {
	if s.helo == "" {
		s.bad++
		s.reply(503, "5.5.2 Send hello first")
		return
	}
	if s.from != nil {
		s.bad++
		s.reply(503, "5.5.2 Sender already specified")
		return
	}
	addr, ok := parsePath(arg, "FROM:")
	if !ok {
		s.bad++
		s.reply(501, "5.5.4 Invalid arguments")
		return
	}
	s.from = &addr
	s.reply(250, "2.1.0 Sender OK")
}

func (s *session) handleRcpt(arg string) {
	if s.from == nil {
		s.bad++
		s.reply(503, "5.5.2 Need mail command")
		return
	}
	addr, ok := parsePath(arg, "TO:")
	if !ok || addr == "" {
		s.bad++
		s.reply(501, "5.5.4 Invalid arguments")
		return
	}
	if len(s.rcpts) >= s.srv.limits.MaxRecipients {
		s.reply(452, "4.5.3 Too many recipients")
		return
	}
	s.rcpts = append(s.rcpts, addr)
	s.reply(250, "2.1.5 Recipient OK")
}

// parsePath parses `FROM:<addr> [params]`; the null path <> is allowed.
func parsePath(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimLeft(arg[len(prefix):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	addr := rest[1:end]
	if strings.ContainsAny(addr, " <>\t") {
		return "", false
	}
	return addr, true
}

func (s *session) handleData(arg string) {
	switch {
	case arg != "":
		s.bad++
		s.reply(501, "5.5.4 Invalid arguments")
		return
	case s.from == nil:
		s.bad++
		s.reply(503, "5.5.2 Need mail command")
		return
	case len(s.rcpts) == 0:
		s.bad++
		s.reply(503, "5.5.2 Need rcpt command")
		return
	}
	s.reply(354, "Start mail input; end with <CRLF>.<CRLF>")
	s.flush()
	// The body is kept only for a callback: a connector nobody reads from
	// must not hold 36 MiB per unauthenticated client.
	keep := s.srv.cfg.OnMessage != nil
	var data []byte
	var size int64
	tooBig := false
	for {
		line, err := s.readLine(s.srv.limits.CommandTimeout)
		if err != nil {
			s.quit = true
			return
		}
		if line == "." {
			break
		}
		line = strings.TrimPrefix(line, ".") // RFC 5321 4.5.2 dot-unstuffing
		size += int64(len(line) + 2)
		if size > s.srv.limits.MaxMessageBytes {
			tooBig, data = true, nil
			continue
		}
		if keep {
			data = append(data, line...)
			data = append(data, '\r', '\n')
		}
	}
	s.deliver(data, tooBig)
}

// handleBdat implements CHUNKING (RFC 3030), which the EHLO list offers.
func (s *session) handleBdat(arg string) {
	f := strings.Fields(arg)
	if len(f) == 0 || len(f) > 2 || (len(f) == 2 && !strings.EqualFold(f[1], "LAST")) {
		s.bad++
		s.reply(501, "5.5.4 Invalid arguments")
		return
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n < 0 {
		s.bad++
		s.reply(501, "5.5.4 Invalid arguments")
		return
	}
	if s.from == nil || len(s.rcpts) == 0 {
		// The chunk must still be consumed, or it would be read as commands.
		s.discard(n)
		s.bad++
		s.reply(503, "5.5.2 Need rcpt command")
		return
	}
	if n > s.srv.limits.MaxMessageBytes {
		s.discard(n)
		s.reply(552, "5.3.4 Message size exceeds fixed maximum message size")
		s.resetTransaction()
		return
	}
	if s.bdatSize+n > s.srv.limits.MaxMessageBytes {
		s.discard(n)
		s.reply(552, "5.3.4 Message size exceeds fixed maximum message size")
		s.resetTransaction()
		return
	}
	// Copy as the bytes arrive (a chunk size is a claim, not an
	// allocation), and only when a callback will read them.
	s.conn.SetReadDeadline(time.Now().Add(s.srv.limits.CommandTimeout))
	var dst io.Writer = io.Discard
	if s.srv.cfg.OnMessage != nil {
		dst = &s.bdat
	}
	if _, err := io.CopyN(dst, s.br, n); err != nil {
		s.quit = true
		return
	}
	s.bdatSize += n
	if len(f) == 2 {
		s.deliver(bytes.Clone(s.bdat.Bytes()), false)
		return
	}
	s.reply(250, fmt.Sprintf("2.0.0 %d bytes received", n))
}

func (s *session) discard(n int64) {
	s.conn.SetReadDeadline(time.Now().Add(s.srv.limits.CommandTimeout))
	if _, err := io.CopyN(io.Discard, s.br, n); err != nil {
		s.quit = true
	}
}

func (s *session) deliver(data []byte, tooBig bool) {
	defer s.resetTransaction()
	if tooBig {
		s.reply(552, "5.3.4 Message size exceeds fixed maximum message size")
		return
	}
	if cb := s.srv.cfg.OnMessage; cb != nil {
		env := Envelope{From: *s.from, To: s.rcpts, Data: data, Principal: s.principal, RemoteAddr: s.conn.RemoteAddr().String(), TLS: s.tls}
		if err := cb(env); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				s.replyErr(se)
			} else {
				s.reply(451, "4.3.0 Message rejected: "+sanitize(err.Error()))
			}
			return
		}
	}
	s.reply(250, fmt.Sprintf("2.6.0 <%s@%s> [InternalId=%d] Queued mail for delivery", s.id, s.srv.cfg.Host, s.seq))
}

// handleExchangeAuth runs "X-EXPS EXCHANGEAUTH SHA256 <blob>": one line in,
// "235 <blob>" or a failure out. It is offered only inside X-ANONYMOUSTLS
// (offersMechanism), where the TLS session it is bound to exists.
func (s *session) handleExchangeAuth(args []string) {
	const verb, mech = "X-EXPS", "EXCHANGEAUTH"
	if !s.offersMechanism(verb, mech) {
		s.replyErr(ReplyUnrecognized())
		return
	}
	if len(args) == 0 {
		s.log("*", "", "Inbound ExchangeAuth negotiation failed because client did not specify hash algorithm")
		s.authFailed(verb, errors.New("no hash algorithm"))
		return
	}
	blob := ""
	if len(args) > 1 {
		blob = args[1]
	}
	if blob == "*" {
		s.reply(501, "5.5.4 Authentication cancelled")
		return
	}
	auth := s.srv.cfg.Authenticator
	if auth == nil {
		auth = RefuseAll{}
	}
	req := s.authRequest(verb, mech)
	req.HashAlgorithm = args[0]
	req.TLSState = &s.tlsState
	req.Certificate = s.srv.certificate
	server, err := auth.Start(req)
	if err != nil {
		s.authFailed(verb, err)
		return
	}
	answer, done, err := server.Next([]byte(blob))
	if err == nil && !done {
		err = errors.New("UnexpectedExchangeAuthBlob: the acceptor wants another leg")
	}
	if err != nil {
		s.authFailed(verb, err)
		return
	}
	if err := authorize(server); err != nil {
		s.authFailed(verb, err)
		return
	}
	s.authenticated(server)
	s.replyToken(235, string(answer))
}

// badBase64 answers a line that is not base64: for X-EXPS Exchange's
// acceptor fails with IllegalMessage (454 and a disconnect); AUTH answers
// 501 as RFC 4954 has it.
func (s *session) badBase64(verb string) {
	s.bad++
	if verb == "X-EXPS" {
		s.log("*", "", "Inbound Negotiate failed because of IllegalMessage")
		s.authFailed(verb, errors.New("IllegalMessage: not base64"))
		return
	}
	s.reply(501, "5.5.2 Cannot Decode response")
}

// authorize asks an Authorizer whether the authenticated client may submit.
func authorize(server any) error {
	if a, ok := server.(Authorizer); ok {
		return a.Authorize()
	}
	return nil
}
