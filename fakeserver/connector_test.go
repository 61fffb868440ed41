package fakeserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/exauth/exauth/internal/clock"
)

var testNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func startHub(t *testing.T, mutate func(*Config)) (*Server, *CA) {
	t.Helper()
	ca, err := NewCA("test CA", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca.Issue([]string{"hub01.lab.test"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Host: "hub01.lab.test", Certificate: &cert}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ca
}

// dialog sends each command and returns every reply line received.
func dialog(t *testing.T, addr string, cmds ...string) []string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	var lines []string
	readReply := func() {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines = append(lines, strings.TrimRight(l, "\r\n"))
			if len(l) < 4 || l[3] != '-' {
				return
			}
		}
	}
	readReply()
	for _, cmd := range cmds {
		io.WriteString(c, cmd+"\r\n")
		readReply()
	}
	return lines
}

func TestConnector_BannerUsesServerClock(t *testing.T) {
	s, _ := startHub(t, func(c *Config) {
		c.Clock = clock.Offset{Base: clock.NewFake(testNow), By: 7 * time.Minute}
	})
	got := dialog(t, s.Addr())[0]
	want := "220 hub01.lab.test Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:07:00 +0000"
	if got != want {
		t.Fatalf("banner\n got %q\nwant %q", got, want)
	}
}

func TestConnector_EHLOListBeforeAndAfterTLS(t *testing.T) {
	s, ca := startHub(t, nil)
	got := dialog(t, s.Addr(), "EHLO hub02.lab.test")
	want := []string{
		"250-hub01.lab.test Hello [127.0.0.1]", "250-SIZE 37748736", "250-PIPELINING", "250-DSN",
		"250-ENHANCEDSTATUSCODES", "250-STARTTLS", "250-X-ANONYMOUSTLS", "250-AUTH NTLM",
		"250-X-EXPS GSSAPI NTLM", "250-8BITMIME", "250-BINARYMIME", "250-CHUNKING", "250 XRDST",
	}
	if strings.Join(got[1:], "\n") != strings.Join(want, "\n") {
		t.Fatalf("EHLO\n got %q\nwant %q", got[1:], want)
	}
	// Inside TLS: no STARTTLS / X-ANONYMOUSTLS.
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{ServerName: "hub01.lab.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS advertised inside TLS")
	}
	if ok, _ := c.Extension("X-ANONYMOUSTLS"); ok {
		t.Error("X-ANONYMOUSTLS advertised inside TLS")
	}
	if ok, params := c.Extension("X-EXPS"); !ok || params != "GSSAPI NTLM" {
		t.Errorf("X-EXPS inside TLS = %v %q", ok, params)
	}
}

