package fakekdc

// The fake KDC: an in-memory Active Directory domain controller's Kerberos
// service, small enough to read in one sitting, faithful enough that gokrb5
// and MIT kinit/kvno cannot tell it from a DC for the AS and TGS exchanges
// Exchange transport depends on. Its faults (duplicate SPNs, a skewed clock,
// blocked ports, restricted encryption types, stale keys) are data in
// Config, never scenario names.
//
// Layout: kdc.go holds the public API and the transport (RFC 4120 7.2),
// kdc_accounts.go the directory (accounts, SPNs, keys, keytab export),
// kdc_exchange.go one handler per exchange (AS, TGS) and the KRB-ERROR
// builder.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/exauth/exauth/internal/clock"
	"github.com/exauth/exauth/internal/enctype"
)

// Config configures a fake KDC. Everything a scenario can vary is here, as
// data.
type Config struct {
	// Realm is the Kerberos realm, e.g. "LAB.TEST". Required.
	Realm string
	// Accounts are the principals and keys held in memory. An account named
	// "krbtgt" with random keys is added when absent.
	Accounts []Account
	// Clock is the KDC's clock; nil means the system clock. A scenario sets
	// clock.Offset to skew the KDC against the probing host.
	Clock clock.Clock
	// MaxSkew is the allowed clock difference (RFC 4120 1.7); 0 means 5
	// minutes, the Active Directory default ("Maximum tolerance for computer
	// clock synchronization").
	MaxSkew time.Duration
	// Faults are the failures this KDC replays.
	Faults Faults
	// Logf receives what a DC would log (KDC events such as event 11) and
	// one line per request. nil discards. Keys and passwords are never logged.
	Logf func(format string, args ...any)
	// Addr is the host:port to listen on for both TCP and UDP; "" means
	// 127.0.0.1:0. With port 0 the KDC tries to get the same port for both
	// protocols, so that a single "kdc = host:port" line serves clients that
	// try UDP and TCP on the same address (MIT does); if that fails the two
	// ports differ and Krb5Conf lists both.
	Addr string
	// ClientETypes are the encryption types Krb5Conf tells clients to
	// request and permit; nil means aes256-cts-hmac-sha1-96 and
	// aes128-cts-hmac-sha1-96, as on a Windows Server 2008+ domain where RC4
	// is disabled. An etype-mismatch scenario keeps the default and gives the
	// service account RC4 keys only.
	ClientETypes []int32
}

// Account is one directory account: a user or computer account with a
// password, a key version, the encryption types it has keys for, and the
// service principal names it owns.
type Account struct {
	// Name is the account principal (sAMAccountName), e.g. "HUB02$" for the
	// sending hub's computer account or "HUB01$" for the receiving hub.
	Name string
	// Password derives the keys with gokrb5's string-to-key and Active
	// Directory's salt: "LAB.TESThosthub01.lab.test" for a computer account
	// (HUB01$), realm followed by the name for a user ("LAB.TESTexadmin").
	// The salt is sent in PA-ETYPE-INFO2, so clients need not guess it.
	// An empty Password gives random keys (keytab logins only), as does an
	// empty entry of PreviousPasswords for that key version.
	Password string
	// KVNO is the current key version number (msDS-KeyVersionNumber);
	// 0 means 1.
	KVNO int
	// PreviousPasswords are earlier passwords, newest first: entry i is key
	// version KVNO-1-i. The KDC never issues tickets with them, but Keytab
	// exports them, so a scenario can hand the receiving hub a keytab one
	// password change behind (a password change that never replicated, or a
	// stale keytab) and the hub fails with a key-version mismatch.
	PreviousPasswords []string
	// ETypes are the encryption types the account has keys for
	// (msDS-SupportedEncryptionTypes); nil means aes256-cts-hmac-sha1-96 and
	// aes128-cts-hmac-sha1-96. rc4-hmac (23) works when listed.
	ETypes []int32
	// ETypesUnset models an account without msDS-SupportedEncryptionTypes,
	// as Active Directory treats one: it has keys of ETypes (nil: AES256,
	// AES128 and RC4, all derived from its password) but the KDC encrypts
	// its service tickets in RC4 only, whatever the client prefers, and
	// answers KDC_ERR_ETYPE_NOSUPP to a client that does not permit RC4.
	ETypesUnset bool
	// SPNs are the service principal names the account owns, e.g.
	// "SMTPSVC/hub01.lab.test". Listing one SPN on two accounts replays a
	// duplicate SPN (see Faults.DuplicateSPN).
	SPNs []string
}

