package krbclient

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/exauth/exauth/internal/clock"
)

// udpReadSize holds any UDP datagram.
const udpReadSize = 65536

// errResponseTooBig marks a UDP attempt the KDC answered with
// KRB_ERR_RESPONSE_TOO_BIG (RFC 4120 7.2.1: retry over TCP).
var errResponseTooBig = errors.New("KDC answered KRB_ERR_RESPONSE_TOO_BIG over UDP")

// errNoReply is a TCP connection closed before any reply byte.
var errNoReply = errors.New("connection closed without a reply")

// transport sends one message to one KDC and reads one reply.
type transport struct {
	clock       clock.Clock
	stepTimeout time.Duration
	udpTimeout  time.Duration
}

// roundTrip is the outcome of one attempt.
type roundTrip struct {
	attempt    Attempt
	reply      []byte // nil unless the KDC answered
	badReply   error  // the KDC answered something that is not a framed reply
	sentAt     time.Time
	receivedAt time.Time
	dur        time.Duration
}

// try sends msg to addr over network and reads the reply. Each read and
// write has a deadline: the step's timeout, the context's deadline, or the
// moment the context is cancelled, whichever comes first.
func (t transport) try(ctx context.Context, network, addr string, msg []byte) roundTrip {
	rt := roundTrip{attempt: Attempt{Addr: addr, Transport: network}}
	timeout := t.stepTimeout
	if network == UDP && t.udpTimeout < timeout {
		timeout = t.udpTimeout
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var d net.Dialer
	conn, err := d.DialContext(actx, network, addr)
	if err != nil {
		rt.attempt = failed(ctx, rt.attempt, err)
		return rt
	}
	defer conn.Close()
	if dl, ok := actx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation does not touch deadlines by itself: make it.
	stop := context.AfterFunc(actx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	rt.sentAt = t.clock.Now()
	start := time.Now()
	var reply []byte
	if network == UDP {
		reply, err = udpExchange(conn, msg)
	} else {
		reply, err = tcpExchange(conn, msg)
	}
	rt.dur = time.Since(start)
	rt.receivedAt = t.clock.Now()
	var framing *framingError
	switch {
	case errors.As(err, &framing):
		rt.badReply = framing.err
	case err != nil:
		rt.attempt = failed(ctx, rt.attempt, err)
	default:
		rt.reply = reply
	}
	return rt
}

// framingError is a reply that arrived but cannot be a KDC reply.
type framingError struct{ err error }

func (e *framingError) Error() string { return e.err.Error() }

func udpExchange(conn net.Conn, msg []byte) ([]byte, error) {
	if _, err := conn.Write(msg); err != nil {
		return nil, err
	}
	buf := make([]byte, udpReadSize)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, &framingError{errors.New("empty UDP datagram")}
	}
	return buf[:n], nil
}

// tcpExchange frames msg as RFC 4120 7.2.2 asks (a 4-byte big-endian length
// before the message) and reads one framed reply.
func tcpExchange(conn net.Conn, msg []byte) ([]byte, error) {
	frame := make([]byte, 4+len(msg))
	binary.BigEndian.PutUint32(frame, uint32(len(msg)))
	copy(frame[4:], msg)
	if _, err := conn.Write(frame); err != nil {
		return nil, err
	}
	var hdr [4]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errNoReply
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &framingError{errors.New("connection closed inside the length prefix")}
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	switch {
	case n&0x80000000 != 0:
		// The high bit is reserved for extensions (RFC 4120 7.2.2); a KDC
		// never sets it in a reply, so this is not a Kerberos peer.
		return nil, &framingError{fmt.Errorf("reply length prefix %#08x has the reserved high bit set", n)}
	case n == 0:
		return nil, &framingError{errors.New("reply of length 0")}
	case n > MaxReplySize:
		return nil, &framingError{fmt.Errorf("reply of %d bytes exceeds the %d-byte limit", n, MaxReplySize)}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(conn, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &framingError{fmt.Errorf("connection closed after part of a %d-byte reply", n)}
		}
		return nil, err
	}
	return buf, nil
}

// failed records a network failure on an attempt: refused, timed out, or
// cut short by the caller's context.
func failed(ctx context.Context, a Attempt, err error) Attempt {
	a.Err = err
	a.Refused = errors.Is(err, syscall.ECONNREFUSED)
	var ne net.Error
	a.TimedOut = errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	if cerr := ctx.Err(); cerr != nil {
		// The caller gave up; this attempt says nothing about the KDC.
		a.Err = fmt.Errorf("%w (%v)", cerr, err)
		a.TimedOut = errors.Is(cerr, context.DeadlineExceeded)
	}
	return a
}

// isTooBig reports whether a reply is KRB_ERR_RESPONSE_TOO_BIG.
func isTooBig(b []byte) bool {
	if len(b) == 0 || b[0] != tagKRBError {
		return false
	}
	var m messages.KRBError
	return safeUnmarshal(func() error { return m.Unmarshal(b) }) == nil && m.ErrorCode == errorcode.KRB_ERR_RESPONSE_TOO_BIG
}

// sent is a KDC's reply and where and when it came from.
type sent struct {
	reply      []byte
	kdc        string
	transport  string
	attempts   []Attempt
	sentAt     time.Time
	receivedAt time.Time
	dur        time.Duration
}

// send delivers msg to one of kdcs and returns the first reply, trying
// transports the way MIT krb5 does: UDP first for messages up to
// udp_preference_limit bytes, TCP first for larger ones (so limit 1 means TCP
// first), each KDC in order on the preferred transport, then each on the
// other. A UDP answer of KRB_ERR_RESPONSE_TOO_BIG moves to TCP on the same
// KDC at once. A KDC that answers with something unframeable ends the search
// with a *ProtocolError; no answer anywhere is an *UnreachableError.
func (t transport) send(ctx context.Context, kind, realm string, kdcs []kdcAddr, udpLimit int, msg []byte) (sent, error) {
	order := []string{UDP, TCP}
	if len(msg) > udpLimit {
		order = []string{TCP, UDP}
	}
	var out sent
	tried := map[kdcAddr]bool{}
	one := func(k kdcAddr, network string) (done bool, err error) {
		key := kdcAddr{addr: k.addr, only: network}
		if tried[key] {
			return false, nil
		}
		tried[key] = true
		rt := t.try(ctx, network, k.addr, msg)
		if rt.badReply != nil {
			rt.attempt.Err = rt.badReply
			out.attempts = append(out.attempts, rt.attempt)
			return true, &ProtocolError{Exchange: kind, KDC: k.addr, Transport: network, Err: rt.badReply}
		}
		if rt.reply != nil && network == UDP && isTooBig(rt.reply) {
			rt.attempt.Err = errResponseTooBig
			out.attempts = append(out.attempts, rt.attempt)
			return false, nil
		}
		out.attempts = append(out.attempts, rt.attempt)
		if rt.reply == nil {
			return false, nil
		}
		out.reply, out.kdc, out.transport = rt.reply, k.addr, network
		out.sentAt, out.receivedAt, out.dur = rt.sentAt, rt.receivedAt, rt.dur
		return true, nil
	}
	for _, network := range order {
		for _, k := range kdcs {
			if k.only != "" && k.only != network {
				continue
			}
			if err := ctx.Err(); err != nil {
				return out, &UnreachableError{Realm: realm, Attempts: out.attempts, Err: err}
			}
			done, err := one(k, network)
			if done {
				return out, err
			}
			if n := len(out.attempts); n > 0 && errors.Is(out.attempts[n-1].Err, errResponseTooBig) && k.only != UDP {
				if done, err := one(k, TCP); done {
					return out, err
				}
			}
		}
	}
	return out, &UnreachableError{Realm: realm, Attempts: out.attempts, Err: ctx.Err()}
}

// Reachability checks each KDC on 88/TCP and 88/UDP separately, so that a
// report can say "TCP refused, UDP no answer". TCP: a connect (refused vs
// timed out). UDP: a minimal AS-REQ for a principal that does not exist, and
// any Kerberos reply counts as an answer (ICMP port unreachable is Refused,
// silence is TimedOut). The KDCs are probed concurrently, each bounded by
// timeout (5s when zero) and ctx; the result lists every KDC's TCP attempt
// then its UDP attempt, in the order given. realm is only the realm named in
// the probe request.
func Reachability(ctx context.Context, realm string, kdcs []string, timeout time.Duration) []Attempt {
	if timeout <= 0 {
		timeout = DefaultStepTimeout
	}
	if realm == "" {
		realm = "EXAUTH.INVALID"
	}
	probe := reachabilityProbe(realm)
	t := transport{clock: clock.System{}, stepTimeout: timeout, udpTimeout: timeout}
	out := make([]Attempt, 2*len(kdcs))
	var wg sync.WaitGroup
	for i, s := range kdcs {
		k, err := parseKDC(s)
		if err != nil {
			out[2*i] = Attempt{Addr: s, Transport: TCP, Err: err}
			out[2*i+1] = Attempt{Addr: s, Transport: UDP, Err: err}
			continue
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			out[2*i] = tcpConnect(ctx, k.addr, timeout)
		}()
		go func() {
			defer wg.Done()
			if probe == nil {
				out[2*i+1] = Attempt{Addr: k.addr, Transport: UDP, Err: errors.New("cannot build the UDP probe")}
				return
			}
			rt := t.try(ctx, UDP, k.addr, probe)
			a := rt.attempt
			switch {
			case rt.badReply != nil:
				a.Err = rt.badReply
			case rt.reply != nil && !looksLikeKerberos(rt.reply):
				a.Err = fmt.Errorf("answered with %d bytes that are not a Kerberos message", len(rt.reply))
			}
			out[2*i+1] = a
		}()
	}
	wg.Wait()
	return out
}

func tcpConnect(ctx context.Context, addr string, timeout time.Duration) Attempt {
	a := Attempt{Addr: addr, Transport: TCP}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(cctx, "tcp", addr)
	if err != nil {
		return failed(ctx, a, err)
	}
	conn.Close()
	return a
}

// reachabilityProbe is an AS-REQ for a principal no KDC has: every KDC
// answers it with a KRB-ERROR, which is all Reachability needs.
func reachabilityProbe(realm string) []byte {
	c := config.New()
	c.LibDefaults.NoAddresses = true
	req, err := messages.NewASReqForTGT(realm, c, types.NewPrincipalName(1, "exauth-reachability-probe"))
	if err != nil {
		return nil
	}
	b, err := req.Marshal()
	if err != nil {
		return nil
	}
	return b
}

// Application tags (first byte) of the messages a KDC sends: RFC 4120 5.4.2
// and 5.9.1, [APPLICATION n] constructed = 0x60|n.
const (
	tagASRep    = 0x6b // [APPLICATION 11]
	tagTGSRep   = 0x6d // [APPLICATION 13]
	tagKRBError = 0x7e // [APPLICATION 30]
)

func looksLikeKerberos(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	switch b[0] {
	case tagASRep, tagTGSRep, tagKRBError:
		return true
	}
	return false
}