// TestConnector_GoSMTPClientTransaction uses go-smtp, an independent SMTP
// implementation, for EHLO, STARTTLS and a full transaction.
func TestConnector_GoSMTPClientTransaction(t *testing.T) {
	var mu sync.Mutex
	var got []Envelope
	s, ca := startHub(t, func(c *Config) {
		c.OnMessage = func(e Envelope) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, e)
			return nil
		}
	})
	// DialStartTLS sends EHLO, STARTTLS and, inside TLS, EHLO again.
	c, err := smtp.DialStartTLS(s.Addr(), &tls.Config{ServerName: "hub01.lab.test", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := "Subject: test\r\n\r\n.leading dot\r\nline two\r\n"
	if err := c.SendMail("postmaster@lab.test", []string{"a@lab.test", "b@lab.test"}, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].From != "postmaster@lab.test" || strings.Join(got[0].To, ",") != "a@lab.test,b@lab.test" || string(got[0].Data) != body || !got[0].TLS {
		t.Fatalf("delivered %+v", got)
	}
}

func TestConnector_Replies(t *testing.T) {
	s, _ := startHub(t, func(c *Config) {
		c.Faults.MaskVerbs = []string{"X-EXPS"}
		c.Faults.DropVerbs = []string{"CHUNKING"}
	})
	tests := []struct {
		cmds []string
		want string // last reply line
	}{
		{[]string{"MAIL FROM:<a@b>"}, "503 5.5.2 Send hello first"},
		{[]string{"EHLO x", "RCPT TO:<a@b>"}, "503 5.5.2 Need mail command"},
		{[]string{"EHLO x", "MAIL FROM:<a@b>", "DATA"}, "503 5.5.2 Need rcpt command"},
		{[]string{"EHLO x", "MAIL FROM:a@b"}, "501 5.5.4 Invalid arguments"},
		{[]string{"EHLO x", "MAIL FROM:<a@b>", "MAIL FROM:<a@b>"}, "503 5.5.2 Sender already specified"},
		{[]string{"EHLO x", "AUTH GSSAPI"}, "504 5.7.4 Unrecognized authentication type"},
		{[]string{"EHLO x", "AUTH NTLM"}, "504 5.7.4 Unrecognized authentication type"},
		{[]string{"EHLO x", "X-EXPS GSSAPI"}, "500 5.3.3 Unrecognized command 'unknown'"},
		{[]string{"EHLO x", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "BDAT 0 LAST"}, "250 2.6.0 <*@hub01.lab.test> [InternalId=*] Queued mail for delivery"},
		{[]string{"FOO"}, "500 5.3.3 Unrecognized command 'FOO'"},
		{[]string{"HELO"}, "501 5.5.4 Invalid domain name"},
		{[]string{"NOOP"}, "250 2.0.0 OK"},
		{[]string{"HELP"}, "214 HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH BDAT"},
		{[]string{"QUIT"}, "221 2.0.0 Service closing transmission channel"},
		{[]string{"EHLO x", "STARTTLS now"}, "501 5.5.4 Invalid arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.cmds, "|"), func(t *testing.T) {
			got := dialog(t, s.Addr(), tt.cmds...)
			if last := got[len(got)-1]; !wildcard(tt.want, last) {
				t.Fatalf("got %q, want %q", last, tt.want)
			}
		})
	}
	// The masked verb appears the way ESMTP inspection writes it.
	ehlo := strings.Join(dialog(t, s.Addr(), "EHLO x"), "\n")
	if !regexp.MustCompile(`\n250-X{17}A\n`).MatchString(ehlo) || strings.Contains(ehlo, "X-EXPS") || strings.Contains(ehlo, "CHUNKING") {
		t.Fatalf("EHLO with masked X-EXPS and dropped CHUNKING:\n%s", ehlo)
	}
}

// wildcard matches want against got, "*" matching any run of characters.
func wildcard(want, got string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(want), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(got)
}

func TestConnector_Limits(t *testing.T) {
	s, _ := startHub(t, func(c *Config) {
		c.Limits.MaxBadCommands = 3
		c.Limits.MaxLineBytes = 100
	})
	got := dialog(t, s.Addr(), "A", "B", "C", "D")
	if last := got[len(got)-1]; last != "421 4.7.0 Too many errors on this connection, closing transmission channel" {
		t.Fatalf("after 3 bad commands: %q", got)
	}
	if got := readAll(t, s.Addr(), "EHLO "+strings.Repeat("x", 200)+"\r\n"); !strings.HasSuffix(got, "\r\n500 5.5.2 Command too long\r\n") {
		t.Fatalf("long line: %q", got)
	}
}

func TestConnector_MaxConnections(t *testing.T) {
	s, _ := startHub(t, func(c *Config) { c.Limits.MaxConnections = 1 })
	// One session open: the second connection is refused as Exchange does.
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if l, _ := bufio.NewReader(c).ReadString('\n'); !strings.HasPrefix(l, "220 ") {
		t.Fatalf("first connection: %q", l)
	}
	got := dialog(t, s.Addr())
	if !strings.HasPrefix(got[0], "421 4.3.2 The maximum number of concurrent server connections") {
		t.Fatalf("second connection: %q", got)
	}
}

// readAll sends input and reads until the server closes.
func readAll(t *testing.T, addr, input string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, input)
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestConnector_IdleTimeout(t *testing.T) {
	s, _ := startHub(t, func(c *Config) { c.Limits.IdleTimeout = 50 * time.Millisecond })
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), "421 4.4.1 Connection timed out") {
		t.Fatalf("idle session got %q", b)
	}
}

func TestConnector_ShutdownTellsIdleSessions(t *testing.T) {
	s, _ := startHub(t, nil)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	r.ReadString('\n') // banner: the session is running
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	l, _ := r.ReadString('\n')
	if !strings.HasPrefix(l, "421 4.3.2 Service not available") {
		t.Fatalf("after Shutdown: %q", l)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("still listening after Shutdown")
	}
}

// scriptConn is a net.Conn that reads a fixed input and discards output,
// so the fuzzer drives a whole session without a network.
type scriptConn struct {
	r io.Reader
}