// DuplicateSPNMode is how the KDC answers a TGS-REQ for an SPN that more than
// one account owns.
type DuplicateSPNMode string

const (
	// DuplicateSPNPrincipalUnknown answers KDC_ERR_S_PRINCIPAL_UNKNOWN and
	// logs KDC event 11, as a Windows DC does: the lookup of the SPN in the
	// directory returns more than one object, which the KDC treats as not
	// found. The default.
	DuplicateSPNPrincipalUnknown DuplicateSPNMode = "principal-unknown"
	// DuplicateSPNNotUnique answers KDC_ERR_PRINCIPAL_NOT_UNIQUE (8), the
	// RFC 4120 code for the same condition.
	DuplicateSPNNotUnique DuplicateSPNMode = "not-unique"
	// DuplicateSPNWrongAccount issues the ticket encrypted with the key of
	// the other (last-listed) owner, as happens when a DC's replica still
	// maps the SPN to the account it was on before: the receiving server
	// cannot decrypt the ticket.
	DuplicateSPNWrongAccount DuplicateSPNMode = "wrong-account"
)

// Faults are the failures the KDC replays. The zero value is a healthy KDC.
type Faults struct {
	// DuplicateSPN is how to answer for an SPN with more than one owner; ""
	// means DuplicateSPNPrincipalUnknown.
	DuplicateSPN DuplicateSPNMode
	// Unreachable reserves the ports and closes them again, so TCP connects
	// are refused and UDP datagrams draw ICMP port unreachable, as with a
	// firewall rejecting 88/TCP and 88/UDP. TCPAddr and UDPAddr still return
	// the (dead) addresses.
	Unreachable bool
	// SilentUDP accepts UDP datagrams but never answers, like a firewall
	// dropping 88/UDP; TCP still answers.
	SilentUDP bool
}

// Stats counts requests. Benchmarks use it to assert, for example, that a
// probe performs one AS exchange per principal.
type Stats struct {
	ASRequests  int64 // AS-REQs decoded
	TGSRequests int64 // TGS-REQs decoded
	Errors      int64 // KRB-ERRORs sent, including PREAUTH_REQUIRED
	Dropped     int64 // requests dropped without an answer (not Kerberos, or SilentUDP)
}

// Limits of the transport. RFC 4120 7.2.2 leaves them to the implementation.
const (
	maxTCPMessage   = 1 << 20          // a larger length prefix closes the connection
	maxUDPMessage   = 65507            // largest IPv4 UDP payload
	maxUDPReply     = 1465             // Active Directory's default MaxDatagramReplySize
	maxConns        = 64               // concurrent TCP connections served
	readTimeout     = 10 * time.Second // idle time allowed between requests on a connection
	writeTimeout    = 10 * time.Second
	defaultMaxSkew  = 5 * time.Minute
	ticketLifetime  = 10 * time.Hour     // AD "Maximum lifetime for user ticket"
	renewLifetime   = 7 * 24 * time.Hour // AD "Maximum lifetime for user ticket renewal"
	samePortRetries = 20
)

// KDC is a running fake KDC. Its account data is immutable after Start;
// only the counters change, so requests are served concurrently without locks.
type KDC struct {
	realm   string
	clock   clock.Clock
	maxSkew time.Duration
	faults  Faults
	logf    func(format string, args ...any)
	dir     *accountDirectory
	etypes  []int32 // what Krb5Conf offers clients

	tcpAddr, udpAddr string
	tcp              net.Listener
	udp              net.PacketConn

	nAS, nTGS, nErrors, nDropped atomic.Int64

	mu      sync.Mutex // guards closing and conns
	closing bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
	slots   chan struct{} // bounds concurrent TCP connections
	done    chan struct{} // closed when the KDC starts shutting down
	// idle hands an accepted connection to a worker goroutine that has
	// finished its last one (tcpWorker).
	idle chan net.Conn
}

