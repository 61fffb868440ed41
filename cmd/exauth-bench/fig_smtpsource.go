package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// smtpSourceArgs is Postfix's load generator as the figure runs it: 32
// sessions at once, 5000 messages of 100 bytes, one message a session
// (connect, banner, HELO, MAIL, RCPT, DATA, the body, QUIT).
var smtpSourceArgs = []string{"-s", "32", "-m", "5000", "-l", "100"}

// linesPerSession is what the fake connector's protocol log holds for one
// smtp-source session: the connect, seven commands with their replies, the
// end of DATA's 250, and the disconnect.
const linesPerSession = 14

// exauthServe is `exauth serve --scenario healthy` built from this
// checkout, its protocol log on stderr redirected to a file, as an
// administrator runs it.
type exauthServe struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	once    sync.Once
	unreg   func()
}

// startServe builds cmd/exauth into dir and starts `exauth serve`.
func startServe(dir string) (*exauthServe, error) {
	bin := filepath.Join(dir, "exauth")
	build := exec.Command("go", "build", "-o", bin, "github.com/exauth/exauth/cmd/exauth")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./cmd/exauth: %v\n%s", err, out)
	}
	s := &exauthServe{logPath: filepath.Join(dir, "serve.log")}
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	s.cmd = exec.Command(bin, "serve", "--scenario", "healthy", "--state-dir", filepath.Join(dir, "state"))
	s.cmd.Stderr = logFile
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := startInOwnProcessGroup(s.cmd); err != nil {
		return nil, err
	}
	s.unreg = onExit(s.stop)
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		s.stop()
		return nil, fmt.Errorf("exauth serve printed no ready line: %w", err)
	}
	var rd struct {
		SMTP string `json:"smtp"`
	}
	if err := json.Unmarshal([]byte(line), &rd); err != nil || rd.SMTP == "" {
		s.stop()
		return nil, fmt.Errorf("exauth serve ready line %q: %v", line, err)
	}
	s.addr = rd.SMTP
	return s, nil
}

// stop sends SIGTERM, as Ctrl-C would, and waits: serve then writes every
// buffered log line.
func (s *exauthServe) stop() {
	s.once.Do(func() {
		if s.unreg != nil {
			s.unreg()
		}
		terminateProcessGroup(s.cmd.Process.Pid)
		s.cmd.Wait()
	})
}

// runSMTPSource runs smtp-source once against addr and returns its wall
// time.
func runSMTPSource(source, addr string, args []string) (time.Duration, error) {
	cmd := exec.Command(source, append(append([]string{}, args...), addr)...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return d, fmt.Errorf("smtp-source %s: %v: %s", addr, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if stderr.Len() > 0 {
		return d, fmt.Errorf("smtp-source %s: %s", addr, bytes.TrimSpace(stderr.Bytes()))
	}
	return d, nil
}

func countLines(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte(",08DE")), nil
}

// figSMTPSource: Postfix's smtp-source against `exauth serve` (the
// protocol log on, in a file) and against Postfix's smtp-sink, in
// alternating runs of 5000 sessions.
func figSMTPSource() row {
	r := row{figure: "exauth serve under smtp-source: plain sessions/s, protocol log on", target: "≥ 1.00×"}
	const source, sink = "/usr/sbin/smtp-source", "/usr/sbin/smtp-sink"
	for _, tool := range []string{source, sink} {
		if ok, why := haveTool(tool, "postfix"); !ok {
			r.skipped = why
			return r
		}
	}
	dir, err := os.MkdirTemp("", "exauth-bench-serve-")
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer os.RemoveAll(dir)
	serve, err := startServe(dir)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	defer serve.stop()

	port, err := freePort()
	if err != nil {
		r.failed = err.Error()
		return r
	}
	sinkAddr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"-u", "nobody", sinkAddr, "256"} // the command line
	sinkCmd := exec.Command(sink, args...)
	sinkCmd.Stderr = os.Stderr
	if err := startInOwnProcessGroup(sinkCmd); err != nil {
		r.failed = "smtp-sink: " + err.Error()
		return r
	}
	var once sync.Once
	stopSink := func() { once.Do(func() { terminateProcessGroup(sinkCmd.Process.Pid); sinkCmd.Wait() }) }
	defer onExit(stopSink)()
	defer stopSink()
	if err := waitListening(sinkAddr, 5*time.Second); err != nil {
		r.failed = "smtp-sink: " + err.Error()
		return r
	}

	// Warm-up: 500 sessions each.
	warm := []string{"-s", "32", "-m", "500", "-l", "100"}
	sessions := 500
	for _, a := range []string{serve.addr, sinkAddr} {
		if _, err := runSMTPSource(source, a, warm); err != nil {
			r.failed = err.Error()
			return r
		}
	}
	perRun, _ := strconv.Atoi(smtpSourceArgs[3])
	rounds := max(3, int(opts.duration/time.Second))
	cpuOurs, cpuSink := groupCPU(serve.cmd.Process.Pid), groupCPU(sinkCmd.Process.Pid)
	var res [2]loadResult
	for range rounds {
		for i, sd := range []struct {
			addr string
			cpu  func() time.Duration
		}{{serve.addr, cpuOurs}, {sinkAddr, cpuSink}} {
			time.Sleep(250 * time.Millisecond) // the other side's TIME_WAIT and exits settle
			c0 := sd.cpu()
			d, err := runSMTPSource(source, sd.addr, smtpSourceArgs)
			if err != nil {
				r.failed = err.Error()
				return r
			}
			res[i].ops += int64(perRun)
			res[i].elapsed += d
			res[i].cpu += sd.cpu() - c0
		}
		sessions += perRun
	}
	serve.stop()
	lines, err := countLines(serve.logPath)
	if err != nil {
		r.failed = err.Error()
		return r
	}
	if lines < sessions*linesPerSession {
		r.failed = fmt.Sprintf("protocol log: %d lines for %d sessions, want %d: lines were lost", lines, sessions, sessions*linesPerSession)
		return r
	}
	ours, base := res[0], res[1]
	r.ours = fmt.Sprintf("%.0f sessions/s", ours.rate())
	r.baseline = fmt.Sprintf("%.0f sessions/s (smtp-sink)", base.rate())
	r.ratio, r.hasRatio = ours.rate()/base.rate(), true
	r.passed = r.ratio >= 1.0
	r.notes = append(r.notes,
		"ours: "+ours.String(), "baseline: "+base.String(),
		fmt.Sprintf("smtp-source %v ADDR, %d alternating runs per side; smtp-sink %v", smtpSourceArgs, rounds, args),
		fmt.Sprintf("exauth serve --scenario healthy, stderr to a file: %d protocol-log lines for %d sessions after SIGTERM (%d a session), none lost", lines, sessions, linesPerSession))
	if c0, c1 := ours.cpuPerOp(), base.cpuPerOp(); c0 > 0 && c1 > 0 {
		r.notes = append(r.notes, fmt.Sprintf("server CPU per session: %s vs smtp-sink %s (%.2f×)", us(c0), us(c1), float64(c0)/float64(c1)))
	}
	return r
}