func (c *scriptConn) Read(b []byte) (int, error)  { return c.r.Read(b) }
func (c *scriptConn) Write(b []byte) (int, error) { return len(b), nil }
func (c *scriptConn) Close() error                { return nil }
func (c *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 25} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzSession feeds arbitrary client input to the command parser and the
// whole protocol engine: it must never panic (serve recovers, so the test
// calls handle directly) and never loop.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO x\r\nX-EXPS GSSAPI\r\n*\r\n",
		"EHLO x\r\nAUTH GSSAPI =\r\n",
		"EHLO x\r\nAUTH GSSAPI !!!\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 5 LAST\r\nhello",
		"BDAT 99999999999999999999\r\n", "HELO\r\n", "\r\n\r\n", "STARTTLS\r\n",
	} {
		f.Add(s)
	}
	srv := &Server{cfg: Config{Host: "hub01.lab.test", ConnectorName: "Default HUB01", Capabilities: DefaultCapabilities()},
		limits: Limits{MaxMessageBytes: 1 << 16}.withDefaults(), clock: clock.NewFake(testNow), logf: func(string, ...any) {}}
	srv.capsPlain = buildCapabilities(srv.cfg, srv.cfg.Capabilities, false, false)
	f.Fuzz(func(t *testing.T, input string) {
		sess := newSession(srv, &scriptConn{r: strings.NewReader(input)}, 1)
		for i := 0; !sess.quit && i < 1000; i++ {
			line, err := sess.readLine(time.Second)
			if err != nil {
				return
			}
			sess.handle(line)
		}
		verb, _ := parseCommand(input)
		if verb != strings.ToUpper(verb) {
			t.Fatalf("verb not upper-cased: %q", verb)
		}
	})
}

func TestConnector_BDAT(t *testing.T) {
	var got []Envelope
	var mu sync.Mutex
	s, _ := startHub(t, func(c *Config) {
		c.Limits.MaxMessageBytes = 10
		c.OnMessage = func(e Envelope) error { mu.Lock(); got = append(got, e); mu.Unlock(); return nil }
	})
	out := readAll(t, s.Addr(), "EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 4\r\nabcdBDAT 3 LAST\r\nefgRSET\r\n"+
		"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 6\r\n123456RSET\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 2 LAST\r\nxy"+
		"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 20 LAST\r\n01234567890123456789QUIT\r\n")
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || string(got[0].Data) != "abcdefg" || string(got[1].Data) != "xy" {
		t.Fatalf("delivered %+v\n%s", got, out)
	}
	if !strings.Contains(out, "552 5.3.4") {
		t.Errorf("a chunk over the limit was not refused:\n%s", out)
	}
}

// TestConnector_ProtocolLogLines: the protocol log has Exchange's fields in
// Exchange's order, a CSV field with a comma or a quote quoted, and every
// line of the session in sequence.
func TestConnector_ProtocolLogLines(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	s, _ := startHub(t, func(c *Config) {
		c.Clock = clock.NewFake(testNow)
		c.Logf = func(format string, args ...any) {
			mu.Lock()
			lines = append(lines, fmt.Sprintf(format, args...))
			mu.Unlock()
		}
	})
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	local, remote := c.RemoteAddr().String(), c.LocalAddr().String()
	c.Write([]byte("HELO a\"b\r\nQUIT\r\n"))
	io.ReadAll(c)
	c.Close()
	s.Close()
	prefix := "2026-11-23T12:00:00.000Z,HUB01\\Default HUB01,08DE000000000001,"
	want := []string{
		"0," + local + "," + remote + ",+,,",
		"1," + local + "," + remote + `,>,"220 hub01.lab.test Microsoft ESMTP MAIL Service ready at Mon, 23 Nov 2026 12:00:00 +0000",`,
		"2," + local + "," + remote + `,<,"HELO a""b",`,
		"3," + local + "," + remote + ",>,250 hub01.lab.test Hello [127.0.0.1],",
		"4," + local + "," + remote + ",<,QUIT,",
		"5," + local + "," + remote + ",>,221 2.0.0 Service closing transmission channel,",
		"6," + local + "," + remote + ",-,,Local",
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), strings.Join(lines, "\n"))
	}
	for i := range want {
		if lines[i] != prefix+want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], prefix+want[i])
		}
	}
}

func TestAppendLogTime_SameAsLayout(t *testing.T) {
	for _, tm := range []time.Time{testNow, time.Date(2026, 1, 2, 3, 4, 5, 6789012, time.UTC), time.Date(999, 12, 31, 23, 59, 59, 999999999, time.UTC)} {
		if got, want := string(appendLogTime(nil, tm)), tm.Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Errorf("%v: %s, want %s", tm, got, want)
		}
	}
}