// Start validates cfg, derives every key, listens on TCP and UDP and
// serves until Close or Shutdown.
func Start(cfg Config) (*KDC, error) {
	k, err := newKDC(cfg)
	if err != nil {
		return nil, err
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	if err := k.listen(addr); err != nil {
		return nil, err
	}
	if cfg.Faults.Unreachable {
		// Keep the addresses, close the sockets: the kernel now refuses
		// TCP and answers UDP with ICMP port unreachable.
		k.tcp.Close()
		k.udp.Close()
		k.tcp, k.udp = nil, nil
		k.logf("KDC %s: unreachable (TCP %s and UDP %s closed)", k.realm, k.tcpAddr, k.udpAddr)
		return k, nil
	}
	k.wg.Add(2)
	go k.acceptLoop()
	go k.serveUDP()
	k.logf("KDC %s: listening on TCP %s and UDP %s", k.realm, k.tcpAddr, k.udpAddr)
	return k, nil
}

// newKDC builds a KDC that does not listen: what Start serves, and what
// the fuzz test feeds bytes to.
func newKDC(cfg Config) (*KDC, error) {
	if cfg.Realm == "" {
		return nil, errors.New("fakekdc: Config.Realm is empty")
	}
	if strings.ContainsAny(cfg.Realm, " \t\r\n{}=@/") {
		return nil, fmt.Errorf("fakekdc: Config.Realm %q contains characters not allowed in a realm", cfg.Realm)
	}
	if cfg.MaxSkew < 0 {
		return nil, fmt.Errorf("fakekdc: Config.MaxSkew %v is negative", cfg.MaxSkew)
	}
	switch cfg.Faults.DuplicateSPN {
	case "", DuplicateSPNPrincipalUnknown, DuplicateSPNNotUnique, DuplicateSPNWrongAccount:
	default:
		return nil, fmt.Errorf("fakekdc: unknown Faults.DuplicateSPN %q (want %q, %q or %q)",
			cfg.Faults.DuplicateSPN, DuplicateSPNPrincipalUnknown, DuplicateSPNNotUnique, DuplicateSPNWrongAccount)
	}
	if cfg.Faults.DuplicateSPN == "" {
		cfg.Faults.DuplicateSPN = DuplicateSPNPrincipalUnknown
	}
	etypes := cfg.ClientETypes
	if etypes == nil {
		etypes = defaultETypes()
	}
	for _, e := range etypes {
		if !enctype.Known(e) {
			return nil, fmt.Errorf("fakekdc: Config.ClientETypes: unsupported encryption type %d", e)
		}
	}
	if len(etypes) == 0 {
		return nil, errors.New("fakekdc: Config.ClientETypes is empty (use nil for the default)")
	}
	k := &KDC{
		realm:   cfg.Realm,
		clock:   clock.Or(cfg.Clock),
		maxSkew: cfg.MaxSkew,
		faults:  cfg.Faults,
		logf:    cfg.Logf,
		etypes:  append([]int32(nil), etypes...),
		conns:   make(map[net.Conn]struct{}),
		slots:   make(chan struct{}, maxConns),
		done:    make(chan struct{}),
		idle:    make(chan net.Conn),
	}
	if k.maxSkew == 0 {
		k.maxSkew = defaultMaxSkew
	}
	if k.logf == nil {
		k.logf = func(string, ...any) {}
	}
	dir, err := newDirectory(cfg.Realm, cfg.Accounts)
	if err != nil {
		return nil, err
	}
	k.dir = dir
	return k, nil
}

// listenTCP listens without TCP keep-alive on the connections it accepts:
// readTimeout already closes a connection whose client went away, and
// keep-alive cost four setsockopt calls per connection, one per request
// for most clients.
func listenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}

// listen opens the TCP listener and the UDP socket, preferring one port for
// both when addr asks for any port.
func (k *KDC) listen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("fakekdc: Config.Addr %q: %v", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = samePortRetries
	}
	var lastErr error
	for range tries {
		ln, err := listenTCP(addr)
		if err != nil {
			return fmt.Errorf("fakekdc: KDC listen TCP %s: %w", addr, err)
		}
		tcpPort := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, tcpPort))
		if err == nil {
			k.tcp, k.udp = ln, pc
			k.tcpAddr, k.udpAddr = ln.Addr().String(), pc.LocalAddr().String()
			return nil
		}
		ln.Close()
		lastErr = err
	}
	if port != "0" {
		return fmt.Errorf("fakekdc: KDC listen UDP %s: %w", addr, lastErr)
	}
	// Could not get the same port for both: let each protocol pick its own.
	ln, err := listenTCP(addr)
	if err != nil {
		return fmt.Errorf("fakekdc: KDC listen TCP %s: %w", addr, err)
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("fakekdc: KDC listen UDP %s: %w", addr, err)
	}
	k.tcp, k.udp = ln, pc
	k.tcpAddr, k.udpAddr = ln.Addr().String(), pc.LocalAddr().String()
	return nil
}

// TCPAddr is the host:port of the KDC's TCP listener (dead with
// Faults.Unreachable).
func (k *KDC) TCPAddr() string { return k.tcpAddr }

// UDPAddr is the host:port of the KDC's UDP socket (dead with
// Faults.Unreachable).
func (k *KDC) UDPAddr() string { return k.udpAddr }

// Realm is the KDC's realm.
func (k *KDC) Realm() string { return k.realm }

// Stats returns the request counters.
func (k *KDC) Stats() Stats {
	return Stats{
		ASRequests:  k.nAS.Load(),
		TGSRequests: k.nTGS.Load(),
		Errors:      k.nErrors.Load(),
		Dropped:     k.nDropped.Load(),
	}
}

// Keytab returns the keys of an account as a keytab: entries under the
// account name and under each SPN it owns, one per encryption type, all with
// the same key (in Active Directory an SPN is only an alias of its account).
// accountOrPrincipal is an account name ("HUB01$"), or an SPN owned by
// exactly one account ("SMTPSVC/hub01.lab.test"), optionally with
// "@REALM". kvno 0 means the current key version; an older kvno exports a
// key from Account.PreviousPasswords, for a stale-keytab scenario.
func (k *KDC) Keytab(accountOrPrincipal string, kvno int) (*keytab.Keytab, error) {
	return k.dir.keytab(accountOrPrincipal, kvno, k.clock.Now())
}

// defaultETypes is what AD accounts and the generated krb5.conf use unless
// told otherwise (a function, so no caller can change the default).
func defaultETypes() []int32 {
	return []int32{etypeID.AES256_CTS_HMAC_SHA1_96, etypeID.AES128_CTS_HMAC_SHA1_96}
}

// Krb5Conf returns a krb5.conf that both gokrb5 (config.NewFromString) and
// MIT krb5 (KRB5_CONFIG) accept for this KDC.
//
// Choices, and why:
//   - udp_preference_limit = 1 makes both libraries use TCP first for every
//     request. MIT otherwise tries UDP first for small messages; with TCP
//     first, a SilentUDP fault costs nothing and only Unreachable shows as
//     "cannot contact any KDC".
//   - The kdc line carries an explicit port. When TCP and UDP got the same
//     port (the usual case) one line serves both protocols; otherwise there
//     are two lines, TCP port first, and a client that tries the wrong
//     protocol on a port is refused and moves on (gokrb5 shuffles the kdc
//     lines anyway). MIT's per-protocol "tcp/host:port" form would be
//     cleaner, but gokrb5 takes "tcp/host" for a host name.
//   - DNS lookups, reverse DNS and hostname canonicalisation are off, so the
//     SPN the client asks for is exactly SMTPSVC/<name given>.
//   - noaddresses = true: tickets carry no client addresses, as with AD.
//   - The enctype lists come from Config.ClientETypes; allow_rc4 is set
//     when RC4 is listed, because MIT krb5 1.21 and later refuse RC4 session
//     keys without it.
func (k *KDC) Krb5Conf() []byte {
	names := make([]string, 0, len(k.etypes))
	rc4 := false
	for _, e := range k.etypes {
		names = append(names, enctype.Name(e))
		rc4 = rc4 || e == etypeID.RC4_HMAC
	}
	enctypes := strings.Join(names, " ")
	var b strings.Builder
	fmt.Fprintf(&b, "[libdefaults]\n")
	fmt.Fprintf(&b, " default_realm = %s\n", k.realm)
	fmt.Fprintf(&b, " dns_lookup_kdc = false\n dns_lookup_realm = false\n")
	fmt.Fprintf(&b, " rdns = false\n dns_canonicalize_hostname = false\n")
	fmt.Fprintf(&b, " udp_preference_limit = 1\n noaddresses = true\n forwardable = true\n")
	fmt.Fprintf(&b, " ticket_lifetime = 10h\n")
	fmt.Fprintf(&b, " clockskew = %d\n", int(k.maxSkew/time.Second))
	fmt.Fprintf(&b, " default_tkt_enctypes = %s\n default_tgs_enctypes = %s\n permitted_enctypes = %s\n", enctypes, enctypes, enctypes)
	if rc4 {
		fmt.Fprintf(&b, " allow_rc4 = true\n")
	}
	fmt.Fprintf(&b, "\n[realms]\n %s = {\n", k.realm)
	fmt.Fprintf(&b, "  kdc = %s\n", k.tcpAddr)
	if k.udpAddr != k.tcpAddr {
		fmt.Fprintf(&b, "  kdc = %s\n", k.udpAddr)
	}
	fmt.Fprintf(&b, " }\n\n[domain_realm]\n")
	domain := strings.ToLower(k.realm)
	fmt.Fprintf(&b, " .%s = %s\n %s = %s\n", domain, k.realm, domain, k.realm)
	return []byte(b.String())
}

// Close stops the KDC at once: listeners and connections are closed and
// every goroutine has ended when Close returns.
func (k *KDC) Close() error {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := k.Shutdown(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets requests being answered finish, closes idle
// connections, and waits for every goroutine until ctx ends; then it closes
// what is left and still waits for the goroutines, so none outlives it.
func (k *KDC) Shutdown(ctx context.Context) error {
	k.mu.Lock()
	if k.closing {
		k.mu.Unlock()
		k.wg.Wait()
		return nil
	}
	k.closing = true
	close(k.done)
	var err error
	if k.tcp != nil {
		err = k.tcp.Close()
	}
	if k.udp != nil {
		if e := k.udp.Close(); err == nil {
			err = e
		}
	}
	// A connection waiting for its next request wakes now; one in the middle
	// of a request finishes it, then finds k.closing set.
	for c := range k.conns {
		c.SetReadDeadline(time.Now())
	}
	k.mu.Unlock()

	finished := make(chan struct{})
	go func() { k.wg.Wait(); close(finished) }()
	select {
	case <-finished:
		return err
	case <-ctx.Done():
	}
	k.mu.Lock()
	for c := range k.conns {
		c.Close()
	}
	k.mu.Unlock()
	<-finished
	return ctx.Err()
}

// acceptLoop accepts TCP connections, at most maxConns served at a time;
// further clients wait in the kernel's backlog.
func (k *KDC) acceptLoop() {
	defer k.wg.Done()
	for {
		select {
		case k.slots <- struct{}{}:
		case <-k.done:
			return
		}
		c, err := k.tcp.Accept()
		if err != nil {
			<-k.slots
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // listener closed
		}
		k.mu.Lock()
		if k.closing {
			k.mu.Unlock()
			c.Close()
			<-k.slots
			return
		}
		k.conns[c] = struct{}{}
		select {
		case k.idle <- c:
		default:
			k.wg.Add(1)
			go k.tcpWorker(c)
		}
		k.mu.Unlock()
	}
}

// tcpWorker serves connections one after the other until the KDC shuts
// down. Clients open a connection per request, and a goroutine started
// for each spent a twentieth of the KDC's CPU growing its stack through
// the ASN.1 encoder's recursion; a worker's stack is already grown. There
// are at most as many workers as connections served at once (maxConns).
func (k *KDC) tcpWorker(c net.Conn) {
	defer k.wg.Done()
	// One read takes a request's length prefix and the request (a few
	// hundred octets) together, where reading the prefix alone took a
	// system call of its own.
	br := bufio.NewReaderSize(nil, 4096)
	for {
		br.Reset(c)
		k.serveTCP(c, br)
		select {
		case c = <-k.idle:
		case <-k.done:
			return
		}
	}
}

// serveTCP answers requests on one connection: each is a 4-byte big-endian
// length followed by the message (RFC 4120 7.2.2). Several requests may
// share a connection; an idle connection is closed after readTimeout.
func (k *KDC) serveTCP(c net.Conn, br *bufio.Reader) {
	defer func() {
		k.mu.Lock()
		delete(k.conns, c)
		k.mu.Unlock()
		c.Close()
		<-k.slots
	}()
	defer func() {
		if r := recover(); r != nil {
			k.requestPanicked("TCP "+c.RemoteAddr().String(), r)
		}
	}()
	var hdr [4]byte
	for {
		k.mu.Lock()
		if k.closing {
			k.mu.Unlock()
			return
		}
		c.SetReadDeadline(time.Now().Add(readTimeout))
		k.mu.Unlock()
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n&0x80000000 != 0 {
			// RFC 4120 7.2.2: the high bit is reserved for extensions; a KDC
			// that does not know the extension answers KRB_ERR_FIELD_TOOLONG
			// and closes the connection.
			k.nErrors.Add(1)
			k.writeTCP(c, k.transportError(errFieldTooLong, "length prefix has the reserved high bit set"))
			return
		}
		if n == 0 || n > maxTCPMessage {
			k.nDropped.Add(1)
			k.logf("KDC: TCP %s: closing connection, request length %d out of range", c.RemoteAddr(), n)
			return
		}
		req := make([]byte, n)
		if _, err := io.ReadFull(br, req); err != nil {
			return
		}
		rep := k.handle(req)
		if rep == nil {
			return
		}
		if !k.writeTCP(c, rep) {
			return
		}
	}
}

// writeTCP sends one length-prefixed reply in a single write (some clients,
// gokrb5 among them, read the 4-byte prefix with one Read call).
func (k *KDC) writeTCP(c net.Conn, rep []byte) bool {
	if rep == nil {
		return false
	}
	buf := make([]byte, 4+len(rep))
	binary.BigEndian.PutUint32(buf, uint32(len(rep)))
	copy(buf[4:], rep)
	c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.Write(buf)
	return err == nil
}

// serveUDP answers one datagram per request (RFC 4120 7.2.1). A reply larger
// than Active Directory's MaxDatagramReplySize becomes
// KRB_ERR_RESPONSE_TOO_BIG, telling the client to retry over TCP.
func (k *KDC) serveUDP() {
	defer k.wg.Done()
	buf := make([]byte, maxUDPMessage+1)
	for {
		n, from, err := k.udp.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return // socket closed
		}
		if k.faults.SilentUDP || n == 0 || n > maxUDPMessage {
			k.nDropped.Add(1)
			continue
		}
		rep := k.handleDatagram(buf[:n], from.String())
		if rep == nil {
			continue
		}
		if len(rep) > maxUDPReply {
			k.nErrors.Add(1)
			rep = k.transportError(errResponseTooBig, "response too big for UDP, retry with TCP")
		}
		k.udp.WriteTo(rep, from)
	}
}

// handleDatagram is handle with a recover, so one bad datagram cannot stop
// the UDP loop.
func (k *KDC) handleDatagram(req []byte, from string) (rep []byte) {
	defer func() {
		if r := recover(); r != nil {
			k.requestPanicked("UDP "+from, r)
		}
	}()
	return k.handle(append([]byte(nil), req...))
}

// requestPanicked is the transport's last line of defence, called from its
// recover: a panic while answering one request is logged and ends that
// request only (where is formatted only then). The handler itself has no
// recover, so the fuzz test sees any panic.
func (k *KDC) requestPanicked(where string, r any) {
	k.nDropped.Add(1)
	k.logf("KDC: %s: internal error answering request: %v", where, r)
}
